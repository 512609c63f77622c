"""The fairness report's values: parsed metrics, the policy read back, threshold matching, the
Selector's recorded decision and the gate's verdict record as the report reads them; and the
progress lines and the `report` command's own errors."""

import io
import json
import threading
import time
import types

import numpy as np
import pytest

import local_runner
from components.policy import GatePolicy
from components.verdict import Verdict
from pipeline.eval_config import build_eval_config
from report import matching, selection
from report import runs as report_runs
from report.results import RunResult
from report.values import OVERALL, Value, parse_value
from runners import progress
from tests import report_data
from tests.report_data import bounded, gate_report, sample_runs, scored


@pytest.fixture
def runs():
    return sample_runs()


# ---------------------------------------------------------------- values and bounds


def test_parse_value_reads_plain_bounded_and_nan_values():
    assert parse_value(0.25) == Value(0.25)
    assert parse_value({"doubleValue": 0.5}) == Value(0.5)
    with_ci = parse_value(bounded(0.4, 0.3, 0.5))
    assert (with_ci.value, with_ci.lower, with_ci.upper, with_ci.has_interval) == (
        0.4,
        0.3,
        0.5,
        True,
    )
    # TFMA writes undefined bounds as the string "NaN" (e.g. FNR on a slice without positives).
    nan_bounds = parse_value(bounded(1.0, "NaN", "NaN"))
    assert nan_bounds == Value(1.0) and not nan_bounds.has_interval
    assert parse_value({"doubleValue": "NaN"}).value is None
    assert parse_value({"boundedValue": {}}).value is None
    assert parse_value({"somethingElse": 1}).value is None


def test_the_policy_is_read_from_the_record_and_the_intervals_from_the_eval_config():
    policy = GatePolicy(
        max_group_fpr=0.15, max_fpr_gap=0.03, max_fnr_gap=0.12, min_auc=0.8,
        min_tpr=0.3, max_auc_drop=0.01, max_tpr_drop=0.07, max_group_fpr_increase=0.04,
        min_slice_size=25, groups=("religion", "race"), fairness_thresholds=(0.2, 0.4),
    )  # fmt: skip
    record = json.loads(json.dumps(Verdict(blessed=True, policy=policy).to_json()))
    assert RunResult(name="tfco", slices={}, gate=record).policy == policy
    assert report_runs.computed_intervals(build_eval_config(policy, True)) is True
    # Without a gate report (a base model evaluated only for the do-no-harm check): no policy.
    plain = RunResult(name="baseline", slices={})
    assert report_runs.computed_intervals(build_eval_config(GatePolicy(), False)) is False
    assert plain.policy is None


def test_the_fairness_indicators_thresholds_are_the_ones_computed(runs):
    assert runs[0].fairness_thresholds == [0.1, 0.5, 0.9]
    # Against a champion TFMA adds each metric's change, which names no threshold.
    overall = runs[0].slices[OVERALL]
    overall["fairness_indicators_metrics/false_positive_rate@0.1_diff"] = Value(0.01)
    assert runs[0].fairness_thresholds == [0.1, 0.5, 0.9]
    assert RunResult(name="baseline", slices={}).fairness_thresholds == []


# ---------------------------------------------------------------- threshold matching


def test_matching_threshold_gives_the_target_fpr():
    negatives = np.linspace(0.05, 0.95, 10)  # 10 negatives
    scores = np.concatenate([negatives, [0.99, 0.2]])
    labels = [0] * 10 + [1, 1]
    for target in (0.0, 0.1, 0.3, 0.55, 0.9):
        threshold = matching.fpr_matching_threshold(scored(scores, labels), target)
        fpr = matching.rates_at(scored(scores, labels), threshold)[OVERALL]["fpr"]
        assert fpr == pytest.approx(np.floor(target * 10) / 10), target
    everything = matching.fpr_matching_threshold(scored(scores, labels), 1.0)
    assert matching.rates_at(scored(scores, labels), everything)[OVERALL]["fpr"] == 1.0


def test_matching_threshold_never_exceeds_the_target_with_ties():
    scores = [0.7, 0.7, 0.7, 0.2, 0.1, 0.9]
    labels = [0, 0, 0, 0, 0, 1]
    # 2 of 5 would need a split tie.
    threshold = matching.fpr_matching_threshold(scored(scores, labels), 0.4)
    fpr = matching.rates_at(scored(scores, labels), threshold)[OVERALL]["fpr"]
    assert fpr <= 0.4


def test_rates_count_scores_above_the_threshold_as_positive_per_group():
    religion = np.array([True, True, False, False, True])
    data = scored([0.6, 0.5, 0.7, 0.2, 0.9], [0, 0, 0, 0, 1], {"religion": religion})
    rates = matching.rates_at(data, 0.5)
    assert rates[OVERALL] == {"count": 5, "negatives": 4, "positives": 1, "fpr": 0.5, "fnr": 0.0}
    # 0.5 itself is not above the threshold (TFMA's rule).
    assert rates["religion"] == {"count": 3, "negatives": 2, "positives": 1, "fpr": 0.5, "fnr": 0.0}


