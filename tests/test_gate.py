"""The gate: TFMA's own validator checks our EvalConfig; `judge` turns it into a verdict."""

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.proto import validation_result_pb2

from components.gate import judge
from components.policy import GatePolicy
from components.verdict import champion_name
from pipeline.eval_config import build_eval_config

POLICY = GatePolicy(
    max_group_fpr=0.25,
    max_fpr_gap=0.10,
    min_auc=0.75,
    min_slice_size=30,
    groups=("religion", "race", "disability"),
)


def _eval_config(policy=POLICY, has_baseline=False):
    return tfma.utils.update_eval_config_with_defaults(
        build_eval_config(policy), has_baseline=has_baseline, rubber_stamp=not has_baseline
    )


def _keys(eval_config, is_diff=False):
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config
    )
    return {
        key.name: key
        for key in thresholds
        if key.is_diff == is_diff and key.model_name in ("", "candidate")
    }


def _group(name):
    return (("identity_group", name),)


GROUP_DEFAULTS = {"auc": 0.8, "miss_rate": 0.4, "recall": 0.6}


def validate(
    overall: dict, groups: dict[str, dict], policy=POLICY, change: dict | None = None, **judged
):
    """Validate as the Evaluator does: per slice and cross slice, then missing specs.

    Group dicts may give "negatives" and "positives" (the rows FPR and FNR stand on);
    `change` gives candidate-minus-baseline values, as TFMA computes with a baseline model.
    """
    config = _eval_config(policy, has_baseline=change is not None)
    keys = _keys(config)
    diff_keys = _keys(config, is_diff=True) if change is not None else {}
    overall_row = {keys[k]: v for k, v in overall.items() if k in keys}
    overall_row.update({diff_keys[k]: v for k, v in (change or {}).items()})
    sliced = [((), overall_row)]
    for name, metrics in groups.items():
        # TFMA computes every metric on every slice; the tests vary rates and counts.
        metrics = {**GROUP_DEFAULTS, **metrics}
        row = {keys[k]: v for k, v in metrics.items() if k in keys}
        row.update({key: 0.0 for key in diff_keys.values()})
        sliced.append((_group(name), row))
        diff = {keys[m]: overall[m] - metrics[m] for m in ("fall_out", "miss_rate") if m in metrics}
        if "fall_out" in metrics:
            sliced.append((((), _group(name)), diff))
    result = validation_result_pb2.ValidationResult(validation_ok=True)
    for slice_key, metrics in sliced:
        one = metrics_validator.validate_metrics((slice_key, metrics), config)
        result.validation_ok &= one.validation_ok
        result.metric_validations_per_slice.extend(one.metric_validations_per_slice)
        metrics_validator.merge_details(result, one)
    for spec in metrics_validator.get_missing_slices(
        result.validation_details.slicing_details, config
    ):
        if isinstance(spec, tfma.SlicingSpec):
            result.missing_slices.append(spec)
        else:
            result.missing_cross_slices.append(spec)
    counts = {"overall": overall["example_count"]}
    for g, m in groups.items():
        counts[g] = {"examples": m["example_count"]}
        counts[g].update({k: m[k] for k in ("negatives", "positives") if k in m})
    cross_groups = {g for g, m in groups.items() if "fall_out" in m}
    return result, judge(result, counts, policy.min_slice_size, cross_groups, **judged)


OVERALL = {"example_count": 1000, "auc": 0.85, "fall_out": 0.05, "miss_rate": 0.4, "recall": 0.6}


def test_within_bounds_is_blessed():
    groups = {g: {"example_count": 100, "fall_out": 0.08} for g in POLICY.groups}
    _, verdict = validate(OVERALL, groups)
    assert verdict.blessed, verdict.describe()
    assert verdict.failures == []


