"""The fairness report, `report`/`compare` commands and progress lines.

Fast tests build runs from hand-made metric dicts; the e2e tests share one tiny compare run
(baseline and MinDiff), then re-evaluate MinDiff with confidence intervals and report on both.
"""

import base64
import contextlib
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

import local_runner
from pipeline.config import GatePolicy
from pipeline.eval_config import build_eval_config
from report import report
from report.report import OVERALL, GateBounds, RunResult, Value
from runners import progress

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
        }
    return rows


def make_run(name, fpr, auc, gate, bounded_values=True) -> RunResult:
    rows = metric_rows(fpr, bounded_values)
    rows[OVERALL]["auc"] = (
        bounded(auc, auc - 0.02, auc + 0.02) if bounded_values else {"doubleValue": auc}
    )
    return RunResult(
        name=name,
        slices={s: report.parse_row(r) for s, r in rows.items()},
        bounds=BOUNDS,
        gate=gate,
        pipeline=f"fair-toxicity-{name}",
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
    assert report.parse_value(0.25) == Value(0.25)
    assert report.parse_value({"doubleValue": 0.5}) == Value(0.5)
    with_ci = report.parse_value(bounded(0.4, 0.3, 0.5))
    assert (with_ci.value, with_ci.lower, with_ci.upper, with_ci.has_interval) == (
        0.4,
        0.3,
        0.5,
        True,
    )
    # TFMA writes undefined bounds as the string "NaN" (e.g. FNR on a slice without positives).
    nan_bounds = report.parse_value(bounded(1.0, "NaN", "NaN"))
    assert nan_bounds == Value(1.0) and not nan_bounds.has_interval
    assert report.parse_value({"doubleValue": "NaN"}).value is None
    assert report.parse_value({"boundedValue": {}}).value is None
    assert report.parse_value({"somethingElse": 1}).value is None


def test_bounds_are_read_back_from_the_eval_config():
    policy = GatePolicy(
        decision_threshold=0.4, max_group_fpr=0.15, max_group_fpr_gap=0.03, min_auc=0.8,
        max_auc_drop=0.01, max_group_fpr_increase=0.04, groups=("religion", "race"),
        fairness_thresholds=(0.2, 0.4),
    )  # fmt: skip
    bounds = report.bounds_from_eval_config(build_eval_config(policy, True), min_slice_size=25)
    assert bounds == GateBounds(
        decision_threshold=0.4,
        max_group_fpr=0.15,
        max_fpr_gap=pytest.approx(0.03),
        min_auc=0.8,
        max_auc_drop=pytest.approx(0.01),
        max_group_fpr_increase=pytest.approx(0.04),
        min_slice_size=25,
        groups=("religion", "race"),
        fairness_thresholds=(0.2, 0.4),
        confidence_intervals=True,
    )
    plain = report.bounds_from_eval_config(build_eval_config(GatePolicy(), False))
    assert plain.confidence_intervals is False and plain.min_slice_size is None


# ---------------------------------------------------------------- threshold matching


def scored(scores, labels, groups=None) -> report.Scored:
    scores, labels = np.asarray(scores, float), np.asarray(labels, float)
    groups = groups or {"religion": np.zeros(len(scores), bool)}
    return report.Scored(scores, labels, groups)


def test_matching_threshold_gives_the_target_fpr():
    negatives = np.linspace(0.05, 0.95, 10)  # 10 negatives
    scores = np.concatenate([negatives, [0.99, 0.2]])
    labels = [0] * 10 + [1, 1]
    for target in (0.0, 0.1, 0.3, 0.55, 0.9):
        threshold = report.fpr_matching_threshold(scores, labels, target)
        fpr = report.rates_at(scored(scores, labels), threshold)[OVERALL]["fpr"]
        assert fpr == pytest.approx(np.floor(target * 10) / 10), target
    everything = report.fpr_matching_threshold(scores, labels, 1.0)
    assert report.rates_at(scored(scores, labels), everything)[OVERALL]["fpr"] == 1.0


def test_matching_threshold_never_exceeds_the_target_with_ties():
    scores = [0.7, 0.7, 0.7, 0.2, 0.1, 0.9]
    labels = [0, 0, 0, 0, 0, 1]
    threshold = report.fpr_matching_threshold(scores, labels, 0.4)  # 2 of 5 would need a split tie
    fpr = report.rates_at(scored(scores, labels), threshold)[OVERALL]["fpr"]
    assert fpr <= 0.4


def test_rates_count_scores_above_the_threshold_as_positive_per_group():
    religion = np.array([True, True, False, False, True])
    data = scored([0.6, 0.5, 0.7, 0.2, 0.9], [0, 0, 0, 0, 1], {"religion": religion})
    rates = report.rates_at(data, 0.5)
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
    reference = report.match_thresholds(runs, data)
    assert reference == "baseline"
    baseline, min_diff, tfco = runs
    target = report.rates_at(data["baseline"], 0.5)[OVERALL]["fpr"]
    assert baseline.matched.threshold == 0.5 and baseline.matched.target_fpr == target
    assert min_diff.matched.threshold < 0.5
    matched_fpr = min_diff.matched.rates[OVERALL]["fpr"]
    negatives = int((labels < 0.5).sum())
    assert target - 1 / negatives < matched_fpr <= target
    assert tfco.matched is None  # not scored: left out, not invented


# ---------------------------------------------------------------- ranking


def test_recommends_the_passing_model_with_the_best_auc(runs):
    assert [r.name for r in report.rank(runs)] == ["min_diff", "tfco", "baseline"]
    text = report.recommendation(runs)
    assert text.startswith("Recommended: min_diff") and "0.880" in text
    table = report.ranked_table(runs).splitlines()
    assert [line.split()[1] for line in table[1:]] == ["min_diff", "tfco", "baseline"]
    assert "fails" in table[3] and "passes" in table[1]


def test_when_none_passes_it_says_which_bound_each_missed(runs):
    for run in runs[1:]:
        run.gate = gate_report([("overall", "auc", 0.7, ">= 0.75")])
    text = report.recommendation(runs)
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


def referenced_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page)


