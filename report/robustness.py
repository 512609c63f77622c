"""The identity-swap robustness benchmark's figures (bench/results/robustness.json, written by
bench/robustness.py), for the report's section; nothing when the file does not exist."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "robustness.json"
METHODS = ("baseline", "clp", "clp_control")
COLUMNS = (
    ("flip_rate", "identity-swap flip rate"),
    ("mean_abs_score_change", "mean |score change|"),
    ("auc", "GHC test AUC"),
    ("tpr", "TPR"),
    ("max_gap", "largest group FPR gap"),
)


def mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def summary(path: Path | None = None) -> dict | None:
    """Headers and one row per method (mean ± sd over seeds), the CLP weight and the command;
    None when the file is absent."""
    path = Path(path or RESULTS)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: not valid JSON ({error}); rerun `bench/robustness.py measure` or delete it"
        ) from None
    rows = [
        {"method": m, "seeds": len(data[m]["seeds"]),
         "cells": [mean_sd(data[m].get(key, [])) for key, _ in COLUMNS]}
        for m in METHODS if m in data
    ]  # fmt: skip
    return {
        "headers": [label for _, label in COLUMNS],
        "rows": rows,
        "clp_weight": data.get("clp_weight"),
        "command": data.get("command", ""),
    }
