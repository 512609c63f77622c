"""The custom components read and write their artifacts through TFX's fileio, so they work where
artifact URIs are not local paths (gs:// on Vertex AI). Here the URIs are TensorFlow's in-memory
filesystem (ram://), registered with fileio as TFX registers gs://: a built-in `open` on one fails.
"""

import json
import os

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import filesystem_registry
from tfx.dsl.io.plugins import tensorflow_gfile
from tfx.types import standard_artifacts

from components import challenge, data_check, gate
from components.policy import GatePolicy
from components.verdict import Verdict
from tests.test_bias_auc import evaluated  # noqa: F401 - the fixture: a real TFMA evaluation


class RamFilesystem(tensorflow_gfile.TensorflowFilesystem):
    SUPPORTED_SCHEMES = ["ram://"]


filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(RamFilesystem, priority=5)
POLICY = GatePolicy(min_slice_size=30)


def copy_tree(source: str, target: str) -> None:
    for folder, _, files in os.walk(source):
        relative = os.path.relpath(folder, source)
        inside = target if relative == "." else f"{target}/{relative}"
        tf.io.gfile.makedirs(inside)
        for name in files:
            tf.io.gfile.copy(os.path.join(folder, name), os.path.join(inside, name), True)


def artifact(kind, uri: str):
    made = kind()
    made.uri = uri
    return made


def test_a_builtin_open_cannot_reach_these_uris():
    tf.io.gfile.makedirs("ram://probe")
    with pytest.raises(OSError):
        open("ram://probe/file", "w")


def test_the_gate_judges_an_evaluation_and_writes_its_outputs_on_a_remote_filesystem(evaluated):  # noqa: F811
    root = "ram://gate-test"
    copy_tree(evaluated["output"], f"{root}/evaluation")
    tf.io.gfile.makedirs(f"{root}/model")
    outputs = {
        "blessing": artifact(standard_artifacts.ModelBlessing, f"{root}/blessing"),
        "report": artifact(gate.GateReport, f"{root}/report"),
    }
    gate.FairnessGate.test_call(
        evaluation=artifact(standard_artifacts.ModelEvaluation, f"{root}/evaluation"),
        model=artifact(standard_artifacts.Model, f"{root}/model"),
        policy=json.dumps(POLICY.to_json()),
        **outputs,
    )
    report = gate.read_report(f"{root}/report")
    # The policy it judged by, read back as itself (no champion: no change bound applied).
    assert Verdict.from_json(report).policy == POLICY.without_change_bounds()
    # Religion's non-toxic rows score like toxic ones in this evaluation: it fails the gate.
    assert report["blessed"] is False and report["failures"]
    marker = "BLESSED" if report["blessed"] else "NOT_BLESSED"
    assert tf.io.gfile.exists(f"{root}/blessing/{marker}")
    assert outputs["blessing"].get_int_custom_property("blessed") == 0
    text = tf.io.gfile.GFile(f"{root}/report/{gate.TEXT_FILE}").read()
    assert text.startswith("Model not blessed by the fairness gate.")


def test_suite_results_and_anomalies_round_trip_on_a_remote_filesystem():
    result = {"rows": 3, "sources": {"madlibs": {"fpr": {"k": 1, "n": 3}}}}
    challenge.write_result(result, "ram://suite/result")
    assert challenge.read_result("ram://suite/result") == result
    anomalies = anomalies_pb2.Anomalies()
    anomalies.anomaly_info["comment_text"].description = "a test anomaly"
    tf.io.gfile.makedirs("ram://validation/Split-train")
    with tf.io.gfile.GFile(f"ram://validation/Split-train/{data_check.ANOMALIES_FILE}", "wb") as f:
        f.write(anomalies.SerializeToString())
    read = data_check.read_split_anomalies("ram://validation", ["train"])
    assert json.loads(json.dumps(list(read["train"].anomaly_info))) == ["comment_text"]