def test_report_has_every_slice_bound_and_failure_and_valid_charts(runs, tmp_path):
    page_path = report.write_report(runs, tmp_path)
    page = page_path.read_text()
    for slice_name in (OVERALL, *GROUPS):
        # Once in each model's slice table, once in its Fairness Indicators table.
        assert page.count(f"<tr><td class=name>{slice_name}</td>") == 2 * len(runs)
    for line in BOUNDS.lines():
        assert report._e(line) in page
    for s, m, v, b in BASELINE_FAILURES:
        assert f"<td class=name>{report._e(m)}</td>" in page
        assert f"<td class=name>{s}</td><td>{v:.4f}</td><td class=name>{report._e(b)}</td>" in page
    assert "Recommended: min_diff" in page
    assert page.count('class="badge pass">blessed') == 2 * 2  # summary table and run headings
    # Bounded values show their interval; plain ones do not invent one.
    assert "0.910 <small>[0.890, 0.930]</small>" in page
    assert "<td>0.880</td>" in page
    # Self-contained: no scripts, every image a data URI.
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert all(url.startswith("data:image/png;base64,") for url in referenced_urls(page))
    expected = {n for n in report.CHARTS if n != "fpr_matched_threshold.png"}
    assert {p.name for p in tmp_path.glob("*.png")} == expected
    for name in expected:
        data = (tmp_path / name).read_bytes()
        assert png_size(data) == report.CHARTS[name]
        assert base64.b64encode(data).decode() in page
    summary = json.loads((tmp_path / report.JSON_FILE).read_text())
    assert summary["ranking"] == ["min_diff", "tfco", "baseline"]
    assert summary["runs"][0]["failures"][0]["bound"] == "<= 0.2"


def test_matched_chart_appears_with_matching(runs, tmp_path):
    labels = np.array([0, 0, 0, 1], float)
    data = {r.name: scored([0.6, 0.4, 0.2, 0.9], labels) for r in runs}
    report.match_thresholds(runs, data)
    report.write_report(runs, tmp_path)
    data = (tmp_path / "fpr_matched_threshold.png").read_bytes()
    assert png_size(data) == report.CHARTS["fpr_matched_threshold.png"]
    assert "FPR at t=0.500" in (tmp_path / report.HTML_FILE).read_text()


def test_chart_marks_the_bounds_in_their_colours(runs):
    png = report.render_charts(runs)["fpr_by_group.png"]
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16)}
    assert report._rgb(report.CAP_COLOR) in colours  # the FPR cap line
    for colour in report.COLORS[:3]:  # one bar colour (and gap line) per model
        assert report._rgb(colour) in colours


# ---------------------------------------------------------------- notebook


def test_widget_payload_has_slices_and_cross_slices():
    result = types.SimpleNamespace(
        slicing_metrics=[
            ((), {"": {"": {"fall_out": {"doubleValue": 0.1}}}}),
            ((("identity_group", b"religion"),), {"": {"": {"fall_out": {"doubleValue": 0.3}}}}),
            (((), (("identity_group", "religion"),)), {"": {"": {"fall_out": {"doubleValue": -0.2}}}}),
        ]
    )  # fmt: skip
    payload = report.ui_slicing_metrics(result.slicing_metrics)
    assert [p["sliceValue"] for p in payload] == ["Overall", "religion", "Overall__XX__religion"]
    assert payload[1]["slice"] == "identity_group:religion"
    assert payload[2]["slice"] == "Overall__XX__identity_group:religion"
    assert payload[1]["metrics"] == {"fall_out": {"doubleValue": 0.3}}


