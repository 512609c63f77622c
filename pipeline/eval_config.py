"""Builds the Evaluator's EvalConfig (slices, metrics, thresholds) from a GatePolicy."""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from components.policy import GatePolicy
from contract import (
    BIAS_AUC_KINDS,
    BIAS_SCORE_METRIC,
    EVAL_SIGNATURE,
    IDENTITY_GROUP_KEY,
    IDENTITY_GROUPS,
    LABEL_KEY,
    OPERATING_POINT_SCORE,
    bias_auc_metric,
)

FAIRNESS_MODULE = "fairness_indicators.fairness_indicators_metrics"
BIAS_AUC_MODULE = "components.bias_auc"


def group_slice(group: str) -> tfma.SlicingSpec:
    return tfma.SlicingSpec(feature_values={IDENTITY_GROUP_KEY: group})


def _bound(lower: float | None = None, upper: float | None = None):
    threshold = tfma.GenericValueThreshold()
    if lower is not None:
        threshold.lower_bound.value = lower
    if upper is not None:
        threshold.upper_bound.value = upper
    return threshold


def _change(direction, absolute: float | None):
    """A change bound against the baseline model; None (no bound) when the policy sets none."""
    if absolute is None:
        return None
    return tfma.GenericChangeThreshold(direction=direction, absolute={"value": absolute})


def _overall_floor(floor: float, max_drop: float | None, direction) -> tfma.PerSliceMetricThreshold:
    """A floor on the overall value, and at most `max_drop` below the baseline model's."""
    return tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()],
        threshold=tfma.MetricThreshold(
            value_threshold=_bound(lower=floor),
            change_threshold=_change(direction, None if max_drop is None else -max_drop),
        ),
    )


def _gap_bound(group_slices, gap: float) -> tfma.CrossSliceMetricThreshold:
    """Each group's rate at most `gap` above the overall rate (checked as overall - group)."""
    return tfma.CrossSliceMetricThreshold(
        cross_slicing_specs=[
            tfma.CrossSlicingSpec(baseline_spec=tfma.SlicingSpec(), slicing_specs=group_slices)
        ],
        threshold=tfma.MetricThreshold(value_threshold=_bound(lower=-gap)),
    )


def _bias_auc(name: str, floor: float | None) -> tfma.MetricConfig:
    """One BiasAUC key, with a floor on the overall slice (where its groups are all seen)."""
    thresholds = []
    if floor is not None:
        thresholds.append(
            tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec()],
                threshold=tfma.MetricThreshold(value_threshold=_bound(lower=floor)),
            )
        )
    return tfma.MetricConfig(
        class_name="BiasAUC",
        module=BIAS_AUC_MODULE,
        config=json.dumps({"name": name, "groups": list(IDENTITY_GROUPS)}),
        per_slice_thresholds=thresholds,
    )


def bias_auc_metrics(policy: GatePolicy) -> list[tfma.MetricConfig]:
    """The bias AUCs of every group (docs/bias_auc.md); TFMA bounds one key per MetricConfig,
    so each bounded group's key gets its own, and all share one combiner."""
    configs = [_bias_auc(BIAS_SCORE_METRIC, policy.min_bias_score)]
    for kind in BIAS_AUC_KINDS:
        floor = getattr(policy, f"min_{kind}")
        if floor is not None:
            configs += [_bias_auc(bias_auc_metric(kind, g), floor) for g in policy.groups]
    return configs


def _metrics(policy: GatePolicy, group_slices) -> list:
    """Every metric the Evaluator computes, with the gate's bounds on them."""
    # The evaluation signature's score crosses 0.5 at each model's own threshold.
    at_threshold = json.dumps({"thresholds": [OPERATING_POINT_SCORE]})

    higher = tfma.MetricDirection.HIGHER_IS_BETTER
    auc = tfma.MetricConfig(
        class_name="AUC",
        per_slice_thresholds=[_overall_floor(policy.min_auc, policy.max_auc_drop, higher)],
    )
    # TFMA checks (baseline slice - comparison slice), i.e. overall rate - group rate, so
    # "group rate at most `gap` above overall" is a lower bound of -gap.
    fnr = tfma.MetricConfig(
        class_name="MissRate",
        config=at_threshold,
        cross_slice_thresholds=[_gap_bound(group_slices, policy.max_fnr_gap)],
    )
    recall = tfma.MetricConfig(
        class_name="Recall",
        config=at_threshold,
        per_slice_thresholds=[_overall_floor(policy.min_tpr, policy.max_tpr_drop, higher)],
    )
    # The rows each rate stands on (negatives for FPR, positives for FNR), for min_slice_size.
    counts = [
        tfma.MetricConfig(class_name=name, config=at_threshold)
        for name in ("TrueNegatives", "FalsePositives", "TruePositives", "FalseNegatives")
    ]
    fpr = tfma.MetricConfig(
        class_name="FallOut",
        config=at_threshold,
        per_slice_thresholds=[
            tfma.PerSliceMetricThreshold(
                slicing_specs=group_slices,
                threshold=tfma.MetricThreshold(
                    value_threshold=_bound(upper=policy.max_group_fpr),
                    change_threshold=_change(
                        tfma.MetricDirection.LOWER_IS_BETTER, policy.max_group_fpr_increase
                    ),
                ),
            )
        ],
        cross_slice_thresholds=[_gap_bound(group_slices, policy.max_fpr_gap)],
    )
    return [
        tfma.MetricConfig(class_name="ExampleCount"),
        auc,
        tfma.MetricConfig(
            class_name="BinaryAccuracy",
            config=json.dumps({"threshold": OPERATING_POINT_SCORE}),
        ),
        fpr,
        fnr,
        recall,
        *counts,
        tfma.MetricConfig(
            class_name="FairnessIndicators",
            module=FAIRNESS_MODULE,
            config=json.dumps({"thresholds": list(policy.fairness_thresholds)}),
        ),
        *bias_auc_metrics(policy),
    ]


def build_eval_config(
    policy: GatePolicy, compute_confidence_intervals: bool = False
) -> tfma.EvalConfig:
    group_slices = [group_slice(g) for g in policy.groups]
    metrics = _metrics(policy, group_slices)
    options = tfma.Options()
    options.compute_confidence_intervals.value = compute_confidence_intervals
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=EVAL_SIGNATURE,
                label_key=LABEL_KEY,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), *group_slices],
        cross_slicing_specs=[
            tfma.CrossSlicingSpec(baseline_spec=tfma.SlicingSpec(), slicing_specs=group_slices)
        ],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        options=options,
    )
