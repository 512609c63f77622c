import os
import sys
from pathlib import Path

import pytest

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from ingest.shared_data import shared_data_dir

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = shared_data_dir()
SCHEMA_PATH = PROJECT_ROOT / "schema" / "schema.pbtxt"

sys.path.insert(0, str(PROJECT_ROOT))


# The session fixtures that run whole pipelines. `make test` runs the suite on one xdist worker
# per core (--dist loadgroup): the tests that use one of these share a worker, so that each
# pipeline runs once, and every other test goes with its module, so that a module's fixtures
# run once too.
PIPELINE_FIXTURES = ("pushed_run", "runs_at_once")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = [f for f in PIPELINE_FIXTURES if f in getattr(item, "fixturenames", ())]
        group = used[0] if used else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    yield


@pytest.fixture(scope="session")
def pushed_run(tmp_path_factory):
    """One tiny run of every candidate (lenient bounds bless them all; the selected one is
    pushed), whose push later tests must leave untouched, reached the hard way: a first run is
    killed with SIGKILL during the baseline's Trainer, and a rerun, watched all along,
    completes it from the cache (test_crash_safety asserts on both). Both are processes of
    their own, as a user's runs are. Its data holds valid-but-odd comments (empty, 100,000
    characters, invalid UTF-8, control characters), so the runs also show that they flow
    through every step of every trainer. A test that reruns on its output works on a copy
    (runs.copy_output) with `data` as --data."""
    from pipeline import mlmd
    from tests import runs

    out = tmp_path_factory.mktemp("pushed-run")
    data = runs.write_data(out / "data", *runs.CANDIDATES_SIZES, weird=True)
    root = out / "root"
    metadata, serving = root / "metadata.sqlite", root / "serving"
    command = runs.runner_command("run", "--data", str(data), "--output", str(root), *runs.PUSHED)
    killed_log, killed_err = out / "killed.log", out / "killed.err"
    killed = {"code": runs.kill_during_training(command, metadata, killed_log, killed_err)}
    killed.update(states=runs.latest_run(metadata), run=max(runs.executions_by_run(metadata)),
                  versions=runs.versions(serving), stderr=killed_err)  # fmt: skip
    log, err = out / "rerun.log", out / "rerun.err"
    code, seen = runs.run_watching(command, serving, log, err)
    printed = log.read_text(errors="replace")
    failed = printed[-3000:] + err.read_text(errors="replace")[-3000:]
    assert code == 0 and len(runs.versions(serving)) == 1, failed
    return {
        "data": data,
        "output": root,
        "serving": serving,
        "metadata": metadata,
        "printed": printed,
        "stderr": err,
        # Node -> execution states of the rerun, before later tests add runs to the store.
        "states": runs.latest_run(metadata),
        # The champion of every later run on this output (or a copy of it).
        "outcome": mlmd.latest_outcome(str(metadata), runs.PIPELINE),
        "killed": killed,
        "seen": seen,
    }


# The report of reruns: a candidate evaluated without intervals, and one with them.
REPORTED = ["tfco", "min_diff"]


@pytest.fixture(scope="session")
def reruns(pushed_run, tmp_path_factory):
    """Reruns on a copy of pushed_run's output (so that its one version stays the only one),
    in this order, each judged against the champion (pushed_run's selected model): `recall`,
    the baseline and MinDiff at a threshold of 0.999 that flags nothing (retrained), both
    refused by the recall floor; `drop`, that MinDiff (cached) re-evaluated with confidence
    intervals and refused only by the recall drop against the champion, with no
    --require-blessing (a floor and a change bound on one metric report one failure, so they
    need two runs), after which `report` compares TFCO (pushed_run's evaluation) with it;
    `cached`, recall's flags once more (every step from the cache, while the newest outcome
    is drop's). Each with the serving folder before and after, its states and its outcome."""
    from pipeline import mlmd
    from tests import runs

    out = runs.copy_output(pushed_run["output"], tmp_path_factory.mktemp("reruns") / "root")
    flags = ["--data", str(pushed_run["data"]), "--output", str(out), *runs.PUSHED]
    recall = ["--candidates", "baseline,min_diff", "--decision-threshold", "0.999",
              "--min-tpr", "0.2", "--require-blessing"]  # fmt: skip
    steps = {
        "recall": recall,
        # The champion's recall on the toxic eval rows is above 0: any drop.
        "drop": ["--candidates", "min_diff", "--decision-threshold", "0.999",
                 "--max-tpr-drop", "0.01", "--confidence-intervals"],
        "cached": recall,
    }  # fmt: skip
    metadata = str(out / "metadata.sqlite")
    done = {"output": out}
    for name, extra in steps.items():
        before = runs.snapshot(out / "serving")
        code, printed, errors = runs.run_pipeline(*flags, *extra)
        done[name] = {
            "code": code,
            "printed": printed,
            "errors": errors,
            "metadata": metadata,
            "serving_before": before,
            "serving_after": runs.snapshot(out / "serving"),
            "states": runs.latest_run(metadata),
            "outcome": mlmd.latest_outcome(metadata, runs.PIPELINE),
        }
        if name == "drop":
            # TFCO's evaluation is pushed_run's: comparing it asks for mixed runs.
            done["report"] = runs.report(out, REPORTED, out / "ci-report", "--mix-runs")
    return done


@pytest.fixture(scope="session")
def runs_at_once(tmp_path_factory):
    """Two tiny runs started at once on one SQLite store, each on its own output folder and
    without the cache (so each computes its own artifacts): `first` runs Beam in process,
    `second` on 2 multi-processing workers. For test_shared_metadata and test_scale_out."""
    from tests import runs

    folder = tmp_path_factory.mktemp("at-once")
    store = folder / "shared-metadata.sqlite"
    codes, watch = runs.runs_at_once(folder, store, {"first": 1, "second": 2})
    return {"folder": folder, "store": store, "codes": codes, "workers": watch.workers}
