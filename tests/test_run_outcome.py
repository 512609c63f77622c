"""A run reports its own outcome: the summary and the exit code read the artifacts this run
resolved (cached or not), never the newest ones of the pipeline. The runs are conftest's
`reruns` on a copy of pushed_run's output."""

import re

import pytest

pytestmark = pytest.mark.e2e


def _gate_report(printed: str) -> str:
    return re.search(r"^Gate report of baseline: (.+)$", printed, re.M).group(1)


def test_a_fully_cached_rerun_reports_its_own_outcome(pushed_run, reruns):
    assert "Outcome: blessed" in pushed_run["printed"]
    # Rerun: the champion is now pushed_run's model, so evaluation re-runs.
    again = reruns["again"]
    assert again["code"] == 0 and "Outcome: blessed" in again["printed"]
    # Same data, then bounds it cannot meet: the pipeline's newest gate report says refused.
    refused = reruns["drop"]
    assert refused["code"] == 0 and "Outcome: not blessed" in refused["printed"]
    # The first flags again: every step comes from the cache, and its outcome is its own.
    code, cached = reruns["cached"]["code"], reruns["cached"]["printed"]
    assert code == 0, cached[-3000:]
    assert "Outcome: blessed" in cached and "Outcome: not blessed" not in cached
    assert "Reused from the cache:" in cached and "FairnessGate" in cached
    assert (
        _gate_report(cached) == _gate_report(again["printed"]) != _gate_report(refused["printed"])
    )
