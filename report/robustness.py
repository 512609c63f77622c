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


def swap_rows(runs, pairs=None) -> list[dict] | None:
    """Each run's own model on the Wikipedia identity-swap pairs: the share of decisions (at
    the model's operating point, through its `score_text` signature) that flip when identity
    terms are swapped, and the mean absolute change of the probability. None when the pairs
    are absent (../shared/data) or no run has a model to load."""
    from tfx.utils import path_utils

    from components.serving import load_scorer
    from ingest.shared_data import wiki_swap_pairs

    pairs = pairs if pairs is not None else wiki_swap_pairs()
    if pairs is None:
        return None
    originals, swapped = pairs
    rows = []
    for run in runs:
        if not run.model_uri:
            continue
        score = load_scorer(path_utils.serving_model_path(run.model_uri))
        before, after = score(list(originals)), score(list(swapped))
        flips = [a["is_toxic"] != b["is_toxic"] for a, b in zip(before, after, strict=True)]
        changes = [abs(a["toxicity"] - b["toxicity"]) for a, b in zip(before, after, strict=True)]
        rows.append(
            {"name": run.name, "pairs": len(flips), "flip_rate": sum(flips) / len(flips),
             "mean_abs_score_change": sum(changes) / len(changes)}
        )  # fmt: skip
    return rows or None
