"""A run reports its own outcome: the summary and the exit code read the artifacts this run
resolved (cached or not), never the newest ones of the pipeline. The runs are conftest's
`reruns` on a copy of pushed_run's output."""

import re

import pytest

from tests import runs

pytestmark = pytest.mark.e2e


def _gate_report(printed: str, name: str) -> str:
    return re.search(rf"^Gate report of {name}: (.+)$", printed, re.M).group(1)


def _candidates(printed: str) -> list[str]:
    return sorted(re.findall(r"^Gate report of (\S+):", printed, re.M))


def test_a_fully_cached_rerun_reports_its_own_outcome(reruns):
    # Two candidates refused by the recall floor: with --require-blessing, exit code 3.
    recall = reruns["recall"]
    assert recall["code"] == 3 and "Outcome: not blessed" in recall["printed"]
    # Then MinDiff alone, refused by another bound: the pipeline's newest gate report.
    refused = reruns["drop"]
    assert refused["code"] == 0 and "Outcome: not blessed" in refused["printed"]
    assert _candidates(refused["printed"]) == ["min_diff"]
    # Recall's flags again: every step comes from the cache, and its outcome is its own.
    cached = reruns["cached"]
    printed = cached["printed"]
    assert cached["code"] == 3, printed[-3000:]
    assert "Outcome: not blessed" in printed
    assert "Reused from the cache:" in printed and "FairnessGate" in printed
    # Every step of the run (the champion's resolver is a lookup, not a step).
    steps = {node: states for node, states in cached["states"].items() if "Resolver" not in node}
    assert len(steps) >= 10 and all(s == [runs.CACHED] for s in steps.values()), steps
    assert _candidates(printed) == ["baseline", "min_diff"]
    assert (
        _gate_report(printed, "min_diff")
        == _gate_report(recall["printed"], "min_diff")
        != _gate_report(refused["printed"], "min_diff")
    )
    assert _gate_report(printed, "baseline") == _gate_report(recall["printed"], "baseline")
