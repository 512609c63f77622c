"""The gate's bounds read back from the stored EvalConfig: every field, and the configs that
set none (kills the mutants of `make mutation` in components/bounds.py)."""

import tensorflow_model_analysis as tfma

from components.bounds import GateBounds, bounds_from_eval_config
from pipeline.config import GatePolicy
from pipeline.eval_config import build_eval_config


def test_every_bound_of_a_policy_is_read_back():
    policy = GatePolicy(
        max_group_fpr=0.21, max_group_fpr_gap=0.06, max_group_fnr_gap=0.16, min_auc=0.71,
        min_tpr=0.22, max_auc_drop=0.03, max_group_fpr_increase=0.04, max_tpr_drop=0.11,
        min_subgroup_auc=0.61, min_bpsn_auc=0.62, min_bnsp_auc=0.63, min_bias_score=0.64,
        groups=("race", "religion"), fairness_thresholds=(0.2, 0.4),
    )  # fmt: skip
    config = build_eval_config(policy, compute_confidence_intervals=True)
    assert bounds_from_eval_config(config, 25) == GateBounds(
        decision_threshold=0.5, max_group_fpr=0.21, max_fpr_gap=0.06, max_fnr_gap=0.16,
        min_auc=0.71, min_tpr=0.22, max_tpr_drop=0.11, max_auc_drop=0.03,
        max_group_fpr_increase=0.04, min_slice_size=25, groups=("race", "religion"),
        fairness_thresholds=(0.2, 0.4), confidence_intervals=True, min_subgroup_auc=0.61,
        min_bpsn_auc=0.62, min_bnsp_auc=0.63, min_bias_score=0.64,
    )  # fmt: skip
    plain = bounds_from_eval_config(build_eval_config(GatePolicy(groups=("race",))))
    assert plain.confidence_intervals is False and plain.min_slice_size is None


def _config(*metrics, slicing=(), intervals=None):
    config = tfma.EvalConfig(
        metrics_specs=[tfma.MetricsSpec(metrics=list(metrics))], slicing_specs=list(slicing)
    )
    if intervals is not None:
        config.options.compute_confidence_intervals.value = intervals
    return config


def _metric(class_name, config="", lower=None, upper=None, cross_lower=None, cross_upper=None):
    metric = tfma.MetricConfig(class_name=class_name, config=config)
    for thresholds, low, high in ((metric.per_slice_thresholds, lower, upper),
                                  (metric.cross_slice_thresholds, cross_lower, cross_upper)):  # fmt: skip
        if low is None and high is None:
            continue
        bound = thresholds.add().threshold.value_threshold
        if low is not None:
            bound.lower_bound.value = low
        if high is not None:
            bound.upper_bound.value = high
    return metric


def test_a_single_threshold_and_unreadable_configs():
    config = _config(
        _metric("FallOut", '{"threshold": 0.3}'),
        _metric("FairnessIndicators", "not json"),
        intervals=False,
    )
    bounds = bounds_from_eval_config(config)
    assert bounds.decision_threshold == 0.3 and bounds.fairness_thresholds == ()
    assert bounds.confidence_intervals is False
    assert bounds_from_eval_config(_config(_metric("FallOut", "{}"))).decision_threshold == 0.5
    assert bounds_from_eval_config(_config(_metric("FallOut"))).decision_threshold == 0.5


def test_only_the_bound_that_is_set_is_read():
    config = _config(
        _metric("FallOut", lower=0.01, cross_upper=0.3),
        _metric("AUC", upper=0.99),
        _metric("Recall", upper=0.99),
        _metric("MissRate", cross_upper=0.2),
    )
    assert bounds_from_eval_config(config) == GateBounds()
    config = _config(_metric("MissRate", cross_lower=-0.2), _metric("Recall", lower=0.3))
    assert (
        bounds_from_eval_config(config).max_fnr_gap,
        bounds_from_eval_config(config).min_tpr,
    ) == (
        0.2,
        0.3,
    )


def test_a_bias_auc_floor_goes_to_the_key_it_names():
    assert bounds_from_eval_config(_config(_metric("BiasAUC", lower=0.7))).min_bias_score == 0.7
    named = _config(_metric("BiasAUC", '{"name": "bnsp_auc/race"}', lower=0.6))
    assert bounds_from_eval_config(named).min_bnsp_auc == 0.6
    other = _config(_metric("BiasAUC", '{"name": "other"}', lower=0.6))
    assert bounds_from_eval_config(other) == GateBounds()
    no_floor = _config(_metric("BiasAUC", '{"name": "bias_score"}', upper=0.9))
    assert bounds_from_eval_config(no_floor) == GateBounds()


def test_only_identity_group_slices_are_groups():
    slicing = [
        tfma.SlicingSpec(),
        tfma.SlicingSpec(feature_values={"identity_group": "race"}),
        tfma.SlicingSpec(feature_values={"language": "en"}),
    ]
    assert bounds_from_eval_config(_config(slicing=slicing)).groups == ("race",)
