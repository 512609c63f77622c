"""Post-processing: a decision threshold per identity group, fitted on the validation split,
that harms no group.

The rule (docs/postprocessing.md): every threshold is at least the base model's own (its
operating point), so post-processing can only flag fewer comments than the base model, never
more, for any group, judged or not:

- each group with at least `min_rows` non-toxic validation rows gets the threshold at which its
  own FPR is the target, or the base threshold when that is higher (a group already under the
  target keeps the base decision instead of paying for the others);
- each group with fewer rows keeps the base threshold: its FPR cannot be judged on validation;
- the rows tagged with no group get the threshold at which their FPR is the target, or the base
  threshold when that is higher. Lowering it would raise the FPR of every group the keyword
  lists miss: on the Gab Hate Corpus an untagged threshold of 0.129 against a base of 0.192
  flagged 74% of the non-toxic "lgbt" madlibs templates against the base model's 44%.

An example tagged with several groups takes the highest of their thresholds (the one that flags
least). This uses identity terms at inference time; docs/postprocessing.md gives the objections.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import rates
from trainer_modules.operating_point import OperatingPoint, toxic


def fit_group_thresholds(
    scores, labels, tags: dict[str, np.ndarray], target_fpr: float, min_rows: int, base: float
) -> tuple[float, dict[str, float]]:
    """(threshold of the untagged rows, {group: threshold}) on validation scores, every group
    of `tags` included: fitted groups at max(base, own target-FPR threshold), the others at
    `base`, the base model's own operating point; the untagged rows at max(base, their own
    target-FPR threshold).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    negative, flags = labels < 0.5, toxic(labels)
    fitted = _fitted_groups(tags, negative, min_rows)
    own = {g: float(base) for g in tags}
    for g, m in fitted.items():
        own[g] = max(float(base), rates.threshold_at_fpr(scores[m], flags[m], target_fpr))
    tagged = np.zeros(len(scores), dtype=bool)
    for mask in tags.values():
        tagged |= np.asarray(mask, dtype=bool)
    untagged = ~tagged
    if (untagged & negative).sum() == 0:
        return float(base), own
    rest = rates.threshold_at_fpr(scores[untagged], flags[untagged], target_fpr)
    return max(float(base), rest), own


def threshold_notes(
    tags: dict, labels, min_rows: int, own: dict[str, float], base: float, rest: float
) -> dict[str, str]:
    """Per group (and for the untagged rows), why its threshold is what it is."""
    negative = np.asarray(labels).reshape(-1) < 0.5
    notes = {}
    for group, mask in sorted(tags.items()):
        n = int((np.asarray(mask, dtype=bool) & negative).sum())
        if n < min_rows:
            notes[group] = (
                f"{n} non-toxic validation rows, fewer than postprocess_min_rows {min_rows}: "
                "keeps the base threshold"
            )
        elif own[group] > base:
            notes[group] = f"its own threshold, at the target FPR on {n} non-toxic rows"
        else:
            notes[group] = f"at the base threshold its FPR on {n} non-toxic rows is within target"
    notes["untagged"] = (
        "its own threshold, at the target FPR" if rest > base else "keeps the base threshold"
    )
    return notes


def fitted_groups(tags: dict, labels, min_rows: int) -> list[str]:
    """The groups with enough non-toxic rows to get a threshold of their own."""
    negative = np.asarray(labels).reshape(-1) < 0.5
    return sorted(_fitted_groups(tags, negative, min_rows))


def _fitted_groups(tags: dict, negative: np.ndarray, min_rows: int) -> dict[str, np.ndarray]:
    """The groups with at least `min_rows` non-toxic rows, the ones given a threshold of their
    own, with their masks as booleans."""
    masks = {g: np.asarray(m, dtype=bool) for g, m in tags.items()}
    return {g: m for g, m in masks.items() if int((m & negative).sum()) >= min_rows}


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


def group_threshold_point(
    point: OperatingPoint, scores, labels, tags: dict, target_fpr: float, min_rows: int
) -> OperatingPoint:
    """The post-processed operating point, a new record on `point` (the base model's own): the
    untagged rows' threshold, each group's, how each was set, and the validation rates of the
    post-processed decisions rather than of the base threshold."""
    base = point.threshold
    rest, own = fit_group_thresholds(scores, labels, tags, target_fpr, min_rows, base)
    flagged = decisions(scores, tags, rest, own)
    negative = np.asarray(labels).reshape(-1) < 0.5
    return dataclasses.replace(
        point,
        threshold=rest,
        postprocess="group_thresholds",
        group_thresholds=own,
        base_threshold=base,
        fitted_groups=fitted_groups(tags, labels, min_rows),
        threshold_notes=threshold_notes(tags, labels, min_rows, own, base, rest),
        validation_fpr=float(flagged[negative].mean()),
        validation_tpr=float(flagged[~negative].mean()),
    )