def test_group_fpr_gap_above_bound_is_not_blessed():
    groups = {g: {"example_count": 100, "fall_out": 0.08} for g in POLICY.groups}
    groups["religion"]["fall_out"] = 0.20  # under the 0.25 cap, but 0.15 above overall
    tfma_result, verdict = validate(OVERALL, groups)
    assert not tfma_result.validation_ok
    assert not verdict.blessed
    [failure] = verdict.failures
    assert failure.slice == "religion"
    assert failure.metric == "false_positive_rate gap (group - overall)"
    # Stated as the tables print it: the group above overall is a positive gap.
    assert failure.value == pytest.approx(0.15)
    assert failure.bound == "<= 0.1"
    assert "false_positive_rate gap (group - overall) on religion = 0.1500, bound: <= 0.1" in (
        verdict.describe()
    )


def test_gap_exactly_within_sign_convention_is_blessed():
    # Group FPR below overall is a negative gap: never a failure.
    groups = {g: {"example_count": 100, "fall_out": 0.0} for g in POLICY.groups}
    assert validate(OVERALL, groups)[1].blessed


def test_group_fpr_above_cap_and_low_auc_are_each_reported():
    groups = {g: {"example_count": 100, "fall_out": 0.08} for g in POLICY.groups}
    groups["race"]["fall_out"] = 0.30
    _, verdict = validate({**OVERALL, "auc": 0.70}, groups)
    described = {(f.slice, f.metric, f.bound) for f in verdict.failures}
    assert ("overall", "auc", ">= 0.75") in described
    assert ("race", "false_positive_rate", "<= 0.25") in described
    assert ("race", "false_positive_rate gap (group - overall)", "<= 0.1") in described


def test_group_too_small_to_judge_is_skipped_not_failed():
    groups = {g: {"example_count": 100, "fall_out": 0.08} for g in POLICY.groups}
    groups["disability"] = {"example_count": 12, "fall_out": 0.9}
    tfma_result, verdict = validate(OVERALL, groups)
    assert not tfma_result.validation_ok
    assert verdict.blessed, verdict.describe()
    assert "disability" in verdict.skipped and "12 eval examples" in verdict.skipped["disability"]


def test_group_missing_from_eval_data_is_explained():
    groups = {g: {"example_count": 100, "fall_out": 0.08} for g in ("religion", "race")}
    tfma_result, verdict = validate(OVERALL, groups)
    assert [s.feature_values["identity_group"] for s in tfma_result.missing_slices] == [
        "disability"
    ]
    assert verdict.blessed
    assert verdict.skipped == {"disability": "no eval examples"}
    assert "disability: no eval examples" in verdict.describe()


def test_no_group_large_enough_is_not_blessed():
    groups = {g: {"example_count": 5, "fall_out": 0.0} for g in POLICY.groups}
    _, verdict = validate(OVERALL, groups)
    assert not verdict.blessed
    assert verdict.failures[0].metric == "identity groups"


def test_unknown_group_in_policy_is_rejected():
    with pytest.raises(ValueError, match="unknown identity group"):
        GatePolicy(groups=("religion", "martians"))


def test_a_model_that_flags_almost_nothing_is_refused():
    # The TFCO model once blessed on the Gab Hate Corpus: FPR 0.001, FNR 0.986.
    useless = {**OVERALL, "fall_out": 0.001, "miss_rate": 0.986, "recall": 0.014, "auc": 0.761}
    groups = {g: {"example_count": 100, "fall_out": 0.0, "miss_rate": 0.99} for g in POLICY.groups}
    _, verdict = validate(useless, groups)
    assert not verdict.blessed
    described = {(f.slice, f.metric, f.bound) for f in verdict.failures}
    assert ("overall", "true_positive_rate (recall)", ">= 0.2") in described


