"""Hand-made report runs (TFMA-shaped metric dicts, gate reports) for the report tests."""

import struct

import numpy as np

from report import matching
from report.bounds import GateBounds
from report.results import RunResult
from report.values import OVERALL, parse_row

GROUPS = ("gender", "sexual_orientation", "religion", "race", "disability")
BOUNDS = GateBounds(
    decision_threshold=0.5,
    max_group_fpr=0.2,
    max_fpr_gap=0.05,
    min_auc=0.75,
    min_slice_size=30,
    groups=GROUPS,
    fairness_thresholds=(0.1, 0.5, 0.9),
    confidence_intervals=True,
)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def bounded(value, lower, upper) -> dict:
    return {"boundedValue": {"value": value, "lowerBound": lower, "upperBound": upper}}


def metric_rows(fpr: dict[str, float], bounded_values: bool) -> dict[str, dict]:
    """TFMA-shaped metric dicts per slice: bounded (with CIs) or plain doubleValue."""
    counts = {OVERALL: 500, "gender": 12, **{g: 80 for g in GROUPS if g != "gender"}}
    rows = {}
    for name, rate in fpr.items():

        def wrap(v, spread=0.03):
            if bounded_values:
                return bounded(v, max(0.0, v - spread), min(1.0, v + spread))
            return {"doubleValue": v}

        rows[name] = {
            "example_count": {"doubleValue": float(counts[name])},
            "fall_out": wrap(rate),
            "miss_rate": wrap(0.3),
            "auc": wrap(0.8),
            "binary_accuracy": wrap(0.9),
            **{
                f"fairness_indicators_metrics/false_positive_rate@{t}": wrap(rate)
                for t in (0.1, 0.5, 0.9)
            },
            **{
                f"fairness_indicators_metrics/false_negative_rate@{t}": wrap(0.3)
                for t in (0.1, 0.5, 0.9)
            },
        }
    return rows


def make_run(name, fpr, auc, gate, bounded_values=True) -> RunResult:
    rows = metric_rows(fpr, bounded_values)
    rows[OVERALL]["auc"] = (
        bounded(auc, auc - 0.02, auc + 0.02) if bounded_values else {"doubleValue": auc}
    )
    return RunResult(
        name=name,
        slices={s: parse_row(r) for s, r in rows.items()},
        bounds=BOUNDS,
        gate=gate,
        pipeline="fair-toxicity",
        evaluation_uri=f"/out/{name}/Evaluator/evaluation/1",
    )


def gate_report(failures=(), skipped=None) -> dict:
    return {
        "blessed": not failures,
        "failures": [
            {"slice": s, "metric": m, "value": v, "bound": b, "message": ""}
            for s, m, v, b in failures
        ],
        "skipped": skipped
        if skipped is not None
        else {"gender": "12 eval examples, fewer than 30"},
        "slice_metrics": {},
    }


BASELINE_FAILURES = [
    ("religion", "false_positive_rate", 0.31, "<= 0.2"),
    ("overall minus religion", "false_positive_rate (overall - group)", -0.21, ">= -0.05"),
]


def sample_runs() -> list[RunResult]:
    """A baseline failing the gate and two fairer models, one without intervals."""
    base_fpr = {OVERALL: 0.10, "gender": 0.40, "sexual_orientation": 0.25, "religion": 0.31,
                "race": 0.12, "disability": 0.09}  # fmt: skip
    fair_fpr = {OVERALL: 0.09, "gender": 0.30, "sexual_orientation": 0.12, "religion": 0.13,
                "race": 0.10, "disability": 0.08}  # fmt: skip
    return [
        make_run("baseline", base_fpr, 0.91, gate_report(BASELINE_FAILURES)),
        make_run("min_diff", fair_fpr, 0.88, gate_report(), bounded_values=False),
        make_run("tfco", fair_fpr, 0.86, gate_report()),
    ]


def scored(scores, labels, groups=None) -> matching.Scored:
    scores, labels = np.asarray(scores, float), np.asarray(labels, float)
    groups = groups or {"religion": np.zeros(len(scores), bool)}
    return matching.Scored(scores, labels, groups)
