"""Crash safety: a pipeline killed with SIGKILL during the Trainer reruns from its cache, and the
serving folder only ever shows complete models. The runs are conftest's pushed_run: the killed
run, then the rerun that pushed."""

import json
import signal

import pytest

from components import serving
from contract import MODEL_CARD_HTML, MODEL_CARD_MD
from tests import runs

pytestmark = pytest.mark.e2e

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


def test_sigkill_during_the_trainer_leaves_no_push_and_no_noise(pushed_run):
    killed = pushed_run["killed"]
    assert killed["code"] == -signal.SIGKILL
    states = killed["states"]
    assert states["ExampleGen"] == states["Transform"] == [runs.COMPLETE]
    assert states["Trainer.baseline"] == [runs.RUNNING]
    assert "Pusher" not in states and killed["versions"] == []
    assert_quiet(killed["stderr"])


def test_the_rerun_uses_the_cache_and_names_the_interruption(pushed_run):
    # A successful run, from the CUDA set-up to the push: none of the stack's noise.
    assert_quiet(pushed_run["stderr"])
    killed_run = pushed_run["killed"]["run"]
    assert (
        f"Interrupted earlier: Trainer.baseline of run {killed_run} never finished"
        in pushed_run["printed"]
    )
    rerun = pushed_run["states"]
    for node in ("ExampleGen", "StatisticsGen", "Transform"):
        assert rerun[node] == [runs.CACHED], node
    assert rerun["Trainer.baseline"] == rerun["Pusher"] == [runs.COMPLETE]


def test_every_look_at_the_serving_folder_saw_a_whole_model(pushed_run):
    served = pushed_run["serving"]
    [version] = runs.versions(served)
    assert serving.is_complete(served / version)
    with open(served / version / serving.COMPLETE_MARKER) as f:
        model = runs.files_and_sizes(json.load(f)["source"])
    # The model card goes into the temporary folder with the model, so it is there from the
    # version's first appearance.
    cards = (MODEL_CARD_MD, MODEL_CARD_HTML)
    final = runs.files_and_sizes(served / version)
    assert set(cards) <= set(final)
    model.update({name: final[name] for name in cards})
    # Every look at the version folder, from its first appearance, saw the whole model.
    assert pushed_run["seen"][version]
    for observed in pushed_run["seen"][version]:
        # The marker, and its temporary file while it is written, come after the model.
        observed = dict(observed)
        observed.pop(serving.COMPLETE_MARKER, None)
        observed.pop(f".{serving.COMPLETE_MARKER}.tmp", None)
        assert observed == model
