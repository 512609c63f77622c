"""The operating point: the decision threshold picked on the validation split, and the record of
it that travels with the model (`operating_point.json` beside `saved_model.pb`).

A comment counts as toxic when its score is strictly above the threshold, TFMA's rule for its
confusion-matrix metrics; every count here follows that rule.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from contract import OPERATING_POINT_FILE


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve (ties count half), by the rank-sum statistic."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1) > 0.5
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def rates_at(scores, labels, threshold: float) -> dict[str, float]:
    """FPR and TPR (recall) at a threshold, counting a score > threshold as positive."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1) > 0.5
    flagged = scores > threshold
    negatives, positives = int((~labels).sum()), int(labels.sum())
    return {
        "fpr": float((flagged & ~labels).sum() / negatives) if negatives else float("nan"),
        "tpr": float((flagged & labels).sum() / positives) if positives else float("nan"),
    }


def threshold_at_fpr(scores, labels, target_fpr: float) -> float:
    """The threshold at which the share of negatives scoring above it is `target_fpr`.

    With n negatives, the k = round(target * n) highest negative scores lie above the
    threshold: it sits halfway between the k-th and (k+1)-th highest, so scores on new data
    between the two fall on the side the validation split puts them nearest.
    """
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"target FPR must be in (0, 1), got {target_fpr}")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1) > 0.5
    negatives = np.sort(scores[~labels])[::-1]
    if len(negatives) == 0:
        raise ValueError("no non-toxic validation examples: cannot pick a threshold")
    k = int(round(target_fpr * len(negatives)))
    if k <= 0:
        return float(np.nextafter(negatives[0], np.inf))
    if k >= len(negatives):
        return float(np.nextafter(negatives[-1], -np.inf))
    above, below = negatives[k - 1], negatives[k]
    threshold = (above + below) / 2.0
    # Equal neighbours: step just below the tie so the tied scores count as positives.
    return float(threshold if threshold < above else np.nextafter(above, -np.inf))


def logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1.0 - p))


@dataclass
class OperatingPoint:
    """The decision threshold and where it came from, as written beside the model."""

    threshold: float
    source: str  # "validation" (picked at target_fpr) or "override" (--decision-threshold)
    target_fpr: float | None = None
    validation_fpr: float | None = None
    validation_tpr: float | None = None
    validation_auc: float | None = None
    validation_examples: int = 0
    best_epoch: int | None = None
    # Post-processing (docs/postprocessing.md): "group_thresholds" gives these groups their own
    # threshold; `threshold` is then the threshold of the rows tagged with no group, and every
    # group's threshold is at least `base_threshold`, the base model's own operating point.
    postprocess: str = "none"
    group_thresholds: dict[str, float] | None = None
    base_threshold: float | None = None
    # The groups with enough validation rows for a threshold of their own; the others keep
    # base_threshold.
    fitted_groups: list[str] | None = None
    # Per group and for "untagged": why its threshold is what it is (postprocess.threshold_notes).
    threshold_notes: dict[str, str] | None = None

    def to_json(self) -> dict:
        return asdict(self)


def choose(scores, labels, target_fpr: float, override: float | None = None) -> OperatingPoint:
    """The operating point on validation scores: at `target_fpr`, or the explicit override."""
    if override is not None:
        threshold, source = float(override), "override"
    else:
        threshold, source = threshold_at_fpr(scores, labels, target_fpr), "validation"
    rates = rates_at(scores, labels, threshold)
    return OperatingPoint(
        threshold=threshold,
        source=source,
        target_fpr=target_fpr,
        validation_fpr=rates["fpr"],
        validation_tpr=rates["tpr"],
        validation_auc=roc_auc(scores, labels),
        validation_examples=int(np.asarray(scores).size),
    )


def write(point: OperatingPoint, model_dir: str) -> str:
    import tensorflow as tf

    path = os.path.join(model_dir, OPERATING_POINT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(point.to_json(), f, indent=2, sort_keys=True)
    return path
