"""The report's identity-swap section: each shown model on the Wikipedia identity-swap pairs.
(The benchmark over seeds is bench/robustness.py's, in docs/benchmarks.md: a run's report shows
only that run's models.)"""

from __future__ import annotations


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
