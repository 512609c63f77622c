"""Local scale-out: Beam's multi-processing DirectRunner (`--beam-workers 2`) gives the same
data as one in-process worker, and its worker processes run with Keras 2 selected."""

import glob
import os
import threading

import psutil
import pytest
import tensorflow as tf
import tensorflow_transform as tft

import local_runner
from contract import VOCAB_NAME
from pipeline import config
from tests import runs

pytestmark = pytest.mark.e2e

TINY = runs.tiny(400, 100, "--no-cache")
PIPELINE = config.PIPELINE_NAME


class WorkerWatch:
    """Polls this process's children for Beam SDK workers and records their environment."""

    def __init__(self):
        self.workers: dict[int, str | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.wait(0.2):
            for child in psutil.Process().children(recursive=True):
                try:
                    if child.pid in self.workers or "sdk_worker_main" not in " ".join(
                        child.cmdline()
                    ):
                        continue
                    self.workers[child.pid] = child.environ().get("TF_USE_LEGACY_KERAS")
                except psutil.Error:
                    continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


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
def runs(tmp_path_factory):
    out = {}
    for workers in (1, 2):
        output = str(tmp_path_factory.mktemp(f"workers{workers}"))
        with WorkerWatch() as watch:
            code = local_runner.main(
                ["run", "--output", output, "--beam-workers", str(workers), *TINY]
            )
        assert code == 0, f"run with {workers} Beam worker(s) failed"
        out[workers] = {
            "vocabulary": tft.TFTransformOutput(
                only_artifact(output, "Transform", "transform_graph")
            ).vocabulary_by_name(VOCAB_NAME),
            "counts": split_counts(only_artifact(output, "ExampleGen", "examples")),
            "workers": watch.workers,
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
