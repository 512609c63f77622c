"""The fairness report, `report`/`compare` commands and progress lines.

Fast tests build runs from hand-made metric dicts; the e2e tests share one tiny compare run
(baseline and MinDiff), then re-evaluate MinDiff with confidence intervals and report on both.
"""

import base64
import contextlib
import html.parser
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest
from markupsafe import escape
from PIL import ImageColor

import local_runner
from contract import OPERATING_POINT_SCORE
from pipeline.config import GatePolicy
from pipeline.eval_config import build_eval_config
from report import charts, command, matching, notebook
from report import html as report_html
from report.bounds import GateBounds, bounds_from_eval_config
from report.results import RunResult
from report.values import OVERALL, Value, parse_row, parse_value
from runners import progress
from tests.runs import tiny

GROUPS = ("gender", "sexual_orientation", "religion", "race", "disability")
BOUNDS = GateBounds(
    decision_threshold=0.5,
    max_group_fpr=0.2,
    max_fpr_gap=0.05,
    min_auc=0.75,
    min_slice_size=30,
    groups=GROUPS,
    fairness_thresholds=(0.1, 0.5, 0.9),
    confidence_intervals=True,
)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def bounded(value, lower, upper) -> dict:
    return {"boundedValue": {"value": value, "lowerBound": lower, "upperBound": upper}}


def metric_rows(fpr: dict[str, float], bounded_values: bool) -> dict[str, dict]:
    """TFMA-shaped metric dicts per slice: bounded (with CIs) or plain doubleValue."""
    counts = {OVERALL: 500, "gender": 12, **{g: 80 for g in GROUPS if g != "gender"}}
    rows = {}
    for name, rate in fpr.items():

        def wrap(v, spread=0.03):
            if bounded_values:
                return bounded(v, max(0.0, v - spread), min(1.0, v + spread))
            return {"doubleValue": v}

        rows[name] = {
            "example_count": {"doubleValue": float(counts[name])},
            "fall_out": wrap(rate),
            "miss_rate": wrap(0.3),
            "auc": wrap(0.8),
            "binary_accuracy": wrap(0.9),
            **{
                f"fairness_indicators_metrics/false_positive_rate@{t}": wrap(rate)
                for t in (0.1, 0.5, 0.9)
            },
            **{
                f"fairness_indicators_metrics/false_negative_rate@{t}": wrap(0.3)
                for t in (0.1, 0.5, 0.9)
            },
        }
    return rows


def make_run(name, fpr, auc, gate, bounded_values=True) -> RunResult:
    rows = metric_rows(fpr, bounded_values)
    rows[OVERALL]["auc"] = (
        bounded(auc, auc - 0.02, auc + 0.02) if bounded_values else {"doubleValue": auc}
    )
    return RunResult(
        name=name,
        slices={s: parse_row(r) for s, r in rows.items()},
        bounds=BOUNDS,
        gate=gate,
        pipeline="fair-toxicity",
        evaluation_uri=f"/out/{name}/Evaluator/evaluation/1",
    )


def gate_report(failures=(), skipped=None) -> dict:
    return {
        "blessed": not failures,
        "failures": [
            {"slice": s, "metric": m, "value": v, "bound": b, "message": ""}
            for s, m, v, b in failures
        ],
        "skipped": skipped
        if skipped is not None
        else {"gender": "12 eval examples, fewer than 30"},
        "slice_metrics": {},
    }


BASELINE_FAILURES = [
    ("religion", "false_positive_rate", 0.31, "<= 0.2"),
    ("overall minus religion", "false_positive_rate (overall - group)", -0.21, ">= -0.05"),
]


@pytest.fixture
def runs():
    base_fpr = {OVERALL: 0.10, "gender": 0.40, "sexual_orientation": 0.25, "religion": 0.31,
                "race": 0.12, "disability": 0.09}  # fmt: skip
    fair_fpr = {OVERALL: 0.09, "gender": 0.30, "sexual_orientation": 0.12, "religion": 0.13,
                "race": 0.10, "disability": 0.08}  # fmt: skip
    return [
        make_run("baseline", base_fpr, 0.91, gate_report(BASELINE_FAILURES)),
        make_run("min_diff", fair_fpr, 0.88, gate_report(), bounded_values=False),
        make_run("tfco", fair_fpr, 0.86, gate_report()),
    ]


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


