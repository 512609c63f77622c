"""End-to-end LocalDagRunner runs on a tiny generated dataset: every candidate in one run."""

import json
import os

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

import local_runner
from contract import COMPLETE_MARKER
from pipeline import config
from pipeline.pipeline import component_ids
from runners import mlmd
from tests import runs

pytestmark = pytest.mark.e2e

# Every trainer, and the baseline with per-group thresholds (which reuses its weights).
CANDIDATES = (*config.TRAINERS, f"baseline{config.POSTPROCESSED}")
# The resolver is not an execution of its own in ML Metadata.
COMPONENTS = set(component_ids(CANDIDATES)) - {"ChampionResolver"}
TINY = ["--train-size", "600", "--eval-size", "300", "--epochs", "1", "--min-slice-size", "10"]
LENIENT = runs.LENIENT_BOUNDS


def executions_by_node(metadata_path: str) -> dict[str, list]:
    config = metadata.sqlite_metadata_connection_config(metadata_path)
    with metadata.Metadata(config) as m:
        store = m.store
        out: dict[str, list] = {}
        for context in store.get_contexts_by_type("node"):
            node = context.name.split(".", 1)[-1]
            out[node] = store.get_executions_by_context(context.id)
        return out


def serving_versions(serving: str) -> list[str]:
    if not os.path.isdir(serving):
        return []
    return sorted(v for v in os.listdir(serving) if not v.startswith("."))


@pytest.fixture(scope="module")
def blessed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = local_runner.main(
        ["run", "--output", str(out), "--candidates", ",".join(CANDIDATES), *TINY, *LENIENT]
    )
    return out, code


def test_every_candidate_is_trained_judged_and_the_selected_one_pushed(blessed_run, capsys):
    out, code = blessed_run
    assert code == 0
    runs = executions_by_node(str(out / "metadata.sqlite"))
    assert COMPONENTS <= set(runs)
    complete = metadata_store_pb2.Execution.COMPLETE
    for node in COMPONENTS:
        assert [e.last_known_state for e in runs[node]] == [complete], node
    outcome = mlmd.latest_outcome(str(out / "metadata.sqlite"), config.PIPELINE_NAME)
    assert list(outcome.reports) == list(CANDIDATES)
    for name, (_, report) in outcome.reports.items():
        # Every trainer exports what the Evaluator loads.
        overall = report["slice_metrics"]["overall"]
        assert overall["example_count"] == 300 and 0.0 <= overall["auc"] <= 1.0, name
        assert report["blessed"] is True, name
    rows = {row["name"]: row for row in outcome.selection["candidates"]}
    assert set(rows) == set(CANDIDATES) and all(row["blessed"] for row in rows.values())
    # The lenient gate blesses all: the rule decides, and the winner is the pushed model.
    best_gap = min(row["max_group_fpr_gap"] for row in rows.values())
    assert (
        rows[outcome.winner]["max_group_fpr_gap"]
        <= best_gap + outcome.selection["rule"]["tie_margin"]
    )
    assert outcome.pushed is True
    [version] = serving_versions(str(out / "serving"))
    assert outcome.pushed_destination.endswith(version)
    marker = json.loads((out / "serving" / version / COMPLETE_MARKER).read_text())
    assert marker["candidate"] == outcome.winner
    # The post-processed candidate took the baseline's weights: same scores, own thresholds.
    stats = training_stats(out, f"baseline{config.POSTPROCESSED}")
    assert stats["weights_from"].startswith(
        str(out / "pipelines" / config.PIPELINE_NAME / "Trainer.baseline")
    )
    assert stats["operating_point"]["postprocess"] == "group_thresholds"
    base = training_stats(out, "baseline")["operating_point"]
    assert stats["operating_point"]["validation_auc"] == pytest.approx(base["validation_auc"])


def training_stats(out, candidate: str) -> dict:
    [path] = (out / "pipelines" / config.PIPELINE_NAME / f"Trainer.{candidate}").glob(
        "model_run/*/training_stats.json"
    )
    return json.loads(path.read_text())


def test_with_no_candidate_blessed_nothing_is_pushed_and_the_champion_stays(blessed_run, capsys):
    out, _ = blessed_run
    before = serving_versions(str(out / "serving"))
    first = mlmd.latest_outcome(str(out / "metadata.sqlite"), config.PIPELINE_NAME)
    code = local_runner.main(
        ["run", "--output", str(out), *TINY, "--candidates", "baseline,min_diff",
         "--min-auc", "0.999", "--require-blessing"]
    )  # fmt: skip
    assert code == 3
    printed = capsys.readouterr().out
    assert "Outcome: not blessed" in printed
    assert "failed: auc on overall" in printed and "bound >= 0.999" in printed
    assert "No candidate was blessed: nothing is pushed and the champion stays." in printed
    assert "No model pushed; the champion stays." in printed
    assert serving_versions(str(out / "serving")) == before
    outcome = mlmd.latest_outcome(str(out / "metadata.sqlite"), config.PIPELINE_NAME)
    assert set(outcome.reports) == {"baseline", "min_diff"}
    assert not any(report["blessed"] for _, report in outcome.reports.values())
    assert outcome.pushed is False and outcome.winner is None
    # Both candidates were judged against the champion: the model the first run pushed (its
    # candidate's own Trainer output, of which the Selector pushed a copy).
    with mlmd.Reader(str(out / "metadata.sqlite")) as reader:
        [pushed] = reader.run_outputs(first.run_id)[f"Trainer.{first.winner}"]["model"]
        for name in ("baseline", "min_diff"):
            [evaluation] = reader.node_executions(
                config.PIPELINE_NAME, f"Evaluator.{name}", outcome.run_id
            )
            inputs = reader.execution_artifacts(evaluation.id, inputs=True)
            assert [m.uri for m in inputs["baseline_model"]] == [pushed.uri]


def test_pushed_model_serves_all_signatures(blessed_run):
    import tensorflow as tf

    from ingest.tfrecords import make_example

    out, _ = blessed_run
    [version] = serving_versions(str(out / "serving"))
    model = tf.saved_model.load(str(out / "serving" / version))
    assert {"serving_default", "transform_features", "score_text"} <= set(model.signatures)
    texts = ["", "a muslim neighbor", "x" * 100_000, "\u00e9\u4e2d\u0000\u0007"]
    scores = model.signatures["score_text"](comment_text=tf.constant(texts))["toxicity"].numpy()
    assert scores.shape == (4, 1) and ((scores >= 0) & (scores <= 1)).all()
    serialized = tf.constant([make_example(t, 0.0).SerializeToString() for t in texts])
    by_example = model.signatures["serving_default"](examples=serialized)["toxicity"].numpy()
    assert by_example == pytest.approx(scores, abs=1e-6)
    transformed = model.signatures["transform_features"](examples=serialized)
    assert transformed["identity_religion"].numpy().tolist() == [0, 1, 0, 0]


def test_bad_flags_are_rejected_with_usage_errors(capsys):
    for argv in (
        ["run", "--candidates", "nope"],
        ["run", "--candidates", "baseline,baseline"],
        ["run", "--beam-workers", "0"],
        ["run", "--gate-groups", "martians"],
        ["run", "--max-fpr-gap", "2"],
    ):
        with pytest.raises(SystemExit) as error:
            local_runner.main(argv)
        assert error.value.code == 2
    assert "martians" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="--data folder not found"):
        local_runner.main(["run", "--output", str(tmp_path), "--data", str(tmp_path / "none")])
