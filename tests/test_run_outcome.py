"""A run reports its own outcome: the summary and the exit code read the artifacts this run
resolved (cached or not), never the newest ones of the pipeline."""

import re

import pytest

import local_runner
from tests import runs

pytestmark = pytest.mark.e2e


def _run(out, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = local_runner.main(["run", "--output", str(out), *runs.TINY, *extra])
    return code, capsys.readouterr().out


def _gate_report(printed: str) -> str:
    return re.search(r"^Gate report of baseline: (.+)$", printed, re.M).group(1)


def test_a_fully_cached_rerun_reports_its_own_outcome(tmp_path, capsys):
    first = [*runs.LENIENT, "--require-blessing"]
    assert _run(tmp_path, capsys, *first)[0] == 0
    # Rerun: the champion is now the Evaluator's baseline, so evaluation re-runs.
    code, rerun = _run(tmp_path, capsys, *first)
    assert code == 0 and "Outcome: blessed" in rerun
    # Other data on the same output, refused: the pipeline's newest gate report says so.
    other = ["--data-seed", "1", *runs.LENIENT, "--min-auc", "0.999"]
    code, refused = _run(tmp_path, capsys, *other)
    assert code == 0 and "Outcome: not blessed" in refused
    # The first run again: every step comes from the cache, and its outcome is its own.
    code, cached = _run(tmp_path, capsys, *first)
    assert code == 0, cached[-3000:]
    assert "Outcome: blessed" in cached and "Outcome: not blessed" not in cached
    assert "Reused from the cache:" in cached and "FairnessGate" in cached
    assert _gate_report(cached) == _gate_report(rerun) != _gate_report(refused)
