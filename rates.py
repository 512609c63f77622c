"""Rates of scored rows, written once: ROC AUC, error rates at a threshold (overall and per
group), and the threshold at a target false-positive rate. The trainers (operating point, early
stopping, post-processing), the bias AUC metric, the report's threshold matching and the
benchmarks all compute them here. Numpy only, so every layer may import it (docs/design.md).

Which rows are toxic is the caller's to say: every function takes a boolean mask `toxic`. The
trainers count a label above 0.5 as toxic (`operating_point.toxic`), the report, the bias AUC
metric and the benchmarks' rates a label of at least 0.5; the Transform's labels are 0 or 1,
where the two agree. A row is flagged when its score is strictly above the threshold, TFMA's rule
for its confusion-matrix metrics.
"""

from __future__ import annotations

import math

import numpy as np


def _mask(toxic) -> np.ndarray:
    toxic = np.asarray(toxic).reshape(-1)
    if toxic.dtype != bool:
        # A float label array would read 0.5 as toxic: the caller must say its rule.
        raise TypeError(f"toxic must be a boolean mask, got dtype {toxic.dtype}")
    return toxic


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of the scores, tied scores at their average rank."""
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def auc(scores, toxic, missing: float | None = math.nan) -> float | None:
    """Area under the ROC curve as the Mann-Whitney statistic, tied scores at their average rank
    (what sklearn.metrics.roc_auc_score computes). Without both toxic and non-toxic rows there is
    none: `missing` (NaN for the trainers and benchmarks, None for the bias AUCs, which leave it
    out). A NaN score makes it NaN."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    toxic = _mask(toxic)
    positives = int(toxic.sum())
    negatives = toxic.size - positives
    if positives == 0 or negatives == 0:
        return missing
    if np.isnan(scores).any():
        return math.nan
    rank_sum = _average_ranks(scores)[toxic].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def rates_at(scores, toxic, threshold: float) -> dict[str, float]:
    """FPR and TPR (recall) at a threshold, as the operating point records them; NaN for a rate
    without rows. Scores compare in float64 (a float32 0.4 is above a threshold of 0.4)."""
    flagged = np.asarray(scores, dtype=np.float64).reshape(-1) > threshold
    toxic = _mask(toxic)
    negatives, positives = int((~toxic).sum()), int(toxic.sum())
    return {
        "fpr": float((flagged & ~toxic).sum() / negatives) if negatives else math.nan,
        "tpr": float((flagged & toxic).sum() / positives) if positives else math.nan,
    }


def group_rates(flagged, toxic, masks: dict) -> dict[str, dict[str, float | int | None]]:
    """Per named set of rows (a boolean mask each, e.g. overall and each identity group): its
    rows, non-toxic and toxic rows, FPR and FNR of the decisions `flagged`; None for a rate
    without rows."""
    flagged, toxic = np.asarray(flagged, dtype=bool).reshape(-1), _mask(toxic)
    out = {}
    for name, mask in masks.items():
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        negatives, positives = mask & ~toxic, mask & toxic
        n_neg, n_pos = int(negatives.sum()), int(positives.sum())
        out[name] = {
            "count": int(mask.sum()),
            "negatives": n_neg,
            "positives": n_pos,
            "fpr": float(flagged[negatives].mean()) if n_neg else None,
            "fnr": float((~flagged[positives]).mean()) if n_pos else None,
        }
    return out


def _negatives_descending(scores, toxic) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    return np.sort(scores[~_mask(toxic)])[::-1]


def threshold_at_fpr(scores, toxic, target_fpr: float) -> float:
    """The threshold at which the share of non-toxic rows scoring above it is `target_fpr`, to
    apply to new data (the operating point, a group's own threshold).

    With n non-toxic rows, the k = round(target * n) highest scores lie above the threshold: it
    sits halfway between the k-th and (k+1)-th highest, so scores on new data between the two
    fall on the side these rows put them nearest.
    """
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"target FPR must be in (0, 1), got {target_fpr}")
    negatives = _negatives_descending(scores, toxic)
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


def threshold_at_most_fpr(scores, toxic, target_fpr: float) -> float | None:
    """The threshold t on these very rows at which the share of non-toxic rows scoring above it
    is the largest not above `target_fpr` (the report's threshold matching): the (k+1)-th
    highest non-toxic score, k = floor(target * n); tied scores there fall below it, so the FPR
    can only be lower than the target. None without non-toxic rows."""
    negatives = _negatives_descending(scores, toxic)
    if negatives.size == 0:
        return None
    k = int(math.floor(target_fpr * negatives.size + 1e-9))
    if k >= negatives.size:
        return float(max(0.0, np.nextafter(negatives[-1], -np.inf)))
    return float(negatives[k])
