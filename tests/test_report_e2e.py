"""The fairness report on real runs: conftest's pushed_run (every candidate), then, on a copy
of its output (conftest's reruns), MinDiff alone re-evaluated with confidence intervals, and
`report` on TFCO and MinDiff."""

import json
import re
import shutil
import subprocess

import pytest
from markupsafe import escape

from components.policy import GatePolicy
from components.verdict import Failure
from pipeline.pipeline import component_ids
from report import charts, command, notebook
from report.values import OVERALL
from tests import runs
from tests.report_data import png_size

# 7 shared steps, 3 per candidate, the Selector and the Pusher.
STEPS = len(component_ids(runs.CANDIDATES))


@pytest.fixture(scope="module")
def compared(pushed_run, reruns):
    """conftest's run of every candidate (pushed_run), and the report its reruns made of TFCO
    (that run's evaluation, without intervals) and MinDiff (re-evaluated with intervals)."""
    logs = {
        "run": (0, pushed_run["printed"]),
        "ci": (reruns["drop"]["code"], reruns["drop"]["printed"]),
        "report": (reruns["report"]["code"], reruns["report"]["printed"]),
    }
    return reruns["output"], logs


@pytest.mark.e2e
def test_a_run_of_every_candidate_shows_progress_and_the_selection(compared):
    out, logs = compared
    code, text = logs["run"]
    assert code == 0
    for node in ("ExampleGen", "ChampionResolver", "Trainer.baseline", "Trainer.min_diff"):
        assert re.search(rf"\[\d+/{STEPS}\] {re.escape(node)} running\.\.\.", text), node
    assert re.search(rf"\[{STEPS}/{STEPS}\] Pusher done in \d+ s", text)
    table = text[text.index("Candidates, each at its own operating point") :].splitlines()
    # A candidate's row starts with its name (marked * when selected); its reasons follow it,
    # indented further, and the block ends with a blank line.
    block = table[2 : table.index("", 2)]
    rows = [line[3:].split()[0] for line in block if line[2:3] in " *" and line[3:4].strip()]
    assert sorted(rows) == sorted(runs.CANDIDATES)
    assert "Selected: " in text or "No candidate was blessed" in text


@pytest.mark.e2e
def test_report_shows_every_slice_bound_interval_and_matched_threshold(compared, reruns):
    out, logs = compared
    assert logs["ci"][0] == 0 and logs["report"][0] == 0
    # MinDiff alone, with its base model's Trainer, Evaluator and ChallengeEvaluator.
    steps = len(component_ids(["min_diff"]))
    assert re.search(rf"\[\d+/{steps}\] Evaluator.min_diff done in", logs["ci"][1])
    assert re.search(rf"\[\d+/{steps}\] Trainer.min_diff cached in", logs["ci"][1])
    folder = out / "ci-report"
    page = (folder / command.HTML_FILE).read_text()
    summary = json.loads((folder / command.JSON_FILE).read_text())
    assert [r["name"] for r in summary["runs"]] == ["tfco", "min_diff"]
    bounds = GatePolicy.from_json(summary["policy"])
    # The summary's bounds are the first run's: TFCO's, under runs.LENIENT_BOUNDS.
    assert bounds.min_slice_size == 10
    assert (bounds.max_group_fpr, bounds.min_auc) == (1.0, 0.0)
    assert bounds.max_fpr_gap == pytest.approx(1.0)
    for line in bounds.lines():
        assert escape(line) in page
    for group in GatePolicy().groups:
        assert f"<td class=name>{group}</td>" in page
    for run in summary["runs"]:
        # Each failed check in the words of the gate's record.
        assert run["failed_checks"] == [Failure(**f).describe() for f in run["failures"]]
        for text in run["failed_checks"]:
            assert f"<li>{escape(text)}</li>" in page
    # TFCO's gate report was read by pushed_run's Selector, MinDiff's by the drop rerun's: no
    # decision judged the two together, and the report says so rather than ranking them.
    assert summary["selection"]["decision"] is None
    assert "No Selector decision judged these models together" in summary["recommendation"]
    assert "tfco: a decision among " in summary["recommendation"]
    assert "min_diff: a decision among min_diff (selected: none)" in summary["recommendation"]
    reference, min_diff = reruns["report"]["runs"]
    # Asked to mix runs, it says so and labels each model with its run and eval rows.
    assert reference.run_id != min_diff.run_id
    rows = {r.name: r.eval_rows for r in (reference, min_diff)}
    assert summary["covers"].startswith("Mixed runs (--mix-runs), each model with its own run")
    for run in (reference, min_diff):
        label = f"{run.name} [run {run.run_id}, {rows[run.name]} eval rows]"
        assert label in reruns["report"]["printed"] and escape(label) in page
    # Each evaluation reads back the bounds it was judged by: MinDiff's, against the champion,
    # a recall-drop bound; TFCO's, in the first run with no champion, no change bound at all.
    assert min_diff.policy.min_slice_size == 10
    assert min_diff.policy.max_tpr_drop == pytest.approx(0.01)
    assert reference.policy.max_tpr_drop is None
    # MinDiff was re-evaluated with intervals, TFCO was not: both kinds are handled.
    assert min_diff.confidence_intervals and not reference.confidence_intervals
    assert min_diff.metric(OVERALL, "auc").has_interval
    assert not reference.metric(OVERALL, "auc").has_interval
    assert re.search(r"<small>\[\d\.\d{3}, \d\.\d{3}\]</small>", page)
    # Scoring the eval split reproduces TFMA's overall FPR for the reference model.
    assert reference.matched.threshold == 0.5
    assert reference.matched.rates[OVERALL]["fpr"] == pytest.approx(
        reference.metric(OVERALL, "fall_out").value
    )
    assert (
        reference.matched.rates[OVERALL]["count"]
        == reference.metric(OVERALL, "example_count").value
    )
    assert min_diff.matched.rates[OVERALL]["fpr"] <= reference.matched.target_fpr + 1e-9
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
    html_view = notebook.notebook_report(str(out), ["tfco", "min_diff"], match=False,
                                         mix_runs=True)  # fmt: skip
    assert "srcdoc=" in html_view.data and "Fairness report" in html_view.data


@pytest.mark.e2e
def test_the_report_covers_one_run_by_default(reruns, tmp_path):
    # The newest run on reruns' output is `cached` (baseline and MinDiff); TFCO was evaluated
    # only in an earlier run and stays out unless runs are mixed on purpose.
    out = reruns["output"]
    newest = reruns["cached"]["outcome"].run_id
    done = runs.report(out, ["baseline", "min_diff"], tmp_path / "one")
    assert done["code"] == 0
    assert {r.run_id for r in done["runs"]} == {newest}
    summary = json.loads((tmp_path / "one" / command.JSON_FILE).read_text())
    assert [r["name"] for r in summary["runs"]] == ["baseline", "min_diff"]
    assert summary["covers"].startswith(f"Run {newest}: ")
    assert f"\nRun {newest}: " in "\n" + done["printed"]
    # Its recommendation is that run's Selector's decision, which judged both.
    assert summary["selection"]["decision"]["candidates"][0]["name"] in {"baseline", "min_diff"}
    absent = runs.report(out, ["tfco"], tmp_path / "absent")
    assert absent["code"] == 1 and absent["runs"] == []
    assert (
        f"No evaluation of candidate tfco (fair-toxicity) in run {newest} found."
        in (absent["printed"])
    )
