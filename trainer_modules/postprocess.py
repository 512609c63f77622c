"""Post-processing: a decision threshold per identity group, fitted on the validation split.

Each group with enough non-toxic validation rows gets the threshold at which its own FPR is the
target; the rows of no such group get the threshold at which their FPR is the target. So on
validation every judged group's FPR, and the overall FPR, equal the target. An example tagged
with several fitted groups takes the highest of their thresholds (the one that flags least).

This uses identity terms at inference time; docs/postprocessing.md gives the objections.
"""

from __future__ import annotations

import numpy as np

from trainer_modules.operating_point import threshold_at_fpr

METHODS = ("none", "group_thresholds")


def fit_group_thresholds(
    scores, labels, tags: dict[str, np.ndarray], target_fpr: float, min_rows: int
) -> tuple[float, dict[str, float]]:
    """(threshold of the rest, {group: own threshold}) on validation scores.

    `tags` maps each group to a boolean mask over the rows; a group is fitted when it has at
    least `min_rows` non-toxic rows.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    negative = labels < 0.5
    fitted = {
        g: mask for g, mask in tags.items() if int((np.asarray(mask) & negative).sum()) >= min_rows
    }
    own = {g: threshold_at_fpr(scores[m], labels[m], target_fpr) for g, m in fitted.items()}
    in_fitted = np.zeros(len(scores), dtype=bool)
    for mask in fitted.values():
        in_fitted |= np.asarray(mask, dtype=bool)
    rest = ~in_fitted
    if (rest & negative).sum() == 0:
        rest = np.ones(len(scores), dtype=bool)
    return threshold_at_fpr(scores[rest], labels[rest], target_fpr), own


def decisions(scores, tags: dict[str, np.ndarray], rest: float, own: dict[str, float]):
    """The post-processed decisions, as the serving graph makes them (for tests and benches)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    thresholds = np.full(len(scores), -np.inf)
    for group, threshold in own.items():
        thresholds = np.where(
            np.asarray(tags[group], dtype=bool), np.maximum(thresholds, threshold), thresholds
        )
    thresholds = np.where(np.isfinite(thresholds), thresholds, rest)
    return scores > thresholds
