"""The model card: every section with the run's figures, limits, intervals, HTML escaping, and
the push that carries it."""

import json
import os

import pytest
from markupsafe import escape

from components import model_card
from components.intervals import wilson
from components.policy import GatePolicy
from components.pusher import push_model
from components.serving import COMPLETE_MARKER
from components.verdict import Verdict
from contract import MODEL_CARD_HTML, MODEL_CARD_MD, OPERATING_POINT_FILE, TRAINER_RECORD_FILE

# As a gate without a champion records it: no change bound applied.
POLICY = GatePolicy(
    max_group_fpr=0.2,
    max_fpr_gap=0.05,
    max_fnr_gap=0.15,
    min_auc=0.75,
    min_tpr=0.2,
    min_slice_size=30,
    groups=("religion", "race", "disability"),
).without_change_bounds()


def gate_report(intervals: bool = False, message: str = "") -> dict:
    """A gate report as components/gate.py writes it: religion judged, disability too small."""
    report = {
        "blessed": False,
        "failures": [
            {
                "slice": "religion",
                "metric": "false_positive_rate gap (group - overall)",
                "value": 0.07,
                "bound": "<= 0.05",
                "message": message,
            }
        ],
        "skipped": {
            "disability": "FPR not judged: 12 non-toxic eval rows, fewer than " "min_slice_size 30"
        },  # fmt: skip
        "slice_metrics": {
            "overall": {
                "example_count": 1000.0,
                "auc": 0.871,
                "recall": 0.64,
                "fall_out": 0.05,
                "miss_rate": 0.36,
                "true_negatives": 760.0,
                "false_positives": 40.0,
                "true_positives": 128.0,
                "false_negatives": 72.0,
            },
            "religion": {
                "example_count": 150.0,
                "auc": 0.8,
                "recall": 0.6,
                "fall_out": 0.12,
                "miss_rate": 0.4,
                "true_negatives": 88.0,
                "false_positives": 12.0,
                "true_positives": 30.0,
                "false_negatives": 20.0,
            },
            "disability": {
                "example_count": 20.0,
                "fall_out": 0.0,
                "miss_rate": 0.25,
                "true_negatives": 12.0,
                "false_positives": 0.0,
                "true_positives": 6.0,
                "false_negatives": 2.0,
            },
        },  # fmt: skip
        "policy": POLICY.to_json(),
    }
    if intervals:
        report["slice_intervals"] = {
            "overall": {"fall_out": [0.041, 0.061], "miss_rate": [0.30, 0.42], "auc": [0.85, 0.89]},
            "religion": {"fall_out": [0.07, 0.19], "miss_rate": [0.27, 0.54]},
            "disability": {"miss_rate": [0.03, 0.65]},
        }
    return report


POINT = {
    "threshold": 0.3125,
    "source": "validation",
    "target_fpr": 0.05,
    "validation_fpr": 0.0498,
    "validation_tpr": 0.655,
    "validation_auc": 0.88,
    "validation_examples": 900,
    "best_epoch": 2,
    "postprocess": "none",
    "group_thresholds": None,
}
MIN_DIFF = {
    "trainer": "min_diff",
    "settings": {"min_diff_weight": 0.5, "min_diff_kernel": "gaussian", "tfco_epsilon": 0.01,
                 "target_groups": [], "target_group_min_rows": 30, "postprocess": "none",
                 "postprocess_min_rows": 30, "validation_from_train": True},
    "remediated_groups": ["religion", "race"],
    "train_examples": 7200,
    "validation_examples": 800,
    "epochs_run": 3,
}  # fmt: skip


def render(gate=None, point=POINT, trainer=MIN_DIFF, **kwargs) -> dict[str, str]:
    context = model_card.card_context(
        gate_report() if gate is None else gate, point, trainer,
        data_location=kwargs.pop("data_location", "/data/toxicity"), **kwargs,
    )  # fmt: skip
    return model_card.render(context)


