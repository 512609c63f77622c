"""TFMA metric values as the report reads them: point values, confidence intervals, and the
rows of one evaluation (overall and each identity group)."""

from __future__ import annotations

from dataclasses import dataclass

from components.intervals import finite
from contract import (
    ACCURACY_METRIC,
    AUC_METRIC,
    COUNT_METRIC,
    FNR_METRIC,
    FPR_METRIC,
    OVERALL,
    group_of_slice,
)

FPR, FNR, AUC, COUNT, ACCURACY = FPR_METRIC, FNR_METRIC, AUC_METRIC, COUNT_METRIC, ACCURACY_METRIC
FI_FPR = "fairness_indicators_metrics/false_positive_rate@{}"
FI_FNR = "fairness_indicators_metrics/false_negative_rate@{}"

__all__ = ["OVERALL", "Value", "fmt", "parse_row", "parse_value", "slice_rows"]


@dataclass(frozen=True)
class Value:
    """A metric's point value and, when TFMA computed one, its confidence interval."""

    value: float | None
    lower: float | None = None
    upper: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.lower is not None and self.upper is not None


def parse_value(raw) -> Value:
    """One metric as TFMA's EvalResult holds it: a number, {"doubleValue": x}, or, with
    confidence intervals, {"boundedValue": {"value", "lowerBound", "upperBound"}}. TFMA writes
    NaN bounds as the string "NaN" (e.g. FNR on a slice without positives)."""
    if isinstance(raw, dict) and "boundedValue" in raw:
        bounded = raw["boundedValue"]
        lower, upper = finite(bounded.get("lowerBound")), finite(bounded.get("upperBound"))
        if lower is None or upper is None:
            lower = upper = None
        return Value(finite(bounded.get("value")), lower, upper)
    if isinstance(raw, dict):
        return Value(finite(raw.get("doubleValue")))
    return Value(finite(raw))


def parse_row(metrics: dict) -> dict[str, Value]:
    return {name: parse_value(raw) for name, raw in metrics.items()}


def slice_rows(slicing_metrics) -> dict[str, dict[str, Value]]:
    """TFMA EvalResult.slicing_metrics -> Value rows for "overall" and each group. The
    cross-slice rows (overall - group) are left out: the report computes the same gap from
    the two slices, for groups TFMA had no cross slice for too."""
    from tensorflow_model_analysis.slicer import slicer_lib

    slices: dict[str, dict[str, Value]] = {}
    for slice_key, by_output in slicing_metrics:
        if slicer_lib.is_cross_slice_key(slice_key):
            continue
        row = parse_row((by_output or {}).get("", {}).get("", {}))
        if not slice_key:
            slices[OVERALL] = row
        elif (group := group_of_slice(slice_key)) is not None:
            slices[group] = row
    return slices


def fmt(value, digits: int = 3, signed: bool = False) -> str:
    """A number for a table cell; "-" when there is none."""
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
