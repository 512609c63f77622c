"""End-to-end LocalDagRunner runs on a tiny generated dataset."""

import os

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

import local_runner
from pipeline.pipeline import COMPONENT_IDS
from runners import mlmd
from tests import runs

pytestmark = pytest.mark.e2e

# The resolver is not an execution of its own in ML Metadata.
COMPONENTS = set(COMPONENT_IDS) - {"LatestBlessedModelResolver"}
TINY = runs.tiny(600, 300, "--min-slice-size", "10")
LENIENT = runs.LENIENT_BOUNDS


def executions_by_node(metadata_path: str) -> dict[str, list]:
    config = metadata.sqlite_metadata_connection_config(metadata_path)
    with metadata.Metadata(config) as m:
        store = m.store
        out: dict[str, list] = {}
        for context in store.get_contexts_by_type("node"):
            node = context.name.split(".")[-1]
            out[node] = store.get_executions_by_context(context.id)
        return out


def serving_versions(serving: str) -> list[str]:
    if not os.path.isdir(serving):
        return []
    return sorted(v for v in os.listdir(serving) if not v.startswith("."))


@pytest.fixture(scope="module")
def blessed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = local_runner.main(["run", "--output", str(out), *TINY, *LENIENT])
    return out, code


def test_every_component_runs_and_a_blessed_model_is_pushed(blessed_run, capsys):
    out, code = blessed_run
    assert code == 0
    runs = executions_by_node(str(out / "metadata.sqlite"))
    assert COMPONENTS <= set(runs)
    complete = metadata_store_pb2.Execution.COMPLETE
    for node in COMPONENTS:
        assert [e.last_known_state for e in runs[node]] == [complete], node
    outputs = mlmd.latest_outcome(str(out / "metadata.sqlite"), "fair-toxicity-baseline")
    assert outputs.report["blessed"] is True
    assert outputs.pushed is True
    [version] = serving_versions(str(out / "serving" / "baseline"))
    assert outputs.pushed_destination.endswith(version)
    assert os.path.exists(os.path.join(outputs.pushed_destination, "saved_model.pb"))


def test_not_blessed_run_pushes_nothing_and_explains(blessed_run, capsys):
    out, _ = blessed_run
    before = serving_versions(str(out / "serving" / "baseline"))
    code = local_runner.main(
        ["run", "--output", str(out), *TINY, "--min-auc", "0.999", "--require-blessing"]
    )
    assert code == 3
    printed = capsys.readouterr().out
    assert "Outcome: not blessed" in printed
    assert "failed: auc on overall" in printed and "bound >= 0.999" in printed
    assert "No model pushed." in printed
    assert serving_versions(str(out / "serving" / "baseline")) == before
    outputs = mlmd.latest_outcome(str(out / "metadata.sqlite"), "fair-toxicity-baseline")
    assert outputs.report["blessed"] is False and outputs.pushed is False


def test_pushed_model_serves_all_signatures(blessed_run):
    import tensorflow as tf

    from ingest.tfrecords import make_example

    out, _ = blessed_run
    [version] = serving_versions(str(out / "serving" / "baseline"))
    model = tf.saved_model.load(str(out / "serving" / "baseline" / version))
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
        ["run", "--trainer", "nope"],
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


@pytest.mark.parametrize("trainer", ["min_diff", "tfco"])
def test_remediation_trainers_export_what_the_evaluator_loads(tmp_path, trainer):
    code = local_runner.main(
        ["run", "--output", str(tmp_path), "--trainer", trainer, *TINY, *LENIENT]
    )
    assert code == 0
    outputs = mlmd.latest_outcome(
        str(tmp_path / "metadata.sqlite"), f"fair-toxicity-{trainer.replace('_', '-')}"
    )
    overall = outputs.report["slice_metrics"]["overall"]
    assert overall["example_count"] == 300 and 0.0 <= overall["auc"] <= 1.0
    assert outputs.report["blessed"] is True and outputs.pushed is True