def section(markdown: str, title: str) -> str:
    """The text of one `## title` section."""
    start = markdown.index(f"## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def row_of(markdown: str, name: str) -> list[str]:
    line = next(l for l in markdown.splitlines() if l.startswith(f"| {name} |"))  # noqa: E741
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_every_section_is_present_with_the_runs_figures():
    md = render()[MODEL_CARD_MD]
    data = section(md, "Training data")
    assert "`/data/toxicity`" in data
    assert row_of(data, "train")[1] == "7200" and row_of(data, "validation")[1] == "800"
    assert "hash-held-out tenth of train" in row_of(data, "validation")[2]
    assert row_of(data, "eval")[1] == "1000"
    point = section(md, "Operating point")
    assert "Decision threshold: 0.3125" in point and "Target FPR: 0.050" in point
    assert "Validation FPR: 0.050" in point and "900 validation rows" in point
    remedy = section(md, "Remediation")
    assert "MinDiff" in remedy and "`min_diff_weight`: 0.5" in remedy
    assert "`min_diff_kernel`: gaussian" in remedy and "tfco_epsilon" not in remedy
    assert "Remediated groups: religion, race" in remedy
    rates = section(md, "Error rates on the eval split, at the operating point")
    assert "Overall AUC: 0.871" in rates and "recall (TPR): 0.640" in rates
    overall, religion = row_of(rates, "overall"), row_of(rates, "religion")
    assert overall[3] == "40 of 800" and overall[5] == "72 of 200"
    assert religion[2].startswith("0.120 [") and religion[3] == "12 of 100"
    assert religion[4].startswith("0.400 [") and religion[5] == "20 of 50"
    assert religion[6] == "+0.070" and religion[7] == "judged"
    gate = section(md, "Fairness gate")
    assert "**not blessed**" in gate
    for line in POLICY.lines():
        assert line in gate
    assert "gap (group - overall) on religion = 0.0700, bound: <= 0.05" in gate


def test_without_tfma_intervals_wilson_intervals_come_from_the_counts_and_say_so():
    md = render()[MODEL_CARD_MD]
    assert "Wilson score intervals" in md and "TFMA's own intervals were not computed" in md
    lower, upper = wilson(12, 100)
    assert f"0.120 [{lower:.3f}, {upper:.3f}]" in row_of(md, "religion")[2]


@pytest.mark.parametrize("errors, rows", [(12, 100), (0, 12), (72, 200), (5, 5)])
def test_the_cards_wilson_interval_agrees_with_scipy(errors, rows):
    """The card's intervals are components.intervals.wilson, the gate's own."""
    from scipy.stats import binomtest

    expected = binomtest(errors, rows).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(errors, rows) == pytest.approx((expected.low, expected.high), abs=1e-9)
    assert not hasattr(model_card, "wilson_interval")


def test_tfma_intervals_are_shown_when_computed_and_wilson_ones_marked_beside_them():
    md = render(gate_report(intervals=True))[MODEL_CARD_MD]
    assert "TFMA's 95% confidence intervals" in md
    assert row_of(md, "religion")[2] == "0.120 [0.070, 0.190]"
    assert row_of(md, "overall")[4] == "0.360 [0.300, 0.420]"
    assert "Overall AUC: 0.871 [0.850, 0.890]" in md
    # TFMA gave disability no FPR interval (no false positives): Wilson's, marked.
    assert row_of(md, "disability")[2].endswith(model_card.MIXED_MARK)
    assert model_card.MIXED_MARK not in row_of(md, "disability")[4]


def test_a_skipped_group_is_listed_under_limits_with_the_keyword_caveat():
    md = render()[MODEL_CARD_MD]
    limits = section(md, "Known limits")
    assert "Too small to judge on eval: disability (FPR not judged: 12 non-toxic eval" in limits
    assert "keyword matching" in limits and "muslim" in limits
    assert "Too small to judge on eval: religion" not in limits
    assert row_of(md, "disability")[7].startswith("FPR not judged: 12 non-toxic")


def test_group_thresholds_and_tfco_settings_are_shown_when_used():
    point = {**POINT, "postprocess": "group_thresholds",
             "group_thresholds": {"religion": 0.41, "race": 0.35}}  # fmt: skip
    trainer = {**MIN_DIFF, "trainer": "tfco", "remediated_groups": ["religion"]}
    md = render(point=point, trainer=trainer)[MODEL_CARD_MD]
    assert row_of(md, "religion")[:2] == ["religion", "0.4100"]
    assert row_of(md, "race")[:2] == ["race", "0.3500"]
    remedy = section(md, "Remediation")
    assert "TFCO" in remedy and "`tfco_epsilon`: 0.01" in remedy
    assert "min_diff_weight" not in remedy and "`postprocess_min_rows`: 30" in remedy
    assert "per-group thresholds apply by the same keyword tags" in section(md, "Known limits")


def test_html_escapes_text_and_has_the_same_sections():
    hostile = "<script>alert('x')</script> & co"
    files = render(gate_report(message=hostile), data_location="/data/a&b<c>")
    html = files[MODEL_CARD_HTML]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "/data/a&amp;b&lt;c&gt;" in html and "&amp; co" in html
    for anchor in ("model", "data", "operating-point", "remediation", "rates", "gate", "limits"):
        assert f"<h2 id={anchor}>" in html
    assert "<td class=name>religion</td><td>150</td><td>0.120 [" in html
    # Markdown is not HTML: the same text stays as it was.
    assert hostile in files[MODEL_CARD_MD]


def test_a_card_without_gate_report_or_trainer_record_says_what_is_missing():
    md = model_card.render(model_card.card_context(None, POINT, None))[MODEL_CARD_MD]
    assert "Not available when this card was written: the gate report, trainer.json" in md
    assert "No gate report reached the pusher" in md
    assert "Decision threshold: 0.3125" in md


def test_model_card_files_reads_the_model_folder_and_the_gate_report(tmp_path):
    model, report = tmp_path / "model", tmp_path / "report"
    model.mkdir()
    report.mkdir()
    (model / OPERATING_POINT_FILE).write_text(json.dumps(POINT))
    (model / TRAINER_RECORD_FILE).write_text(json.dumps(MIN_DIFF))
    (report / "gate_report.json").write_text(json.dumps(gate_report()))
    files = model_card.model_card_files(str(model), str(report), data_location="/d", model_id=7)
    md = files[MODEL_CARD_MD]
    assert "Model artifact id: 7" in md and "Not available" not in md
    assert "Decision threshold: 0.3125" in md and row_of(md, "train")[1] == "7200"


@pytest.fixture
def model_dir(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"graph")
    return model


def test_the_push_writes_the_card_with_the_model_before_the_marker(model_dir, tmp_path):
    files = render()
    result = push_model(str(model_dir), str(tmp_path / "serving"), blessed=True, files=files)
    for name, text in files.items():
        with open(os.path.join(result.destination, name)) as f:
            assert f.read() == text
    # The marker, written last, is newer than the card.
    marker = os.path.getmtime(os.path.join(result.destination, COMPLETE_MARKER))
    assert marker >= os.path.getmtime(os.path.join(result.destination, MODEL_CARD_HTML))


def test_a_card_that_cannot_be_written_leaves_no_version_and_no_temporary(model_dir, tmp_path):
    serving = tmp_path / "serving"
    with pytest.raises(OSError):
        push_model(str(model_dir), str(serving), blessed=True,
                   files={"no/such/folder/model_card.md": "x"})  # fmt: skip
    assert os.listdir(serving) == []


def pusher_artifacts(model_dir, tmp_path, report_dir=None):
    """The AtomicPusher's artifacts: a blessed model in TFX's Format-Serving layout."""
    from tfx.types import standard_artifacts

    from components.gate import ChampionBlessing, GateReport

    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model-artifact")
    os.makedirs(model.uri)
    os.rename(model_dir, os.path.join(model.uri, "Format-Serving"))
    model.id = 7
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("current_model_id", 7)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    champion = ChampionBlessing()
    champion.uri = str(tmp_path / "champion")
    report = None
    if report_dir is not None:
        report = GateReport()
        report.uri = str(report_dir)
    return {"model": model, "model_blessing": blessing, "pushed_model": pushed,
            "champion": champion, "gate_report": report}  # fmt: skip


def test_the_pusher_writes_the_card_from_the_gate_report_and_the_model_folder(model_dir, tmp_path):
    from components.pusher import AtomicPusher

    (model_dir / OPERATING_POINT_FILE).write_text(json.dumps(POINT))
    (model_dir / TRAINER_RECORD_FILE).write_text(json.dumps(MIN_DIFF))
    report = tmp_path / "report"
    report.mkdir()
    (report / "gate_report.json").write_text(json.dumps(gate_report()))
    serving = tmp_path / "serving"
    args = pusher_artifacts(model_dir, tmp_path, report)
    # The Selector's copy (id 7) of the Trainer's model (id 3), selected as candidate min_diff.
    args["model"].set_int_custom_property("source_model_id", 3)
    args["model"].set_string_custom_property("candidate", "min_diff")
    AtomicPusher.test_call(**args, serving_dir=str(serving), data_location="/data/in")
    [version] = os.listdir(serving)
    md = (serving / version / MODEL_CARD_MD).read_text()
    assert "`/data/in`" in md and "Model artifact id: 3" in md
    assert md.startswith("# Model card: Toxicity classifier (min_diff)\n")
    assert row_of(md, "religion")[3] == "12 of 100" and "Decision threshold: 0.3125" in md
    assert (serving / version / MODEL_CARD_HTML).exists()
    # One id: the push marker and the champion name the model the card names.
    marker = json.loads((serving / version / COMPLETE_MARKER).read_text())
    assert (marker["model_id"], marker["candidate"]) == (3, "min_diff")
    champion = args["champion"]
    assert champion.get_int_custom_property("current_model_id") == 3
    assert champion.get_string_custom_property("pushed_version") == version
    assert champion.get_string_custom_property("candidate") == "min_diff"


def test_a_card_that_cannot_be_rendered_fails_the_push_with_serving_untouched(
    model_dir, tmp_path, monkeypatch
):
    from components import pusher

    def broken(*args, **kwargs):
        raise KeyError("slice_metrics")

    monkeypatch.setattr(pusher, "model_card_files", broken)
    serving = tmp_path / "serving"
    with pytest.raises(KeyError):
        pusher.AtomicPusher.test_call(
            **pusher_artifacts(model_dir, tmp_path), serving_dir=str(serving)
        )
    assert not serving.exists()


def test_the_report_links_the_pushed_models_card_copied_beside_it(tmp_path):
    from report import command
    from report.results import RunResult
    from report.values import parse_row

    def run(name: str, gate: dict) -> RunResult:
        row = {"example_count": 100.0, "fall_out": 0.1, "miss_rate": 0.3, "auc": 0.8}
        slices = {"overall": parse_row(row), "religion": parse_row({**row, "fall_out": 0.2})}
        return RunResult(name=name, slices=slices, gate=gate)

    pushed = run("min_diff", {**gate_report(), "blessed": True, "failures": []})
    refused = run("baseline", gate_report())
    version = tmp_path / "serving" / "1700000000"
    version.mkdir(parents=True)
    card = render()[MODEL_CARD_HTML]
    (version / MODEL_CARD_HTML).write_text(card)
    pushed.model_card_dir = str(version)
    folder = tmp_path / "report"
    folder.mkdir()
    # A card left by an earlier report for a model that is no longer pushed.
    (folder / command.model_card_copy("baseline")).write_text("stale")
    page = command.write_report([refused, pushed], folder).read_text()
    assert (folder / "model_card_min_diff.html").read_text() == card
    assert not (folder / "model_card_baseline.html").exists()
    assert '<a class=model-card href="model_card_min_diff.html">' in page
    assert page.count("class=model-card") == 1 and str(version) in page
    summary = json.loads((folder / command.JSON_FILE).read_text())
    assert summary["model_cards"] == {"min_diff": "model_card_min_diff.html"}


# ---------------------------------------------------------------- the verdict record


def test_the_card_shows_the_records_failures_gaps_and_where_each_group_was_judged():
    from tests.report_data import recorded_gate

    record = recorded_gate()
    verdict = Verdict.from_json(record)
    files = render(record)
    md, page = files[MODEL_CARD_MD], files[MODEL_CARD_HTML]
    texts = [f.describe() for f in verdict.failures]
    assert any("on term 'gay' (madlibs)" in t for t in texts)
    assert any("rise over the base model on religion (eval)" in t for t in texts)
    for text in texts:
        assert f"  - {text}\n" in section(md, "Fairness gate")
        assert f"<li>{escape(text)}</li>" in page
    lower, upper = verdict.figures["eval_gap"]["interval"]
    assert f"(group FPR - overall FPR): +0.070 [{lower:+.3f}, {upper:+.3f}] (religion)" in md
    where = verdict.not_judged()["sexual_orientation"]
    assert where.endswith("; judged on madlibs, functional")
    assert f"  - sexual_orientation: {where}\n" in section(md, "Fairness gate")
    assert f"Too small to judge on eval: sexual_orientation ({where})." in md
    assert escape(where) in page
    rates = section(md, "Error rates on the eval split, at the operating point")
    assert row_of(rates, "sexual_orientation")[7].startswith("judged on madlibs, functional; FPR")
    assert row_of(rates, "religion")[7] == "judged on eval, madlibs, wiki"


def test_the_suite_section_shows_each_sources_rates_terms_flips_and_flagged_texts():
    from tests.report_data import FLAGGED_TEXT, recorded_gate

    files = render(recorded_gate())
    md, page = files[MODEL_CARD_MD], files[MODEL_CARD_HTML]
    suite = section(md, "Identity challenge suite, at the served decision")
    madlibs = suite[suite.index("### madlibs") : suite.index("### functional")]
    assert row_of(madlibs, "sexual_orientation")[1:3] == ["0.710 [0.615, 0.790]", "71 of 100"]
    assert row_of(madlibs, "religion")[1:3] == ["0.050 [0.022, 0.112]", "5 of 100"]
    assert row_of(madlibs, "all rows")[2] == "76 of 290"
    terms = suite[suite.index("### Madlibs identity terms") :]
    assert "above the term bound 0.200" in terms and row_of(terms, "gay")[2] == "71 of 100"
    assert "| muslim |" not in terms  # below the bound
    assert "swapped: 0.050 [0.014, 0.165] (2 of 40 pairs)" in suite
    assert "base model `baseline`" in suite
    for line in GatePolicy().suite_lines():
        assert f"  - {line}\n" in suite and escape(line) in page
    assert f'"{FLAGGED_TEXT}" (score 0.900)' in suite
    assert "<b>gay</b>" not in page and f"&ldquo;{escape(FLAGGED_TEXT)}&rdquo;" in page


def test_without_terms_above_the_bound_the_worst_terms_are_shown_and_without_a_suite_it_says_so():
    from tests.report_data import recorded_gate

    record = recorded_gate()
    record["policy"]["max_suite_term_fpr"] = 0.9
    suite = section(
        render(record)[MODEL_CARD_MD], "Identity challenge suite, at the served decision"
    )
    assert "No term's FPR is above the term bound 0.900; the terms with the highest FPR:" in suite
    terms = suite[suite.index("### Madlibs identity terms") :]
    assert [row_of(terms, t)[0] for t in ("gay", "muslim")] == ["gay", "muslim"]
    files = render()  # a gate report of a run without the suite
    assert "This run had no identity challenge suite" in files[MODEL_CARD_MD]
    assert "This run had no identity challenge suite" in files[MODEL_CARD_HTML]


def test_a_post_processed_card_shows_fitted_groups_the_base_threshold_and_base_auc():
    from tests.report_data import recorded_gate

    record = recorded_gate()
    record["figures"]["base_auc"] = {"value": 0.861, "interval": None}
    point = {**POINT, "postprocess": "group_thresholds", "threshold": 0.35,
             "group_thresholds": {"religion": 0.41, "disability": 0.3125},
             "base_threshold": 0.3125, "fitted_groups": ["religion"]}  # fmt: skip
    files = render(record, point=point)
    op = section(files[MODEL_CARD_MD], "Operating point")
    assert "Decision threshold: 0.3500" in op and "tagged with no identity group" in op
    assert row_of(op, "religion") == ["religion", "0.4100", "fitted on validation"]
    assert row_of(op, "disability")[2].startswith("the base threshold (too few non-toxic")
    assert "Groups with a threshold of their own: religion. Every other group keeps the base " \
        "model's threshold 0.3125" in op  # fmt: skip
    assert "use the decision threshold above (0.3500)" in op
    assert "Base model's AUC on eval" in files[MODEL_CARD_MD] and ": 0.861" in files[MODEL_CARD_MD]
    assert "how it was set</th>" in files[MODEL_CARD_HTML]


def test_the_card_names_the_candidate_and_a_post_processed_one_that_moved_nothing():
    from tests.report_data import recorded_gate

    # Every threshold at the base model's: the "post-processed" model is its base model.
    point = {**POINT, "postprocess": "group_thresholds", "threshold": 0.3125,
             "group_thresholds": {"religion": 0.3125}, "base_threshold": 0.3125,
             "fitted_groups": [],
             "threshold_notes": {"religion": "12 non-toxic validation rows, fewer than "
                                 "postprocess_min_rows 30: keeps the base threshold"}}  # fmt: skip
    record = {**recorded_gate(), "operating_point": point}
    baseline = {**MIN_DIFF, "trainer": "baseline"}
    files = render(record, point=point, trainer=baseline, candidate="baseline_group_thresholds")
    md = files[MODEL_CARD_MD]
    assert md.startswith("# Model card: Toxicity classifier (baseline_group_thresholds)\n")
    assert "- Candidate: `baseline_group_thresholds` (trainer `baseline`, post-processing " \
        "group_thresholds)" in md  # fmt: skip
    op = section(md, "Operating point")
    assert row_of(op, "religion")[2] == (
        "12 non-toxic validation rows, fewer than postprocess_min_rows 30: keeps the base threshold"
    )
    note = "no group got a threshold of its own: its decisions are its base model's"
    assert f"**Note: {note}.**" in op
    assert f"<strong>Note: {escape(note)}.</strong>" in files[MODEL_CARD_HTML]
    # One religion threshold above the base: no note.
    point["group_thresholds"] = {"religion": 0.5}
    assert "**Note:" not in render(record, point=point, trainer=baseline)[MODEL_CARD_MD]
