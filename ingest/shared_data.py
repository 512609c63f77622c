"""Where the real public datasets (Gab Hate Corpus, Wikipedia toxicity) live on this machine."""

from __future__ import annotations

import csv
import os
import re
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


_NOT_WORD = re.compile(r"[^\w]+")
WIKI_SWAPS = ("toxicity_nonfuzzed_testset.csv", "toxicity_fuzzed_testset.csv")
# Dixon et al.'s non-toxic identity sentences (trainer_modules/augmentation.py).
DEBIASING_FILE = Path("wiki_toxicity") / "toxicity_debiasing_data.tsv"


def words(text: str) -> list[str]:
    return _NOT_WORD.sub(" ", text.lower()).split()


def wiki_swap_pairs(data_dir: Path | None = None) -> tuple[list[str], list[str]] | None:
    """The Wikipedia identity test set's comments and the same comments with their identity
    terms swapped, paired by rev_id, only the pairs whose words differ; None when the files
    are absent. ValueError when the two files do not hold the same comments."""
    wiki = Path(data_dir or shared_data_dir()) / "wiki_toxicity"
    paths = [wiki / name for name in WIKI_SWAPS]
    if not all(p.exists() for p in paths):
        return None
    tables = []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as f:
            tables.append({r["rev_id"]: r["comment"] for r in csv.DictReader(f)})
    original, fuzzed = tables
    if set(original) != set(fuzzed):
        raise ValueError(f"{paths[0]} and {paths[1]} hold different rev_ids")
    ids = [i for i in original if words(original[i]) != words(fuzzed[i])]
    return [original[i] for i in ids], [fuzzed[i] for i in ids]