def test_fairness_indicator_widget_compares_two_evaluations():
    one = types.SimpleNamespace(slicing_metrics=[((), {"": {"": {"auc": {"doubleValue": 0.8}}}})])
    two = types.SimpleNamespace(slicing_metrics=[((), {"": {"": {"auc": {"doubleValue": 0.7}}}})])
    view = report.render_fairness_indicator(multi_eval_results={"baseline": one, "min_diff": two})
    assert (view._view_name, view._view_module) == (
        "FairnessIndicatorView",
        "tensorflow_model_analysis",
    )
    assert (view.evalName, view.evalNameCompare) == ("baseline", "min_diff")
    assert view.slicingMetrics[0]["metrics"] == {"auc": {"doubleValue": 0.8}}
    assert view.slicingMetricsCompare[0]["metrics"] == {"auc": {"doubleValue": 0.7}}
    with pytest.raises(ValueError):
        report.render_fairness_indicator(multi_eval_results={"a": one, "b": two, "c": one})
    with pytest.raises(ValueError):
        report.render_fairness_indicator(one, multi_eval_results={"a": one, "b": two})


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

TINY = ["--train-size", "400", "--eval-size", "100", "--epochs", "1", "--min-slice-size", "10"]


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
    """`compare` baseline and MinDiff, then re-evaluate MinDiff with confidence intervals
    (only its Evaluator and later steps re-run) and `report` on both."""
    out = tmp_path_factory.mktemp("compare")
    logs = {}
    for step, argv in [
        ("compare", ["compare", "--trainers", "baseline", "min_diff", "--output", str(out), *TINY]),
        ("ci", ["run", "--trainer", "min_diff", "--confidence-intervals", "--output", str(out), *TINY]),
        ("report", ["report", "--trainers", "baseline", "min_diff", "--output", str(out),
                    "--report-dir", str(out / "ci-report")]),
    ]:  # fmt: skip
        tee = Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            code = local_runner.main(argv)
        logs[step] = (code, tee.getvalue())
    return out, logs


@pytest.mark.e2e
def test_compare_runs_each_variant_with_progress_and_ranks_them(compared):
    out, logs = compared
    code, text = logs["compare"]
    assert code == 0
    assert "=== baseline ===" in text and "=== min_diff ===" in text
    for i, node in enumerate(["ExampleGen", "LatestBlessedModelResolver"], 1):
        assert f"[{i}/11] {node} running..." in text
    assert re.search(r"\[11/11\] Pusher done in \d+ s", text)
    assert re.search(r"\[8/11\] Trainer done in \d+", text)
    table = text[text.index("rank  model") :].splitlines()
    assert {table[1].split()[1], table[2].split()[1]} == {"baseline", "min_diff"}
    assert "Recommended: " in text or "No model passes the gate." in text
    assert (out / "report" / report.HTML_FILE).exists()


@pytest.mark.e2e
def test_report_shows_every_slice_bound_interval_and_matched_threshold(compared):
    out, logs = compared
    assert logs["ci"][0] == 0 and logs["report"][0] == 0
    assert "[9/11] Evaluator done in" in logs["ci"][1]
    assert "[8/11] Trainer cached in" in logs["ci"][1]
    folder = out / "ci-report"
    page = (folder / report.HTML_FILE).read_text()
    summary = json.loads((folder / report.JSON_FILE).read_text())
    assert [r["name"] for r in summary["runs"]] == ["baseline", "min_diff"]
    bounds = GateBounds(**{**summary["bounds"], "groups": tuple(summary["bounds"]["groups"]),
                           "fairness_thresholds": tuple(summary["bounds"]["fairness_thresholds"])})  # fmt: skip
    policy = GatePolicy()
    assert bounds.min_slice_size == 10 and bounds.decision_threshold == policy.decision_threshold
    assert (bounds.max_group_fpr, bounds.min_auc) == (policy.max_group_fpr, policy.min_auc)
    assert bounds.max_fpr_gap == pytest.approx(policy.max_group_fpr_gap)
    for line in bounds.lines():
        assert report._e(line) in page
    for group in GatePolicy().groups:
        assert f"<td class=name>{group}</td>" in page
    for run in summary["runs"]:
        for failure in run["failures"]:
            assert report._e(failure["bound"]) in page
            assert f"<td class=name>{report._e(failure['slice'])}</td>" in page
    runs = report.build_runs(str(out / "metadata.sqlite"), ["baseline", "min_diff"])
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
    for name, size in report.CHARTS.items():
        assert png_size((folder / name).read_bytes()) == size


@pytest.mark.e2e
def test_report_opens_in_headless_chromium_without_console_errors(compared, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium; .ci/run does it)")
    out, _ = compared
    page = out / "ci-report" / report.HTML_FILE
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
def test_notebook_view_builds_the_fairness_indicators_widget(compared):
    out, _ = compared
    view = report.notebook_view(str(out), ["baseline", "min_diff"])
    assert (view.evalName, view.evalNameCompare) == ("baseline", "min_diff")
    slices = {s["sliceValue"] for s in view.slicingMetrics}
    assert {"Overall", *GatePolicy().groups} <= slices
    assert any("__XX__" in s["sliceValue"] for s in view.slicingMetricsCompare)
    html_view = report.notebook_report(str(out), ["baseline", "min_diff"], match=False)
    assert "srcdoc=" in html_view.data and "Fairness report" in html_view.data
