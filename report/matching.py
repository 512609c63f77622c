"""Scoring the eval split and threshold matching. (The models are not ranked here: the report
shows the pipeline Selector's recorded decision, report/selection.py.)

Every model is judged at its own operating point (docs/operating_point.md). A model that flags
fewer comments has a lower FPR everywhere, so group FPRs at each model's own point partly compare
how much each model flags rather than how fairly. Each model is therefore also measured at the
threshold at which its overall eval FPR equals the reference model's (baseline when present)
overall FPR at the reference's operating point. That threshold is computed by scoring the eval
split, the very examples the Evaluator read, with the exported model's `evaluate` signature (a
score that crosses 0.5 at the model's own operating point, post-processing included) and
`transform_features` (label, identity tags), as the Evaluator does. TFMA's Fairness Indicators thresholds are a handful of fixed points
(0.1, 0.3, ...), and interpolating a rate between two of them is not a measurement; scoring
gives the exact threshold and exact rates. Predictions strictly above the threshold count as
positive, as in TFMA, so the reference model's own rates reproduce TFMA's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import rates
from contract import (
    BASELINE,
    EVAL_SIGNATURE,
    IDENTITY_GROUPS,
    LABEL_KEY,
    OPERATING_POINT_SCORE,
    OVERALL,
    PREDICTION_KEY,
    identity_feature,
    load_text_ops,
)
from report.results import Matched, RunResult


@dataclass
class Scored:
    scores: np.ndarray
    labels: np.ndarray
    groups: dict[str, np.ndarray]


def score_eval_split(model_uri: str, examples_uri: str, split: str = "eval") -> Scored:
    """Scores, labels and identity tags of every example of a split, through the exported
    model's `serving_default` and `transform_features` signatures."""
    import tensorflow as tf

    load_text_ops()
    model_dir = os.path.join(model_uri, "Format-Serving")
    model = tf.saved_model.load(model_dir if os.path.isdir(model_dir) else model_uri)
    folder = os.path.join(examples_uri, f"Split-{split}")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    scores, labels, tags = [], [], {g: [] for g in IDENTITY_GROUPS}
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(512)
    for batch in dataset:
        # Older models have no `evaluate`: their probability, judged at 0.5.
        signature = EVAL_SIGNATURE if EVAL_SIGNATURE in model.signatures else "serving_default"
        output = model.signatures[signature](examples=batch)
        scores.append(output[PREDICTION_KEY].numpy().reshape(-1))
        transformed = model.signatures["transform_features"](examples=batch)
        labels.append(transformed[LABEL_KEY].numpy().reshape(-1))
        for g in IDENTITY_GROUPS:
            tags[g].append(transformed[identity_feature(g)].numpy().reshape(-1))
    return Scored(
        np.concatenate(scores).astype(float),
        np.concatenate(labels).astype(float),
        {g: np.concatenate(v) > 0 for g, v in tags.items()},
    )


def rates_at(scored: Scored, threshold: float) -> dict[str, dict[str, float | int | None]]:
    """FPR and FNR overall and per group; positive means score > threshold (TFMA's rule)."""
    everyone = np.ones(len(scored.scores), dtype=bool)
    masks = {OVERALL: everyone, **scored.groups}
    return rates.group_rates(scored.scores > threshold, scored.labels >= 0.5, masks)


def fpr_matching_threshold(scored: Scored, target_fpr: float) -> float:
    """The threshold at which the model's FPR on these rows is the largest not above
    `target_fpr` (rates.threshold_at_most_fpr); the operating point when there is no non-toxic
    row to match on."""
    threshold = rates.threshold_at_most_fpr(scored.scores, scored.labels >= 0.5, target_fpr)
    return OPERATING_POINT_SCORE if threshold is None else threshold


def match_thresholds(
    runs: list[RunResult], scored: dict[str, Scored], reference: str | None = None
) -> str | None:
    """Sets `matched` on each scored run; returns the reference run's name."""
    names = [r.name for r in runs if r.name in scored]
    if not names:
        return None
    reference = reference if reference in names else (BASELINE if BASELINE in names else names[0])
    by_name = {r.name: r for r in runs}
    # Every model's `evaluate` score crosses OPERATING_POINT_SCORE at its own operating point.
    decision = OPERATING_POINT_SCORE
    target = rates_at(scored[reference], decision)[OVERALL]["fpr"] or 0.0
    for name in names:
        run = by_name[name]
        if name == reference:
            threshold = decision
        else:
            threshold = fpr_matching_threshold(scored[name], target)
        run.matched = Matched(reference, target, threshold, rates_at(scored[name], threshold))
    return reference
