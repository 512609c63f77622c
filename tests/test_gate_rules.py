"""The gate's rules on hand-built TFMA validation results: the exact failure records, the
slice-size rule per row kind, and the counts a slice stands on (kills the mutants of
`make mutation` that test_gate.py's TFMA-validated cases leave alive)."""

import math

import pytest
from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2, validation_result_pb2

from components.certificate import EVAL_NO_GROUP
from components.gate import _bound_text, _slice_name, judge, row_counts, rows_by_kind
from components.verdict import Failure

SLICES = {"overall": 1000, "race": 100}


def _key(**columns):
    key = metrics_for_slice_pb2.SliceKey()
    for column, value in columns.items():
        one = key.single_slice_keys.add(column=column)
        if isinstance(value, bytes):
            one.bytes_value = value
        elif value is not None:
            one.int64_value = value
    return key


def _group(name):
    return _key(identity_group=name.encode())


def _threshold(lower=None, upper=None, change=None, direction=1):
    t = config_pb2.MetricThreshold()
    if lower is not None:
        t.value_threshold.lower_bound.value = lower
    if upper is not None:
        t.value_threshold.upper_bound.value = upper
    if change is not None:
        t.change_threshold.absolute.value = change
        t.change_threshold.direction = direction
    return t


def _result(*per_slice, missing=(), missing_cross=()):
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    for slice_key, failures, cross in per_slice:
        one = result.metric_validations_per_slice.add()
        if cross:
            one.cross_slice_key.baseline_slice_key.CopyFrom(slice_key[0])
            one.cross_slice_key.comparison_slice_key.CopyFrom(slice_key[1])
        else:
            one.slice_key.CopyFrom(slice_key)
        for name, value, threshold, message in failures:
            f = one.failures.add(message=message)
            f.metric_key.name = name
            if value is not None:
                f.metric_value.double_value.value = value
            f.metric_threshold.CopyFrom(threshold)
    for spec in missing:
        result.missing_slices.add().feature_values.update(spec)
    for group in missing_cross:
        spec = result.missing_cross_slices.add()
        spec.baseline_spec.SetInParent()
        one = spec.slicing_specs.add()
        if group is not None:
            one.feature_values["identity_group"] = group
    return result


def test_rows_by_kind_defaults_each_kind_to_the_examples_and_examples_to_zero():
    assert rows_by_kind(7) == {"examples": 7, "negatives": 7, "positives": 7}
    assert rows_by_kind({"examples": 9}) == {"examples": 9, "negatives": 9, "positives": 9}
    assert rows_by_kind({"negatives": 5, "positives": 3}) == {
        "examples": 0,
        "negatives": 5,
        "positives": 3,
    }


def test_row_counts_sum_each_confusion_pair_and_need_both_halves():
    row = {"example_count": 10.0, "true_negatives": 6.0, "false_positives": 2.0}
    row.update(true_positives=1.0, false_negatives=1.0)
    assert row_counts(row) == {"examples": 10, "negatives": 8, "positives": 2}
    assert row_counts({}) == {"examples": 0}
    assert row_counts({"true_negatives": 4.0, "true_positives": 3.0}) == {"examples": 0}
    assert row_counts({"false_positives": 4.0, "false_negatives": 3.0}) == {"examples": 0}


def test_a_missing_slice_that_is_no_group_is_an_exact_failure():
    verdict = judge(_result(missing=[{"language": "en"}]), SLICES, 30)
    spec = _result(missing=[{"language": "en"}]).missing_slices[0]
    assert verdict.failures == [Failure(str(spec), "slice", None, "present", "slice missing")]
    assert not verdict.blessed


def test_an_absent_group_is_skipped_and_its_failures_are_not_counted():
    fpr = ("fall_out", 0.9, _threshold(upper=0.2), "")
    result = _result((_group("religion"), [fpr], False), missing=[{"identity_group": "religion"}])
    verdict = judge(result, SLICES, 30)
    assert verdict.blessed and verdict.failures == []
    assert verdict.skipped == {"religion": "no eval examples"}


def test_a_missing_cross_slice_fails_unless_computed_or_skipped():
    result = _result(missing_cross=["race", "religion", "gender", None])
    counts = {**SLICES, "gender": 5}
    verdict = judge(result, counts, 30, computed_cross_groups={"race"})
    gap = "gap (group - overall)"
    assert verdict.failures == [
        Failure("religion", gap, None, "present", "no eval data"),
        Failure(None, gap, None, "present", "no eval data"),
    ]


def test_the_skip_reason_names_each_rate_and_the_minimum():
    counts = {**SLICES, "gender": {"examples": 40, "negatives": 5, "positives": 3}}
    verdict = judge(_result(), counts, 30)
    assert verdict.skipped == {
        "gender": "FPR not judged: 5 non-toxic eval rows; FNR not judged: 3 toxic eval rows, "
        "fewer than min_slice_size 30"
    }
    counts = {**SLICES, "gender": 4}
    assert judge(_result(), counts, 30).skipped == {
        "gender": "4 eval examples, fewer than min_slice_size 30"
    }


def test_no_judged_group_is_an_exact_failure():
    verdict = judge(_result(), {"overall": 1000, "race": 10}, 30)
    assert verdict.failures == [
        Failure("overall", EVAL_NO_GROUP, 0, ">= 1 group with 30+ non-toxic eval rows")
    ]


