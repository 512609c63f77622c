"""Crash safety: a pipeline killed with SIGKILL during the Trainer reruns from its cache, and the
serving folder only ever shows complete models."""

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from components import serving
from contract import MODEL_CARD_HTML, MODEL_CARD_MD
from tests import runs

pytestmark = pytest.mark.e2e

TIMEOUT = 600
# What the stack printed on every run before it was silenced (pipeline/__init__.py): CUDA
# factory errors on a CPU machine, absl/TensorFlow/Beam warnings, library FutureWarnings.
NOISE = (
    "Unable to register",
    "property_predicate",
    "FutureWarning",
    "RuntimeWarning",
    "is deprecated",
    "WARNING:",
)


def assert_quiet(stderr_file) -> None:
    text = stderr_file.read_text(errors="replace")
    noisy = [line for line in text.splitlines() if any(n in line for n in NOISE)]
    assert noisy == [], text[-3000:]


def files_and_sizes(folder) -> dict[str, int]:
    return {path: size for path, (size, _) in runs.snapshot(folder).items()}


def wait_for_trainer(process, metadata, log) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run ended before the Trainer started:\n{log.read_text()[-3000:]}")
        try:
            if os.path.exists(metadata) and runs.latest_run(metadata).get("Trainer.baseline"):
                return
        except sqlite3.OperationalError:
            pass  # tables not created yet, or a write in progress
        time.sleep(0.5)
    pytest.fail("the Trainer did not start in time")


def test_sigkill_during_trainer_then_rerun_uses_the_cache_and_pushes_whole_models(tmp_path):
    start = time.monotonic()
    out, data = tmp_path / "root", runs.write_data(tmp_path / "data")
    metadata, served = out / "metadata.sqlite", out / "serving"
    command = runs.runner_command("run", "--data", str(data), "--output", str(out),
                                  "--epochs", "1", *runs.ONE, *runs.LENIENT)  # fmt: skip

    first_log, first_err = tmp_path / "killed.log", tmp_path / "killed.err"
    with open(first_log, "wb") as log, open(first_err, "wb") as err:
        first = subprocess.Popen(command, stdout=log, stderr=err,
                                 start_new_session=True)  # fmt: skip
        try:
            wait_for_trainer(first, metadata, first_err)
            # Into the training itself (it takes ~20 s), not just its registration.
            time.sleep(3)
            assert first.poll() is None and runs.latest_run(metadata)["Trainer.baseline"] == [
                runs.RUNNING
            ]
            os.killpg(first.pid, signal.SIGKILL)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == -signal.SIGKILL
    killed = runs.latest_run(metadata)
    assert killed["ExampleGen"] == killed["Transform"] == [runs.COMPLETE]
    assert killed["Trainer.baseline"] == [runs.RUNNING]
    assert "Pusher" not in killed and runs.versions(served) == []
    assert_quiet(first_err)
    killed_run = max(runs.executions_by_run(metadata))

    # The rerun, watching the serving folder all along.
    seen: dict[str, list[dict[str, int]]] = {}
    rerun_err = tmp_path / "rerun.err"
    with open(tmp_path / "rerun.log", "wb") as log, open(rerun_err, "wb") as err:
        second = subprocess.Popen(command, stdout=log, stderr=err,
                                  start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + TIMEOUT
            while second.poll() is None and time.monotonic() < deadline:
                for version in runs.versions(served):
                    seen.setdefault(version, []).append(files_and_sizes(served / version))
                time.sleep(0.05)
        finally:
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGKILL)
            second.wait()
    assert second.returncode == 0, rerun_err.read_text()[-3000:]
    # A successful run, from the CUDA set-up to the push: none of the stack's noise.
    assert_quiet(rerun_err)
    assert (
        f"Interrupted earlier: Trainer.baseline of run {killed_run} never finished"
        in (tmp_path / "rerun.log").read_text()
    )

    rerun = runs.latest_run(metadata)
    for node in ("ExampleGen", "StatisticsGen", "Transform"):
        assert rerun[node] == [runs.CACHED], node
    assert rerun["Trainer.baseline"] == rerun["Pusher"] == [runs.COMPLETE]
    [version] = runs.versions(served)
    assert serving.is_complete(served / version)
    with open(served / version / serving.COMPLETE_MARKER) as f:
        model = files_and_sizes(json.load(f)["source"])
    # The model card goes into the temporary folder with the model, so it is there from the
    # version's first appearance.
    cards = (MODEL_CARD_MD, MODEL_CARD_HTML)
    final = files_and_sizes(served / version)
    assert set(cards) <= set(final)
    model.update({name: final[name] for name in cards})
    # Every look at the version folder, from its first appearance, saw the whole model.
    assert seen[version]
    for observed in seen[version]:
        # The marker, and its temporary file while it is written, come after the model.
        observed.pop(serving.COMPLETE_MARKER, None)
        observed.pop(f".{serving.COMPLETE_MARKER}.tmp", None)
        assert observed == model
    print(f"\nkill-and-rerun test: {time.monotonic() - start:.0f} s")