def test_each_model_is_matched_to_the_baseline_overall_fpr(runs):
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.2).astype(float)
    group = rng.random(400) < 0.3
    base = np.clip(labels * 0.4 + rng.random(400) * 0.6, 0, 1)
    other = np.clip(base * 0.5, 0, 1)  # flags far less at 0.5
    data = {
        "baseline": scored(base, labels, {"religion": group}),
        "min_diff": scored(other, labels, {"religion": group}),
    }
    reference = matching.match_thresholds(runs, data)
    assert reference == "baseline"
    baseline, min_diff, tfco = runs
    target = matching.rates_at(data["baseline"], 0.5)[OVERALL]["fpr"]
    assert baseline.matched.threshold == 0.5 and baseline.matched.target_fpr == target
    assert min_diff.matched.threshold < 0.5
    matched_fpr = min_diff.matched.rates[OVERALL]["fpr"]
    negatives = int((labels < 0.5).sum())
    assert target - 1 / negatives < matched_fpr <= target
    assert tfco.matched is None  # not scored: left out, not invented


# ---------------------------------------------------------------- the Selector's decision


def test_the_report_shows_the_selectors_recorded_decision(runs):
    assert [r.name for r in selection.order(runs)] == ["min_diff", "baseline", "tfco"]
    text = selection.recommendation(runs)
    assert text.startswith("Selected by the pipeline's Selector: min_diff. Rule: the smallest")
    assert (
        "  baseline missed:\n    - false_positive_rate on religion = 0.3100, bound: <= 0.2" in text
    )
    table = selection.candidates_table(runs).splitlines()
    assert [line.split()[:2] for line in table[1:]] == [
        ["min_diff", "selected"], ["baseline", "not"], ["tfco", "not"]
    ]  # fmt: skip
    assert "fails" in table[2] and "passes" in table[1]


def test_the_report_never_ranks_again_against_the_recorded_decision(runs):
    """tfco has min_diff's gaps and a lower AUC: a ranking of the report's own would put
    min_diff first. The Selector recorded tfco (its rule, its data): the report says tfco."""
    for run in runs:
        run.selection = report_data.decision(winner="tfco")
    assert selection.order(runs)[0].name == "tfco"
    assert selection.recommendation(runs).startswith("Selected by the pipeline's Selector: tfco.")


def test_models_of_no_shared_decision_are_shown_unranked_and_it_says_so(runs):
    runs[1].selection = report_data.decision(names=("min_diff",), blessed=("min_diff",))
    runs[1].selection_dir = "/out/Selector/selection/12"
    runs[2].selection, runs[2].selection_dir = None, ""
    runs.append(report_data.make_run("clp", {OVERALL: 0.1}, 0.8, gate_report()))
    runs[3].selection, runs[3].selection_dir = runs[0].selection, runs[0].selection_dir
    shared = selection.recorded(runs)
    assert shared.decision is None
    assert [r.name for r in selection.order(runs)] == ["baseline", "min_diff", "tfco", "clp"]
    text = selection.recommendation(runs)
    assert text.startswith("No Selector decision judged these models together, so the report "
                           "does not rank them")  # fmt: skip
    assert "min_diff: a decision among min_diff (selected: min_diff)" in text
    assert "baseline, clp: a decision among baseline, min_diff, tfco (selected: min_diff)" in text
    assert "tfco: no Selector decision recorded" in text and "  tfco: blessed" in text
    assert "Selected by" not in text
    assert {line.split()[1] for line in selection.candidates_table(runs).splitlines()[1:]} == {"-"}


def test_when_none_passes_it_says_which_bound_each_missed(runs):
    for run in runs:
        run.selection = report_data.decision(winner=None, blessed=())
    for run in runs[1:]:
        run.gate = gate_report([("overall", "auc", 0.7, ">= 0.75")])
    text = selection.recommendation(runs)
    assert (
        text.splitlines()[0]
        == "No candidate was blessed: nothing is pushed and the champion stays."
    )
    assert (
        "  baseline missed:\n    - false_positive_rate on religion = 0.3100, bound: <= 0.2" in text
    )
    assert "\n    - false_positive_rate gap (group - overall) on religion = 0.2100" in text
    assert "  min_diff missed:\n    - auc on overall = 0.7000, bound: >= 0.75" in text
    assert "  tfco missed:\n    - auc on overall" in text


def test_a_shown_subset_of_a_decision_names_the_candidates_left_out(runs):
    shared = selection.recorded(runs[:2])
    assert shared.winner == "min_diff" and shared.note == (
        "The decision also judged tfco, not shown here."
    )


