"""rates.py, the one module of AUC, error rates and thresholds at a target FPR: its values, and
where its callers differ (which label is toxic, None or NaN without rows, the two threshold
rules), each caller's behaviour as it was before the module."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import rates
from trainer_modules import operating_point as op


def test_auc_is_scikit_learns_with_ties():
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(500), 1)  # many ties
    toxic = rng.random(500) < 0.3
    assert rates.auc(scores, toxic) == pytest.approx(roc_auc_score(toxic, scores), abs=1e-12)
    assert rates.auc(scores.astype(np.float32).reshape(-1, 1), toxic) == pytest.approx(
        roc_auc_score(toxic, scores.astype(np.float32)), abs=1e-12
    )


def test_without_both_classes_the_auc_is_nan_or_the_callers_missing_value():
    # NaN for the trainers and benchmarks; None for the bias AUCs, which leave it out.
    assert math.isnan(rates.auc([0.1, 0.2], np.array([False, False])))
    assert rates.auc([0.1, 0.2], np.array([True, True]), missing=None) is None
    assert rates.auc([], np.array([], bool), missing=None) is None


def test_a_nan_score_makes_the_auc_nan():
    assert math.isnan(rates.auc([0.1, np.nan, 0.9], np.array([False, True, True])))


def test_which_rows_are_toxic_is_the_callers_boolean_mask():
    with pytest.raises(TypeError, match="toxic must be a boolean mask, got dtype float64"):
        rates.auc([0.1, 0.9], np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="boolean mask"):
        rates.group_rates([True], [1], {"all": [True]})
    # The trainers' rule: a label above 0.5.
    assert op.toxic(np.array([[0.0], [0.5], [0.51], [1.0]])).tolist() == [False, False, True, True]


def test_group_rates_count_each_set_and_have_no_rate_without_its_rows():
    flagged = np.array([True, False, True, False, True])
    toxic = np.array([False, False, True, True, False])
    masks = {"all": np.ones(5, bool), "a": np.array([1, 1, 0, 0, 0], bool), "none": np.zeros(5)}
    found = rates.group_rates(flagged, toxic, masks)
    assert found["all"] == {"count": 5, "negatives": 3, "positives": 2, "fpr": 2 / 3, "fnr": 0.5}
    assert found["a"] == {"count": 2, "negatives": 2, "positives": 0, "fpr": 0.5, "fnr": None}
    assert found["none"] == {"count": 0, "negatives": 0, "positives": 0, "fpr": None, "fnr": None}


NEGATIVES = np.linspace(0.05, 0.95, 10)


@pytest.mark.parametrize("target", [0.05, 0.14, 0.27, 0.5, 0.61])
def test_the_two_threshold_rules(target):
    """The operating point's rule puts round(target * n) negatives above the threshold, halfway
    to the next one; the report's matching puts floor(target * n) above it, at the next score."""
    toxic = np.zeros(10, bool)
    nearest = rates.threshold_at_fpr(NEGATIVES, toxic, target)
    at_most = rates.threshold_at_most_fpr(NEGATIVES, toxic, target)
    assert (NEGATIVES > nearest).sum() == round(target * 10)
    assert (NEGATIVES > at_most).sum() == math.floor(target * 10)
    assert rates.rates_at(NEGATIVES, toxic, at_most)["fpr"] <= target
    k = round(target * 10)
    if 0 < k < 10:
        assert nearest == pytest.approx((NEGATIVES[-k] + NEGATIVES[-k - 1]) / 2)


def test_the_matching_rule_at_its_edges():
    toxic = np.array([False, False, False, True])
    # No non-toxic row: no threshold (the report then matches at the operating point).
    assert rates.threshold_at_most_fpr([0.3], np.array([True]), 0.1) is None
    # Every non-toxic row above: just below the lowest, and never below 0.
    assert rates.threshold_at_most_fpr([0.4, 0.2, 0.3, 0.9], toxic, 1.0) == np.nextafter(
        0.2, -np.inf
    )
    assert rates.threshold_at_most_fpr([0.0, 0.2, 0.3, 0.9], toxic, 1.0) == 0.0
    # Tied scores at the threshold fall below it.
    assert rates.threshold_at_most_fpr([0.7, 0.7, 0.2, 0.9], toxic, 0.4) == 0.7


def test_rates_at_has_nan_without_rows():
    found = rates.rates_at([0.6, 0.4], np.array([False, False]), 0.5)
    assert found["fpr"] == 0.5 and math.isnan(found["tpr"])


def test_the_report_and_the_benchmarks_count_a_label_of_one_half_as_toxic():
    """Their rule before this module (the trainers' is above 0.5); the Transform's labels are
    0 or 1, where the two agree."""
    from bench import common
    from report import matching

    scores, labels = np.array([0.9, 0.1, 0.8, 0.2]), np.array([0.5, 0.0, 1.0, 0.0])
    group = np.array([True, True, False, False])
    found = matching.rates_at(matching.Scored(scores, labels, {"g": group}), 0.5)
    assert (found["g"]["positives"], found["g"]["negatives"], found["g"]["fnr"]) == (1, 1, 0.0)
    figures = common.figures(scores, labels, {"g": group}, 0.5)
    assert figures["group_rows"] == {"g": {"negatives": 1, "positives": 1}}
    assert figures["group_fnr"] == {"g": 0.0} and figures["group_fpr"] == {}  # < 30 rows
    assert (figures["overall_fpr"], figures["tpr"]) == (0.0, 1.0)
    # The benchmarks' AUC is the trainers' (above 0.5): 0.9 counts as non-toxic there.
    assert figures["auc"] == rates.auc(scores, op.toxic(labels)) == pytest.approx(2 / 3)