def test_a_group_short_of_examples_is_not_judged_even_with_enough_negatives():
    counts = {"overall": 1000, "race": {"examples": 10, "negatives": 40, "positives": 40}}
    assert [f.metric for f in judge(_result(), counts, 30).failures] == [EVAL_NO_GROUP]


def test_a_group_short_of_non_toxic_rows_only_is_not_judged():
    counts = {"overall": 1000, "race": {"examples": 100, "negatives": 10, "positives": 90}}
    assert [f.metric for f in judge(_result(), counts, 30).failures] == [EVAL_NO_GROUP]


def test_a_group_short_of_toxic_rows_only_is_still_judged_on_fpr():
    counts = {"overall": 1000, "race": {"examples": 100, "negatives": 90, "positives": 10}}
    assert judge(_result(), counts, 30).blessed


def test_a_metric_without_row_kinds_is_dropped_only_when_the_examples_are_too_few():
    auc = ("auc", 0.5, _threshold(lower=0.7), "")
    few_negatives = {**SLICES, "religion": 40}
    few_negatives["race"] = {"examples": 100, "negatives": 10, "positives": 90}
    failures = judge(_result((_group("race"), [auc], False)), few_negatives, 30).failures
    assert [(f.slice, f.metric) for f in failures] == [("race", "auc")]
    few = {**SLICES, "religion": 40, "race": 10}
    assert judge(_result((_group("race"), [auc], False)), few, 30).failures == []


def test_a_bias_auc_failure_is_judged_by_its_groups_rows():
    bpsn = ("bpsn_auc/race", 0.5, _threshold(lower=0.7), "")
    result = _result((_key(), [bpsn], False))
    counts = {**SLICES, "religion": 100}
    verdict = judge(result, counts, 30)
    label = "BPSN AUC (toxic rows outside the group against the group's non-toxic rows)"
    assert verdict.failures == [Failure("race", label, 0.5, ">= 0.7", "")]
    few_toxic = {**counts, "race": {"examples": 100, "negatives": 90, "positives": 5}}
    assert len(judge(result, few_toxic, 30).failures) == 1
    few_non_toxic = {**counts, "race": {"examples": 100, "negatives": 5, "positives": 90}}
    assert judge(result, few_non_toxic, 30).failures == []


def test_a_failure_without_a_value_says_why_only_for_a_bias_auc():
    nan_fpr = ("fall_out", math.nan, _threshold(upper=0.2), "  too high  ")
    no_value = ("subgroup_auc/race", None, _threshold(lower=0.7), "")
    no_value_auc = ("auc", None, _threshold(lower=0.7), "")
    result = _result((_group("race"), [nan_fpr, no_value_auc], False), (_key(), [no_value], False))
    failures = judge(result, SLICES, 30).failures
    assert failures == [
        Failure("race", "false_positive_rate", None, "<= 0.2", "too high"),
        Failure("race", "auc", None, ">= 0.7", ""),
        Failure(
            "race",
            "subgroup AUC (the group's rows)",
            None,
            ">= 0.7",
            "no value: its rows lack toxic or non-toxic examples",
        ),
    ]
    valued = ("bnsp_auc/race", 0.4, _threshold(lower=0.7), "")
    failure = judge(_result((_key(), [valued], False)), SLICES, 30).failures[0]
    assert (failure.value, failure.message) == (0.4, "")


def test_a_cross_slice_failure_reads_as_group_minus_overall():
    gap = ("fall_out", -0.2, _threshold(lower=-0.1), "")
    result = _result(((_key(), _group("race")), [gap], True))
    assert judge(result, SLICES, 30).failures == [
        Failure("race", "false_positive_rate gap (group - overall)", 0.2, "<= 0.1", "")
    ]
    other = _result(((_key(language=b"en"), _group("race")), [gap], True))
    assert judge(other, SLICES, 30).failures[0].slice == "language=en minus race"
    to_overall = _result(((_group("race"), _key()), [gap], True))
    assert judge(to_overall, SLICES, 30).failures[0].slice == "race minus overall"


def test_a_change_failure_names_the_champion():
    drop = ("auc", -0.1, _threshold(change=-0.05, direction=2), "")
    result = _result((_key(), [drop], False))
    result.metric_validations_per_slice[0].failures[0].metric_key.is_diff = True
    failure = judge(result, SLICES, 30, champion="the champion (version 7)").failures[0]
    assert failure.metric == "auc (change vs. the champion (version 7))"
    assert failure.bound == "change at least -0.05"


@pytest.mark.parametrize(
    "threshold, flip, text",
    [
        (_threshold(lower=0.1, upper=0.3), False, ">= 0.1 and <= 0.3"),
        (_threshold(lower=0.1, upper=0.3), True, "<= -0.1 and >= -0.3"),
        (_threshold(change=0.05, direction=1), False, "change at most +0.05"),
        (_threshold(change=0.05, direction=2), False, "change at least +0.05"),
    ],
)
def test_bound_text(threshold, flip, text):
    assert _bound_text(threshold, flip=flip) == text


def test_slice_names_join_columns_and_decode_bytes():
    assert _slice_name(_key()) == "overall"
    assert _slice_name(_key(identity_group=b"race", language=b"en")) == "race, language=en"
    assert _slice_name(_key(year=2020, flag=None)) == "year=2020, flag="
