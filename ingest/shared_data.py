"""Where the real public datasets (Gab Hate Corpus, Wikipedia toxicity) live on this machine."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "FAIR_TOXICITY_DATA"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT = Path("..") / "shared" / "data"


def shared_data_dir() -> Path:
    """The folder named by $FAIR_TOXICITY_DATA, else ../shared/data.

    A relative path is taken from the project root, not the working directory, so tests and
    benchmarks started from anywhere find the same folder. The folder may not exist: callers
    skip or stop with a message that names it.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    path = Path(value).expanduser() if value else DEFAULT
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()