def test_worst_group_and_gap_ignore_groups_not_judged(runs):
    baseline = runs[0]
    assert "gender" not in baseline.judged_groups()  # FPR 0.40 there, but not judged
    assert baseline.worst_group() == ("religion", 0.31)
    group, gap = baseline.largest_gap()
    assert group == "religion" and gap == pytest.approx(0.21)


def test_the_judged_groups_the_gap_and_the_failures_are_read_from_the_record(runs):
    """The slices say race has 80 eval rows and the largest FPR after religion; the record says
    which groups the gate judged on eval and its gap: the report shows the record."""
    run = runs[0]
    run.gate = report_data.recorded_gate()
    verdict = Verdict.from_json(run.gate)
    assert run.judged_groups() == ["religion"]
    assert run.worst_group() == ("religion", 0.31)
    eval_gap = verdict.figures["eval_gap"]
    assert run.largest_gap() == ("religion", eval_gap["value"])  # not 0.31 - 0.10
    assert run.failure_texts() == [f.describe() for f in verdict.failures]
    assert run.not_judged()["sexual_orientation"].endswith("judged on madlibs, functional")
    lower, upper = eval_gap["interval"]
    assert (
        selection.eval_gap_text(run)
        == f"{eval_gap['value']:+.3f} [{lower:+.3f}, {upper:+.3f}] (religion)"
    )
    summary = run.summary()
    assert summary["suite_gap"]["group"] == "sexual_orientation"
    assert summary["failed_checks"] == run.failure_texts()


def test_the_selection_is_the_one_of_the_selector_that_read_the_gate_report():
    """runs._attach_selection on a stand-in reader: the Selector of the run asked for, else the
    newest that read the gate report; none when no Selector read it."""

    class Reader:
        def readers_of(self, artifact_id):
            return {11, 21} if artifact_id == 5 else set()

        def node_executions(self, pipeline, node, run_id=None):
            assert node == "Selector"
            executions = {"first": [11], "second": [21], None: [11, 21, 31]}[run_id]
            return [types.SimpleNamespace(id=i) for i in executions]

        def execution_artifacts(self, execution_id):
            uri = f"/out/Selector/selection/{execution_id}"
            return {"selection": [types.SimpleNamespace(uri=uri)]}

    def selected(report_id, run_id):
        ref = report_runs.EvaluationRef(pipeline="p", candidate="tfco", execution_id=1,
                                        evaluation_uri="/e")  # fmt: skip
        report_runs._attach_selection(Reader(), ref, report_id, run_id)
        return ref.selection_dir

    assert selected(5, "first") == "/out/Selector/selection/11"
    assert selected(5, None) == "/out/Selector/selection/21"  # 31 did not read this report
    assert selected(6, None) == ""


# ---------------------------------------------------------------- progress


def test_progress_numbers_components_and_reports_outcomes():
    out = io.StringIO()
    p = progress.Progress(3, out, heartbeat=0.05)
    p.start("ExampleGen")
    p.finish()
    p.start("Transform")
    time.sleep(0.18)
    p.finish(cached=False)
    p.start("Trainer")
    p.finish(cached=True)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["[1/3] ExampleGen running...", "[1/3] ExampleGen done in 0 s"]
    assert lines[2] == "[2/3] Transform running..."
    assert any(line.startswith("[2/3] Transform still running (") for line in lines[3:-3])
    assert lines[-3].startswith("[2/3] Transform done in ")
    assert lines[-2:] == ["[3/3] Trainer running...", "[3/3] Trainer cached in 0 s"]
    assert not any(t.name == "pipeline-progress" for t in threading.enumerate())


def test_track_wraps_the_launcher_and_restores_it(monkeypatch):
    from tfx.orchestration.portable import launcher

    def fake_launch(self):
        if self._pipeline_node.node_info.id == "Trainer":
            raise RuntimeError("boom")
        return None

    monkeypatch.setattr(launcher.Launcher, "launch", fake_launch)

    def node(name):
        return types.SimpleNamespace(
            _pipeline_node=types.SimpleNamespace(node_info=types.SimpleNamespace(id=name))
        )

    out = io.StringIO()
    with pytest.raises(RuntimeError), progress.track(2, stream=out, heartbeat=0):
        launcher.Launcher.launch(node("Transform"))
        launcher.Launcher.launch(node("Trainer"))
    assert out.getvalue().splitlines() == [
        "[1/2] Transform running...",
        "[1/2] Transform done in 0 s",
        "[2/2] Trainer running...",
        "[2/2] Trainer failed after 0 s",
    ]
    assert launcher.Launcher.launch is fake_launch


def test_report_command_without_metadata_fails_cleanly(tmp_path, capsys):
    assert local_runner.main(["report", "--output", str(tmp_path)]) == 1
    assert "no ML Metadata database" in capsys.readouterr().err