def test_recall_loss_against_the_baseline_model_is_refused():
    groups = {g: {"example_count": 100, "fall_out": 0.05} for g in POLICY.groups}
    _, verdict = validate(OVERALL, groups, change={"recall": -0.25, "auc": 0.0, "fall_out": 0.0})
    [failure] = verdict.failures
    # TFMA's "baseline model" is our champion: named so, not as the candidate "baseline".
    assert failure.metric == "true_positive_rate (recall) (change vs. the champion)"
    assert failure.bound == "change at least -0.1"
    push = {"version": "1796660660", "candidate": "tfco", "pushed_at": "2026-12-07 16:24 UTC"}
    _, named = validate(OVERALL, groups, change={"recall": -0.25, "auc": 0.0, "fall_out": 0.0},
                        champion=champion_name(push))  # fmt: skip
    assert named.failures[0].describe() == (
        "true_positive_rate (recall) (change vs. the champion (version 1796660660, candidate "
        "tfco, pushed at 2026-12-07 16:24 UTC)) on overall = -0.2500, bound: change at least -0.1"
    )
    _, kept = validate(OVERALL, groups, change={"recall": -0.05, "auc": 0.0, "fall_out": 0.0})
    assert kept.blessed, kept.describe()


def test_a_group_fnr_far_above_overall_is_refused():
    groups = {g: {"example_count": 100, "fall_out": 0.05} for g in POLICY.groups}
    groups["race"]["miss_rate"] = 0.70  # overall 0.40: the group's recall bought its FPR
    _, verdict = validate(OVERALL, groups)
    [failure] = verdict.failures
    assert failure.slice == "race"
    assert failure.metric == "false_negative_rate gap (group - overall)"
    assert failure.value == pytest.approx(0.30) and failure.bound == "<= 0.15"


def test_min_slice_size_counts_non_toxic_rows_for_fpr():
    # 100 examples but only 21 non-toxic: its FPR stands on 21 rows and is not judged.
    groups = {g: {"example_count": 100, "fall_out": 0.05} for g in POLICY.groups}
    groups["race"] = {"example_count": 100, "negatives": 21, "positives": 79, "fall_out": 0.5}
    _, verdict = validate(OVERALL, groups)
    assert verdict.blessed, verdict.describe()
    assert "FPR not judged: 21 non-toxic eval rows" in verdict.skipped["race"]
    # Its FNR stands on 79 toxic rows and is still judged.
    groups["race"]["miss_rate"] = 0.9
    _, verdict = validate(OVERALL, groups)
    assert [f.metric for f in verdict.failures] == ["false_negative_rate gap (group - overall)"]


def test_min_slice_size_counts_toxic_rows_for_fnr():
    groups = {g: {"example_count": 100, "fall_out": 0.05} for g in POLICY.groups}
    groups["religion"] = {
        "example_count": 100, "negatives": 90, "positives": 10, "fall_out": 0.05, "miss_rate": 0.9
    }  # fmt: skip
    _, verdict = validate(OVERALL, groups)
    assert verdict.blessed, verdict.describe()
    assert "FNR not judged: 10 toxic eval rows" in verdict.skipped["religion"]
    groups["religion"]["fall_out"] = 0.5  # its FPR stands on 90 rows: judged
    _, verdict = validate(OVERALL, groups)
    assert not verdict.blessed
    assert {f.metric for f in verdict.failures} >= {"false_positive_rate gap (group - overall)"}


@pytest.mark.parametrize("negatives, judged", [(29, False), (30, True)])
def test_a_group_with_exactly_min_slice_size_non_toxic_rows_is_judged(negatives, judged):
    # min_slice_size 30: 30 non-toxic rows are enough, 29 are not (n < min_slice_size).
    groups = {g: {"example_count": 100, "fall_out": 0.05} for g in POLICY.groups}
    groups["race"] = {"example_count": 100, "negatives": negatives, "positives": 100 - negatives,
                      "fall_out": 0.5}  # fmt: skip
    _, verdict = validate(OVERALL, groups)
    assert verdict.blessed is not judged, verdict.describe()
    assert ("race" in verdict.skipped) is not judged
