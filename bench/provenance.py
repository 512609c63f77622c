"""Where a results entry comes from (issue 27): the command as run, the code's commit and the
date, stamped on each entry a benchmark (re)computes, and the key its per-run caches use.

Every script that writes bench/results/ calls `stamp` once, at its start, and stores the stamp
under `provenance` in each entry it writes (a dataset, a variant, a seed group; the whole file
when a run rewrites it whole), so that a file several commands wrote names the command, the
commit and the date of each part. bench/check_figures.py reads these stamps.

The commit is git's HEAD, with "-dirty" when a tracked file outside bench/results/ differs from
it (the results files a run rewrites do not make it dirty). Caches of per-run results are kept
under `cache_key()`, which also tells one dirty tree from another (a digest of the diff), so a
run of other code recomputes instead of reusing them.

This module imports nothing heavy: the figures check and the tests read it without TensorFlow.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Paths a run writes itself: they do not make the tree dirty.
_OWN_OUTPUTS = (":(exclude)bench/results",)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.decode("utf-8", "replace")


@functools.cache
def _head_and_diff() -> tuple[str, str]:
    head = (_git("rev-parse", "HEAD") or "").strip()
    if not head:
        return "unknown", ""
    diff = _git("diff", "HEAD", "--", ".", *_OWN_OUTPUTS) or ""
    return head, diff


def commit() -> str:
    """HEAD's full hash, plus "-dirty" when tracked code differs from it; "unknown" outside a
    git checkout. Computed once per process: call it at the start of a run."""
    head, diff = _head_and_diff()
    return head + ("-dirty" if diff else "")


def cache_key() -> str:
    """The key of a per-run cache: HEAD's short hash, plus a digest of the diff when dirty."""
    head, diff = _head_and_diff()
    if head == "unknown":
        return head
    digest = hashlib.sha1(diff.encode()).hexdigest()[:8]
    return head[:12] + (f"-dirty-{digest}" if diff else "")


def command(script: str, argv: list[str] | None = None) -> str:
    """The command line as run: the script's path from the repository root and its arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([script, *args])


def today() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def stamp(script: str, argv: list[str] | None = None, **extra) -> dict:
    """{"command", "commit", "date"} of this run, and any `extra` fields."""
    return {"command": command(script, argv), "commit": commit(), "date": today(), **extra}
