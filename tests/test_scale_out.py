"""Local scale-out: Beam's multi-processing DirectRunner (`--beam-workers 2`) gives the same
data as one in-process worker, and its worker processes run with Keras 2 selected. The two
runs are conftest's runs_at_once (which test_shared_metadata reads too)."""

import glob
import os

import pytest
import tensorflow as tf
import tensorflow_transform as tft

from contract import VOCAB_NAME
from pipeline import config

pytestmark = pytest.mark.e2e

PIPELINE = config.PIPELINE_NAME


def only_artifact(output: str, component: str, key: str) -> str:
    # Each run has its own output folder and runs every component once.
    (uri,) = glob.glob(os.path.join(output, "pipelines", PIPELINE, component, key, "*"))
    return uri


def split_counts(examples_uri: str) -> dict[str, int]:
    counts = {}
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
        assert files, f"no {split} files in {examples_uri}"
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
        counts[split] = sum(1 for _ in dataset)
    return counts


@pytest.fixture(scope="module")
def runs(runs_at_once):
    """conftest's runs_at_once: `first` with one Beam worker, `second` with two."""
    out = {}
    for workers, name in ((1, "first"), (2, "second")):
        output = str(runs_at_once["folder"] / name)
        log = runs_at_once["folder"] / f"{name}.log"
        failed = f"run with {workers} Beam worker(s) failed:\n"
        assert runs_at_once["codes"][name] == 0, failed + log.read_text()[-3000:]
        out[workers] = {
            "vocabulary": tft.TFTransformOutput(
                only_artifact(output, "Transform", "transform_graph")
            ).vocabulary_by_name(VOCAB_NAME),
            "counts": split_counts(only_artifact(output, "ExampleGen", "examples")),
            "workers": runs_at_once["workers"][name],
        }
    return out


def test_two_workers_build_the_same_vocabulary(runs):
    one, two = runs[1]["vocabulary"], runs[2]["vocabulary"]
    assert len(one) > 50
    # tft orders by frequency, then by token: equal lists mean equal counts ranking too.
    assert two == one


def test_two_workers_split_the_same_examples(runs):
    assert runs[1]["counts"] == {"train": 400, "eval": 100}
    assert runs[2]["counts"] == runs[1]["counts"]


def test_multi_processing_workers_inherit_legacy_keras(runs):
    assert runs[1]["workers"] == {}, "one worker runs Beam in process"
    workers = runs[2]["workers"]
    assert len(workers) >= 2, "multi_processing mode started no worker processes"
    assert set(workers.values()) == {"1"}
