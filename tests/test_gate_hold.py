"""The gate holds: a run whose Evaluator fails, or whose model is not blessed, never changes the
serving folder that an earlier blessed run pushed to. (That a blessed push never overwrites a
version is in test_pusher.py.) The refusals are conftest's `reruns`, on a copy of pushed_run's
output."""

import pytest
import tensorflow_model_analysis as tfma

import local_runner
from pipeline import mlmd
from pipeline import pipeline as pipeline_module
from tests import runs

pytestmark = pytest.mark.e2e


def rerun(pushed_run, output, *extra: str) -> int:
    # The fixture's data and training flags, so ExampleGen to Trainer come from the cache.
    return local_runner.main(["run", "--data", str(pushed_run["data"]), "--output", str(output),
                              *runs.PUSHED, *extra])  # fmt: skip


def champion_of(pushed_run) -> str:
    """The champion as the change checks and the summary name it: pushed_run's push."""
    [version] = runs.versions(pushed_run["serving"])
    return f"the champion (version {version}, candidate {pushed_run['outcome'].winner}, pushed at "


def test_a_model_the_gate_rejects_is_not_pushed(pushed_run, reruns):
    # Without --require-blessing a refusal is an outcome, not a failure: exit code 0.
    run = reruns["drop"]
    printed = run["printed"]
    assert run["code"] == 0, printed[-3000:]
    assert "Outcome: not blessed" in printed
    assert f"No model pushed; {champion_of(pushed_run)}" in printed
    states = run["states"]
    assert states["Trainer.min_diff"] == [runs.CACHED]
    judged = ("Evaluator.min_diff", "FairnessGate.min_diff", "Selector", "Pusher")
    assert all(states[node] == [runs.COMPLETE] for node in judged), states
    outputs = run["outcome"]
    assert outputs.report["blessed"] is False and outputs.pushed is False
    assert run["serving_after"] == run["serving_before"]


def test_a_failing_evaluator_stops_the_run_before_gate_and_push(
    pushed_run, capsys, monkeypatch, tmp_path
):
    real = pipeline_module.build_eval_config

    def with_unknown_metric(*args, **kwargs):
        # A real configuration mistake: TFMA has no metric class of this name.
        config = real(*args, **kwargs)
        config.metrics_specs[0].metrics.append(tfma.MetricConfig(class_name="FalsePositiveRate"))
        return config

    monkeypatch.setattr(pipeline_module, "build_eval_config", with_unknown_metric)
    # On a copy, next to the push it holds, so that pushed_run's store stays as it ran.
    output = runs.copy_output(pushed_run["output"], tmp_path / "root")
    before = runs.snapshot(output / "serving")
    capsys.readouterr()
    assert rerun(pushed_run, output, *runs.ONE) == 2
    assert "Pipeline failed; no model was pushed." in capsys.readouterr().err
    states = runs.latest_run(output / "metadata.sqlite")
    assert states["Evaluator.baseline"] == [runs.FAILED]
    assert "FairnessGate.baseline" not in states and "Pusher" not in states
    assert runs.snapshot(output / "serving") == before


def test_a_model_that_flags_almost_nothing_is_refused(reruns):
    # At a threshold of 0.999 the trained model flags nothing: every FPR bound is met, and
    # only the recall floor stands between it and the serving folder.
    run = reruns["recall"]
    printed = run["printed"]
    assert run["code"] == 3, printed[-3000:]
    assert "Outcome: not blessed" in printed
    assert "failed: true_positive_rate (recall) on overall = 0.0000, bound: >= 0.2" in printed
    assert run["serving_after"] == run["serving_before"]


def test_a_candidate_worse_than_the_champion_beyond_the_change_bounds_is_refused(
    pushed_run, reruns
):
    # With no recall floor, the same model flagging nothing (its Trainer cached) is refused
    # only by comparison with the champion (the model pushed_run pushed): its recall fell by
    # more than 0.01.
    run = reruns["drop"]
    printed = run["printed"]
    assert run["code"] == 0, printed[-3000:]
    champion = champion_of(pushed_run)
    assert f"failed: true_positive_rate (recall) (change vs. {champion}" in printed
    assert "bound: change at least -0.01" in printed
    assert f"No candidate was blessed: nothing is pushed and {champion}" in printed
    # The summary names the champion with its own figures on this run's eval rows.
    assert f"Change checks compared with {champion}" in printed
    assert "on this run's eval rows AUC " in printed
    assert run["serving_after"] == run["serving_before"]


def test_with_no_candidate_blessed_nothing_is_pushed_and_the_champion_stays(pushed_run, reruns):
    run = reruns["recall"]
    printed = run["printed"]
    assert run["code"] == 3
    assert f"No candidate was blessed: nothing is pushed and {champion_of(pushed_run)}" in printed
    assert f"No model pushed; {champion_of(pushed_run)}" in printed
    assert run["serving_after"] == run["serving_before"]
    outcome, first = run["outcome"], pushed_run["outcome"]
    assert set(outcome.reports) == {"baseline", "min_diff"}
    assert not any(report["blessed"] for _, report in outcome.reports.values())
    assert outcome.pushed is False and outcome.winner is None
    # Both candidates were judged against the champion: the model pushed_run pushed (its
    # candidate's own Trainer output, of which the Selector pushed a copy).
    with mlmd.Reader(run["metadata"]) as reader:
        [pushed] = reader.run_outputs(first.run_id)[f"Trainer.{first.winner}"]["model"]
        for name in ("baseline", "min_diff"):
            [evaluation] = reader.node_executions(
                runs.PIPELINE, f"Evaluator.{name}", outcome.run_id
            )
            inputs = reader.execution_artifacts(evaluation.id, inputs=True)
            assert [m.uri for m in inputs["baseline_model"]] == [pushed.uri]