def test_bounds_are_read_back_from_the_eval_config():
    # Rates are judged at each model's own operating point: the evaluation signature's score
    # crosses OPERATING_POINT_SCORE there, and that is the threshold the EvalConfig holds.
    policy = GatePolicy(
        max_group_fpr=0.15, max_group_fpr_gap=0.03, max_group_fnr_gap=0.12, min_auc=0.8,
        min_tpr=0.3, max_auc_drop=0.01, max_tpr_drop=0.07, max_group_fpr_increase=0.04,
        groups=("religion", "race"), fairness_thresholds=(0.2, 0.4),
    )  # fmt: skip
    bounds = bounds_from_eval_config(build_eval_config(policy, True), min_slice_size=25)
    assert bounds == GateBounds(
        decision_threshold=OPERATING_POINT_SCORE,
        max_group_fpr=0.15,
        max_fpr_gap=pytest.approx(0.03),
        max_fnr_gap=pytest.approx(0.12),
        min_tpr=0.3,
        max_tpr_drop=pytest.approx(0.07),
        min_auc=0.8,
        max_auc_drop=pytest.approx(0.01),
        max_group_fpr_increase=pytest.approx(0.04),
        min_slice_size=25,
        groups=("religion", "race"),
        fairness_thresholds=(0.2, 0.4),
        confidence_intervals=True,
    )
    plain = bounds_from_eval_config(build_eval_config(GatePolicy(), False))
    assert plain.confidence_intervals is False and plain.min_slice_size is None


# ---------------------------------------------------------------- threshold matching


def scored(scores, labels, groups=None) -> matching.Scored:
    scores, labels = np.asarray(scores, float), np.asarray(labels, float)
    groups = groups or {"religion": np.zeros(len(scores), bool)}
    return matching.Scored(scores, labels, groups)


def test_matching_threshold_gives_the_target_fpr():
    negatives = np.linspace(0.05, 0.95, 10)  # 10 negatives
    scores = np.concatenate([negatives, [0.99, 0.2]])
    labels = [0] * 10 + [1, 1]
    for target in (0.0, 0.1, 0.3, 0.55, 0.9):
        threshold = matching.fpr_matching_threshold(scores, labels, target)
        fpr = matching.rates_at(scored(scores, labels), threshold)[OVERALL]["fpr"]
        assert fpr == pytest.approx(np.floor(target * 10) / 10), target
    everything = matching.fpr_matching_threshold(scores, labels, 1.0)
    assert matching.rates_at(scored(scores, labels), everything)[OVERALL]["fpr"] == 1.0


def test_matching_threshold_never_exceeds_the_target_with_ties():
    scores = [0.7, 0.7, 0.7, 0.2, 0.1, 0.9]
    labels = [0, 0, 0, 0, 0, 1]
    threshold = matching.fpr_matching_threshold(
        scores, labels, 0.4
    )  # 2 of 5 would need a split tie
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


# ---------------------------------------------------------------- ranking


def test_recommends_the_passing_model_with_the_best_auc(runs):
    assert [r.name for r in matching.rank(runs)] == ["min_diff", "tfco", "baseline"]
    text = matching.recommendation(runs)
    assert text.startswith("Recommended: min_diff") and "0.880" in text
    table = matching.ranked_table(runs).splitlines()
    assert [line.split()[1] for line in table[1:]] == ["min_diff", "tfco", "baseline"]
    assert "fails" in table[3] and "passes" in table[1]


def test_when_none_passes_it_says_which_bound_each_missed(runs):
    for run in runs[1:]:
        run.gate = gate_report([("overall", "auc", 0.7, ">= 0.75")])
    text = matching.recommendation(runs)
    assert text.splitlines()[0] == "No model passes the gate."
    assert "baseline missed: false_positive_rate on religion = 0.3100 (bound <= 0.2)" in text
    assert "(bound >= -0.05)" in text
    assert "min_diff missed: auc on overall = 0.7000 (bound >= 0.75)" in text
    assert "tfco missed: auc on overall" in text


def test_worst_group_and_gap_ignore_groups_not_judged(runs):
    baseline = runs[0]
    assert "gender" not in baseline.judged_groups()  # FPR 0.40 there, but not judged
    assert baseline.worst_group() == ("religion", 0.31)
    group, gap = baseline.largest_gap()
    assert group == "religion" and gap == pytest.approx(0.21)


# ---------------------------------------------------------------- rendering


