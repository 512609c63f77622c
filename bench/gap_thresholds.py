"""Per-group thresholds under a bound on each group's FPR gap: the benchmarks' feasibility
reference for the group-blind methods (bench/tradeoff_frontier.py, bench/group_blind_study.py).
The pipeline's post-processing is trainer_modules/postprocess.py's, whose thresholds never go
below the base model's; this one may lower the common threshold below it to hold the overall
FPR at the target, flagging more of some rows than the base model does."""

from __future__ import annotations

import numpy as np

import rates
from trainer_modules.postprocess import fitted_groups


def fit_gap_bounded_thresholds(
    scores, labels, tags: dict[str, np.ndarray], target_fpr: float, max_gap: float, min_rows: int
) -> tuple[float, dict[str, float]]:
    """(common threshold, {group: own threshold}) on validation scores: the overall FPR is the
    target, and each group with at least `min_rows` non-toxic rows has FPR <= target + max_gap.

    A group's own threshold is the common one, raised to its (target + max_gap)-FPR threshold
    only where the common one flags more than that; the common threshold is then the one at
    which the overall FPR, under these decisions, is the target. With
    `postprocess.decisions`, a row is flagged when it is above the common threshold and above
    its groups' bound thresholds, so the common threshold is the target's quantile of the
    negatives above their bounds.
    """
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    negative = np.asarray(labels).reshape(-1) < 0.5
    fitted = set(fitted_groups(tags, labels, min_rows))
    masks = {g: np.asarray(m, dtype=bool) for g, m in tags.items() if g in fitted}
    bound_fpr = min(target_fpr + max_gap, 1.0 - 1e-9)
    bounds = {
        g: rates.threshold_at_fpr(scores[m], ~negative[m], bound_fpr) for g, m in masks.items()
    }
    floor = np.full(len(scores), -np.inf)
    for g, bound in bounds.items():
        floor = np.where(masks[g], np.maximum(floor, bound), floor)
    eligible = np.sort(scores[negative & (scores > floor)])[::-1]
    k = int(round(target_fpr * int(negative.sum())))
    if k <= 0:
        common = float(np.nextafter(scores.max(), np.inf))
    elif k >= len(eligible):
        # The bounds flag fewer than the target: the common threshold flags everything else.
        common = float(np.nextafter(scores.min(), -np.inf))
    else:
        common = rates.threshold_at_fpr(eligible, np.zeros(len(eligible), bool), k / len(eligible))
    return common, {g: max(common, bound) for g, bound in bounds.items()}
