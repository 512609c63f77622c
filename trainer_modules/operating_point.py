"""The operating point: the decision threshold picked on the validation split, and the record of
it that travels with the model (`operating_point.json` beside `saved_model.pb`).

A comment counts as toxic when its score is strictly above the threshold, TFMA's rule for its
confusion-matrix metrics; the rates and the threshold rule are `rates`' (the top-level module).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

import rates
from contract import OPERATING_POINT_FILE


def toxic(labels) -> np.ndarray:
    """The trainers' rule for which rows are toxic: a label above 0.5 (the Transform's labels
    are 0 or 1; `rates` takes this mask)."""
    return np.asarray(labels).reshape(-1) > 0.5


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
    flags = toxic(labels)
    if override is not None:
        threshold, source = float(override), "override"
    else:
        threshold, source = rates.threshold_at_fpr(scores, flags, target_fpr), "validation"
    at = rates.rates_at(scores, flags, threshold)
    return OperatingPoint(
        threshold=threshold,
        source=source,
        target_fpr=target_fpr,
        validation_fpr=at["fpr"],
        validation_tpr=at["tpr"],
        validation_auc=rates.auc(scores, flags),
        validation_examples=int(np.asarray(scores).size),
    )


def write(point: OperatingPoint, model_dir: str) -> str:
    import tensorflow as tf

    path = os.path.join(model_dir, OPERATING_POINT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(point.to_json(), f, indent=2, sort_keys=True)
    return path