class Tags(html.parser.HTMLParser):
    """Every tag of a page with its attributes; script bodies are text, not tags."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def referenced_urls(page: str) -> list[str]:
    return [
        attrs[name] for _, attrs in Tags(page).tags for name in ("src", "href") if name in attrs
    ]


def test_report_has_every_slice_bound_and_failure_and_valid_charts(runs, tmp_path):
    page_path = command.write_report(runs, tmp_path)
    page = page_path.read_text()
    for slice_name in (OVERALL, *GROUPS):
        # Once in each model's slice table, once in its Fairness Indicators table.
        assert page.count(f"<tr><td class=name>{slice_name}</td>") == 2 * len(runs)
    for line in BOUNDS.lines():
        assert escape(line) in page
    for s, m, v, b in BASELINE_FAILURES:
        assert f"<td class=name>{escape(m)}</td>" in page
        assert f"<td class=name>{s}</td><td>{v:.4f}</td><td class=name>{escape(b)}</td>" in page
    assert "Recommended: min_diff" in page
    assert page.count('class="badge pass">blessed') == 2 * 2  # summary table and run headings
    # Bounded values show their interval; plain ones do not invent one.
    assert "0.910 <small>[0.890, 0.930]</small>" in page
    assert "<td>0.880</td>" in page
    # Self-contained: scripts inline, no style sheet links, every image a data URI, every link
    # within the page.
    tags = Tags(page).tags
    assert [t for t, attrs in tags if t == "link" or (t == "script" and "src" in attrs)] == []
    assert all(url.startswith(("data:image/png;base64,", "#")) for url in referenced_urls(page))
    expected = {n for n in charts.CHARTS if n not in charts.MATCHED_CHARTS}
    assert {p.name for p in tmp_path.glob("*.png")} == expected
    for name in expected:
        data = (tmp_path / name).read_bytes()
        assert png_size(data) == charts.CHARTS[name]
        assert base64.b64encode(data).decode() in page
    summary = json.loads((tmp_path / command.JSON_FILE).read_text())
    assert summary["ranking"] == ["min_diff", "tfco", "baseline"]
    assert summary["runs"][0]["failures"][0]["bound"] == "<= 0.2"


def test_matched_chart_appears_with_matching(runs, tmp_path):
    labels = np.array([0, 0, 0, 1], float)
    data = {r.name: scored([0.6, 0.4, 0.2, 0.9], labels) for r in runs}
    matching.match_thresholds(runs, data)
    command.write_report(runs, tmp_path)
    data = (tmp_path / "fpr_matched_threshold.png").read_bytes()
    assert png_size(data) == charts.CHARTS["fpr_matched_threshold.png"]
    assert "FPR at the reference FPR" in (tmp_path / command.HTML_FILE).read_text()
    # FNR at the matched thresholds beside the FPR there.
    data = (tmp_path / "fnr_matched_threshold.png").read_bytes()
    assert png_size(data) == charts.CHARTS["fnr_matched_threshold.png"]
    assert "FNR at the reference FPR" in (tmp_path / command.HTML_FILE).read_text()


def test_chart_marks_the_bounds_in_their_colours(runs):
    png = charts.render_charts(runs)["fpr_by_group.png"]
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16)}
    assert ImageColor.getrgb(charts.CAP_COLOR) in colours  # the FPR cap line
    for colour in charts.COLORS[:3]:  # one bar colour (and gap line) per model
        assert ImageColor.getrgb(colour) in colours


# ---------------------------------------------------------------- page and notebook


def test_page_embeds_each_chart_spec_with_vega_inline(runs):
    specs = charts.chart_specs(runs)
    page = report_html.render_html(runs, specs, "now")
    embedded = json.loads(re.search(r"const specs = (.*);", page).group(1))
    assert set(embedded) == {"chart-" + n.removesuffix(".png") for n in specs}
    for name in specs:
        spec = embedded["chart-" + name.removesuffix(".png")]
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
        assert (spec["width"], spec["height"]) == charts.CHARTS[name]
        assert f'<div class=chart id="chart-{name.removesuffix(".png")}">' in page
    assert "vegaEmbed" in page and charts.vega_script() in page


def test_fnr_is_shown_beside_fpr_wherever_group_fpr_is(runs):
    specs = {name: chart.to_dict() for name, chart in charts.chart_specs(runs).items()}
    for name in ("fpr_by_group.png", "fnr_by_group.png"):
        tooltip = [t["field"] for t in specs[name]["layer"][0]["encoding"]["tooltip"]]
        assert {"fpr", "fpr_ci", "fnr", "fnr_ci"} <= set(tooltip)
        bars = specs[name]["data"]["values"]
        assert {(b["fpr"], b["fnr"]) for b in bars if b["group"] == "religion"} == {
            (0.31, 0.3),
            (0.13, 0.3),
        }
    page = report_html.render_html(runs, charts.chart_specs(runs), "now")
    assert "<th>worst judged group FPR</th><th class=fnr>worst judged group FNR</th>" in page
    assert page.count("<th>FPR</th><th class=fnr>FNR</th>") == len(runs)
    assert "<th>FPR@0.5</th><th class=fnr>FNR@0.5</th>" in page
    assert "<td>0.310 <small>[0.280, 0.340]</small></td><td class=fnr>0.300" in page
    header = matching.ranked_table(runs).splitlines()[0]
    assert re.search(r"worst group FPR +worst group FNR", header)
    summary = runs[0].summary()
    assert (summary["worst_group_fnr"], summary["worst_fnr_group"]) == (0.3, "sexual_orientation")


def test_page_draws_its_charts_offline_in_headless_chromium(runs, tmp_path):
    """Vega runs from the inlined script: every chart is drawn with the network unreachable
    (a proxy on a closed local port), without console messages."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium; .ci/run does it)")
    page = command.write_report(runs, tmp_path / "report")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[(:]", line)] == []
    assert not re.search(r"Uncaught|net::ERR_", done.stderr)
    for name in charts.chart_specs(runs):
        chart_id = "chart-" + name.removesuffix(".png")
        drawn = re.search(rf'id="{chart_id}".*?</svg>', done.stdout, re.S)
        assert drawn and 'class="marks"' in drawn.group(0), chart_id


def test_notebook_report_is_the_page_in_an_iframe(runs, monkeypatch):
    monkeypatch.setattr(notebook, "build_runs", lambda *args: runs)
    view = notebook.notebook_report("/nowhere", ["baseline", "min_diff", "tfco"])
    assert view.data.startswith('<div><iframe srcdoc="&lt;!doctype html&gt;')
    assert "Fairness report" in view.data and "vegaEmbed" in view.data
    monkeypatch.setattr(notebook, "build_runs", lambda *args: [])
    with pytest.raises(LookupError):
        notebook.notebook_report("/nowhere")


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


# ---------------------------------------------------------------- end to end

TINY = tiny(400, 100, "--min-slice-size", "10")


class Tee(io.StringIO):
    """Captures what a run prints while still showing it (pytest -s)."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def write(self, text):
        self.stream.write(text)
        return super().write(text)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One run of the baseline and MinDiff candidates, then MinDiff alone re-evaluated with
    confidence intervals (its Trainer from the cache), then `report` on both."""
    out = tmp_path_factory.mktemp("compare")
    both = ["--candidates", "baseline,min_diff"]
    logs = {}
    for step, argv in [
        ("run", ["run", "--output", str(out), *TINY, *both]),
        ("ci", ["run", "--candidates", "min_diff", "--confidence-intervals", "--output", str(out),
                *TINY, "--candidates", "min_diff"]),
        ("report", ["report", *both, "--output", str(out), "--report-dir", str(out / "ci-report")]),
    ]:  # fmt: skip
        tee = Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            code = local_runner.main(argv)
        logs[step] = (code, tee.getvalue())
    return out, logs


@pytest.mark.e2e
def test_a_run_of_two_candidates_shows_progress_and_the_selection(compared):
    out, logs = compared
    code, text = logs["run"]
    assert code == 0
    # 7 shared steps, 3 per candidate, the Selector and the Pusher.
    for node in ("ExampleGen", "ChampionResolver", "Trainer.baseline", "Trainer.min_diff"):
        assert re.search(rf"\[\d+/15\] {re.escape(node)} running\.\.\.", text), node
    assert re.search(r"\[15/15\] Pusher done in \d+ s", text)
    table = text[text.index("Candidates, each at its own operating point") :].splitlines()
    assert {table[2].split()[0].lstrip("*"), table[3].split()[0].lstrip("*")} <= {
        "baseline", "min_diff"
    }  # fmt: skip
    assert "Selected: " in text or "No candidate was blessed" in text


@pytest.mark.e2e
def test_report_shows_every_slice_bound_interval_and_matched_threshold(compared):
    out, logs = compared
    assert logs["ci"][0] == 0 and logs["report"][0] == 0
    assert re.search(r"\[\d+/12\] Evaluator.min_diff done in", logs["ci"][1])
    assert re.search(r"\[\d+/12\] Trainer.min_diff cached in", logs["ci"][1])
    folder = out / "ci-report"
    page = (folder / command.HTML_FILE).read_text()
    summary = json.loads((folder / command.JSON_FILE).read_text())
    assert [r["name"] for r in summary["runs"]] == ["baseline", "min_diff"]
    bounds = GateBounds(**{**summary["bounds"], "groups": tuple(summary["bounds"]["groups"]),
                           "fairness_thresholds": tuple(summary["bounds"]["fairness_thresholds"])})  # fmt: skip
    policy = GatePolicy()
    assert bounds.min_slice_size == 10 and bounds.decision_threshold == OPERATING_POINT_SCORE
    assert (bounds.max_group_fpr, bounds.min_auc) == (policy.max_group_fpr, policy.min_auc)
    assert bounds.max_fpr_gap == pytest.approx(policy.max_group_fpr_gap)
    for line in bounds.lines():
        assert escape(line) in page
    for group in GatePolicy().groups:
        assert f"<td class=name>{group}</td>" in page
    for run in summary["runs"]:
        for failure in run["failures"]:
            assert escape(failure["bound"]) in page
            assert f"<td class=name>{escape(failure['slice'])}</td>" in page
    runs = command.build_runs(str(out / "metadata.sqlite"), ["baseline", "min_diff"])
    baseline, min_diff = runs
    # MinDiff was re-evaluated with intervals, baseline was not: both kinds are handled.
    assert min_diff.bounds.confidence_intervals and not baseline.bounds.confidence_intervals
    assert min_diff.metric(OVERALL, "auc").has_interval
    assert not baseline.metric(OVERALL, "auc").has_interval
    assert re.search(r"<small>\[\d\.\d{3}, \d\.\d{3}\]</small>", page)
    # Scoring the eval split reproduces TFMA's overall FPR for the reference model.
    assert baseline.matched.threshold == 0.5
    assert baseline.matched.rates[OVERALL]["fpr"] == pytest.approx(
        baseline.metric(OVERALL, "fall_out").value
    )
    assert (
        baseline.matched.rates[OVERALL]["count"] == baseline.metric(OVERALL, "example_count").value
    )
    assert min_diff.matched.rates[OVERALL]["fpr"] <= baseline.matched.target_fpr + 1e-9
    # The gap-against-recall chart needs a judged group; a tiny run may have none.
    has_gap = any(r.get("largest_gap") is not None for r in summary["runs"])
    for name, size in charts.CHARTS.items():
        if name == "gap_vs_tpr.png" and not has_gap:
            assert not (folder / name).exists()
            continue
        assert png_size((folder / name).read_bytes()) == size


@pytest.mark.e2e
def test_report_opens_in_headless_chromium_without_console_errors(compared, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium; .ci/run does it)")
    out, _ = compared
    page = out / "ci-report" / command.HTML_FILE
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,2000", "--enable-logging=stderr", "--v=0", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[(:]", line)]
    assert console == [], console
    assert not re.search(r"Uncaught|net::ERR_", done.stderr)
    assert png_size(shot.read_bytes()) == (1280, 2000)


@pytest.mark.e2e
def test_notebook_report_shows_the_html_report(compared):
    out, _ = compared
    html_view = notebook.notebook_report(str(out), ["baseline", "min_diff"], match=False)
    assert "srcdoc=" in html_view.data and "Fairness report" in html_view.data


def test_the_tradeoff_chart_puts_each_model_at_its_gap_and_recall(runs):
    spec = charts.tradeoff_chart(runs, {r.name: "#000000" for r in runs}).to_dict()
    points = {row["model"]: row for row in spec["data"]["values"]}
    assert set(points) == {"baseline", "min_diff", "tfco"}
    for run in runs:
        group, gap = run.largest_gap()
        assert points[run.name]["gap"] == pytest.approx(gap)
        assert points[run.name]["group"] == group
        assert points[run.name]["TPR"] == pytest.approx(1 - run.metric(OVERALL, "miss_rate").value)
    assert points["baseline"]["gap"] > points["tfco"]["gap"]
