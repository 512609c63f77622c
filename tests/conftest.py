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
    """One tiny blessed run whose push later tests must leave untouched. Its data holds
    valid-but-odd comments (empty, 100,000 characters, invalid UTF-8, control characters),
    so the run also shows that they flow through every step."""
    import contextlib
    import io

    import local_runner
    from tests import runs

    out = tmp_path_factory.mktemp("pushed-run")
    data = runs.write_data(out / "data", weird=True)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = local_runner.main(["run", "--data", str(data), "--output", str(out / "root"),
                                  "--epochs", "1", *runs.ONE, *runs.LENIENT])  # fmt: skip
    serving = out / "root" / "serving"
    assert code == 0 and len(runs.versions(serving)) == 1, printed.getvalue()[-3000:]
    return {
        "data": data,
        "output": out / "root",
        "serving": serving,
        "metadata": out / "root" / "metadata.sqlite",
        "printed": printed.getvalue(),
        # Node -> execution states of this run, before later tests add runs to the store.
        "states": runs.latest_run(out / "root" / "metadata.sqlite"),
    }
