"""Post-processing and the operating point on small hand-worked cases: the exact thresholds,
notes and decisions, with inputs shaped as the Trainer passes them (column vectors, 0/1 tag
columns, float32 scores). Kills the mutants of `make mutation` the other tests leave alive."""

import math

import numpy as np
import pytest

import rates
from bench.gap_thresholds import fit_gap_bounded_thresholds
from trainer_modules import operating_point as op
from trainer_modules import postprocess as pp

# Rows 0-4 are group a (4 non-toxic, 1 toxic), rows 5-9 untagged (4 non-toxic, 1 toxic).
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
LABELS = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 1.0])
A = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
B = np.zeros(10, dtype=int)


def test_fitted_and_untagged_thresholds_on_column_vectors_and_0_1_tags():
    rest, own = pp.fit_group_thresholds(
        SCORES.reshape(-1, 1), LABELS.reshape(-1, 1), {"a": A, "b": B}, 0.25, 4, 0.3
    )
    # a: the 1 highest of its 4 negatives above: halfway between 0.9 and 0.8.
    assert own == {"a": pytest.approx(0.85), "b": 0.3}
    assert rest == pytest.approx(0.35)
    assert pp.fitted_groups({"a": A, "b": B}, LABELS.reshape(-1, 1), 4) == ["a"]
    assert pp.fitted_groups({"a": A}, LABELS, 5) == []
    # A row labelled 1.0 is toxic, 0.5 is not non-toxic.
    assert pp.fitted_groups({"a": A}, np.where(A == 1, 1.0, 0.0), 1) == []
    assert pp.fitted_groups({"a": A}, np.where(A == 1, 0.5, 0.0), 1) == []


def test_the_base_threshold_bounds_every_threshold_from_below():
    rest, own = pp.fit_group_thresholds(SCORES, LABELS, {"a": A}, 0.25, 4, 0.95)
    assert (rest, own) == (0.95, {"a": 0.95})


def test_with_every_row_tagged_the_untagged_rows_keep_the_base():
    everyone = np.ones(10, dtype=int)
    assert pp.fit_group_thresholds(SCORES, LABELS, {"a": everyone}, 0.25, 100, 0.3) == (
        0.3,
        {"a": 0.3},
    )


def test_one_untagged_non_toxic_row_gets_a_threshold_of_its_own():
    tags = {"a": np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 1])}
    scores = SCORES.copy()
    scores[8] = 0.6
    rest, _ = pp.fit_group_thresholds(scores, LABELS, tags, 0.25, 100, 0.3)
    assert rest == np.nextafter(0.6, np.inf)


def test_each_note_says_why_at_the_min_rows_boundary():
    own, base = {"a": 0.85, "b": 0.3, "c": 0.3}, 0.3
    c = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 0])
    tags = {"a": A, "b": B, "c": c}
    notes = pp.threshold_notes(tags, LABELS.reshape(-1, 1), 4, own, base, rest=0.35)
    assert notes == {
        "a": "its own threshold, at the target FPR on 4 non-toxic rows",
        "b": "0 non-toxic validation rows, fewer than postprocess_min_rows 4: keeps the base "
        "threshold",
        "c": "at the base threshold its FPR on 4 non-toxic rows is within target",
        "untagged": "its own threshold, at the target FPR",
    }
    assert pp.threshold_notes(tags, LABELS, 4, own, base, rest=0.3)["untagged"] == (
        "keeps the base threshold"
    )


def test_decisions_flag_strictly_above_the_highest_threshold_of_a_rows_groups():
    scores = np.array([0.5, 0.5, 0.7, 0.2]).reshape(-1, 1)
    tags = {"a": np.array([1, 1, 0, 0]), "b": np.array([0, 1, 0, 0])}
    flagged = pp.decisions(scores, tags, rest=0.2, own={"a": 0.4, "b": 0.6})
    assert flagged.tolist() == [True, False, True, False]


def test_gap_bounded_thresholds_at_the_edges():
    scores, labels = SCORES, LABELS
    tags = {"a": A}
    common, own = fit_gap_bounded_thresholds(scores, labels, tags, 0.01, 0.0, 4)
    assert common == np.nextafter(0.9, np.inf) and own == {"a": common}
    # Every bound flags fewer than the target: the common threshold flags everything else.
    everyone = {"a": np.ones(10, dtype=int)}
    common, own = fit_gap_bounded_thresholds(scores, labels, everyone, 0.9, 0.0, 1)
    assert common == np.nextafter(0.05, -np.inf)
    with pytest.raises(ValueError):
        fit_gap_bounded_thresholds(scores, labels, tags, 0.25, -0.01, 4)


def test_gap_bounded_thresholds_in_the_middle():
    scores, labels = SCORES.reshape(-1, 1), LABELS.reshape(-1, 1)
    common, own = fit_gap_bounded_thresholds(scores, labels, {"a": A}, 0.25, 0.0, 4)
    # a's bound is its 25%-FPR threshold, 0.85; 2 of the 8 negatives are flagged overall: the
    # one of a above 0.85 and the highest untagged one, 0.4 (halfway to 0.3 below it).
    assert own == {"a": pytest.approx(0.85)}
    assert common == pytest.approx(0.35)
    flagged = pp.decisions(scores, {"a": A}, common, own)
    assert flagged.tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    # A bound equal to a negative's score leaves that negative unflagged (strictly above).
    common, own = fit_gap_bounded_thresholds(scores, labels, {"a": A}, 0.5, 0.0, 4)
    assert own["a"] == pytest.approx(0.75) and common == pytest.approx(0.25)


def test_threshold_at_fpr_keeps_float32_scores_exact_in_float64():
    scores = np.array([0.3, 0.1, 0.2, 0.7], dtype=np.float32).reshape(-1, 1)
    labels = np.array([0, 0, 0, 1]).reshape(-1, 1)
    t = rates.threshold_at_fpr(scores, op.toxic(labels), 1 / 3)
    assert t == (float(np.float32(0.3)) + float(np.float32(0.2))) / 2
    # A label of 0.5 counts as non-toxic here (toxic is > 0.5).
    assert rates.threshold_at_fpr([0.3, 0.1, 0.2], op.toxic([0, 0, 0.5]), 1 / 3) == pytest.approx(
        0.25
    )
    assert rates.threshold_at_fpr([0.4], op.toxic([0]), 0.5) == np.nextafter(0.4, np.inf)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5])
def test_a_target_outside_0_1_is_refused(target):
    with pytest.raises(ValueError, match=r"target FPR must be in \(0, 1\), got"):
        rates.threshold_at_fpr(SCORES, op.toxic(LABELS), target)


def test_no_negatives_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="no non-toxic validation examples"):
        rates.threshold_at_fpr([0.5], op.toxic([1]), 0.1)


def test_rates_count_strictly_above_on_column_vectors():
    scores = np.array([0.5, 0.4, 0.6, 0.4], dtype=np.float32).reshape(-1, 1)
    labels = np.array([0, 0.5, 1, 1]).reshape(-1, 1)
    assert rates.rates_at(scores, op.toxic(labels), 0.5) == {"fpr": 0.0, "tpr": 0.5}
    assert rates.rates_at(scores, op.toxic(labels), 0.45) == {"fpr": 0.5, "tpr": 0.5}
    only_negatives = rates.rates_at([0.1], op.toxic([0]), 0.0)
    assert only_negatives["fpr"] == 1.0 and math.isnan(only_negatives["tpr"])
    only_positives = rates.rates_at([0.1], op.toxic([1]), 0.0)
    assert math.isnan(only_positives["fpr"]) and only_positives["tpr"] == 1.0


def test_auc_on_column_vectors_with_ties_and_one_class():
    scores = np.array([0.1, 0.4, 0.4, 0.8, 0.4], dtype=np.float32).reshape(-1, 1)
    labels = np.array([0, 0, 1, 1, 0.5]).reshape(-1, 1)
    # Positives 0.4 and 0.8 against negatives 0.1, 0.4, 0.4 (0.5 is not toxic): 5.5 of 6 pairs.
    assert rates.auc(scores, op.toxic(labels)) == pytest.approx(4.0 / 6 + 1.0 / 6 * 0.5 * 2 + 0.0)
    assert rates.auc([0.2, 0.1], op.toxic([1, 0])) == 1.0
    assert math.isnan(rates.auc([0.1, 0.2], op.toxic([0, 0]))) and math.isnan(
        rates.auc([0.1], op.toxic([1]))
    )


def test_choose_records_the_validation_point():
    point = op.choose(SCORES.reshape(-1, 1), LABELS.reshape(-1, 1), 0.25)
    assert (
        point.to_json()
        == op.OperatingPoint(
            threshold=pytest.approx(0.75),
            source="validation",
            target_fpr=0.25,
            validation_fpr=0.25,
            validation_tpr=0.0,
            validation_auc=pytest.approx(0.25),
            validation_examples=10,
        ).to_json()
    )


def test_only_rows_labelled_below_one_half_count_toward_min_rows():
    # a has 4 non-toxic rows and 1 toxic: not enough for min_rows 5, whether that row's label
    # is 1.0 or 0.5, and with column-vector labels.
    for label in (1.0, 0.5):
        labels = LABELS.copy()
        labels[4] = label
        _, own = pp.fit_group_thresholds(SCORES, labels.reshape(-1, 1), {"a": A}, 0.25, 5, 0.0)
        assert own == {"a": 0.0}
        notes = pp.threshold_notes({"a": A.astype(float)}, labels, 5, own, 0.0, 0.0)
        assert notes["a"].startswith("4 non-toxic validation rows, fewer than")
    one = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    assert pp.fitted_groups({"a": one}, LABELS.reshape(-1, 1), 2) == []
    _, own = pp.fit_group_thresholds(SCORES, LABELS.reshape(-1, 1), {"a": one}, 0.25, 2, 0.0)
    assert own == {"a": 0.0}


def test_gap_bounded_thresholds_ignore_rows_labelled_one_half():
    scores = np.append(SCORES, 0.45)
    labels = np.append(LABELS, 0.5)
    tags = {"a": np.append(A, 0)}
    assert fit_gap_bounded_thresholds(scores, labels, tags, 0.25, 0.0, 4) == (
        fit_gap_bounded_thresholds(SCORES, LABELS, {"a": A}, 0.25, 0.0, 4)
    )


def test_gap_bounded_thresholds_with_one_row_to_flag():
    # 8 non-toxic rows at target 1/8: a's bound flags none of its own, so the one flagged row
    # is the highest untagged one, 0.4 (halfway to 0.3).
    common, _ = fit_gap_bounded_thresholds(SCORES, LABELS, {"a": A}, 0.125, 0.0, 4)
    assert common == pytest.approx(0.35)


def test_a_negative_at_its_groups_bound_is_not_eligible():
    # a's two non-toxic scores are one float apart: its bound lands on the lower one.
    x = 0.9
    y = float(np.nextafter(x, -np.inf))
    scores = np.array([x, y, 0.5, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([0, 0, 1, 0, 0, 0, 0.0])
    tags = {"a": np.array([1, 1, 1, 0, 0, 0, 0])}
    common, own = fit_gap_bounded_thresholds(scores, labels, tags, 0.25, 0.25, 2)
    assert own["a"] == y
    assert common == pytest.approx(0.35)


def test_threshold_at_fpr_above_every_negative_steps_below_the_lowest():
    assert rates.threshold_at_fpr([0.4, 0.2, 0.3], op.toxic([0, 0, 1]), 0.9) == np.nextafter(
        0.2, -np.inf
    )
    with pytest.raises(ValueError, match=r"^no non-toxic validation examples: cannot pick"):
        rates.threshold_at_fpr([0.5], op.toxic([1]), 0.1)


def test_rates_compare_float32_scores_in_float64():
    # float32(0.4) is 0.4000000059604645: above a threshold of 0.4.
    scores = np.array([0.4], dtype=np.float32)
    assert rates.rates_at(scores, op.toxic([0]), 0.4)["fpr"] == 1.0


def test_auc_counts_a_label_of_one_half_as_non_toxic():
    scores = np.array([0.1, 0.4, 0.4, 0.8, 0.9])
    labels = np.array([0, 0, 1, 1, 0.5])
    # Positives 0.4, 0.8 against negatives 0.1, 0.4, 0.9: 3.5 of 6 pairs.
    assert rates.auc(scores, op.toxic(labels)) == pytest.approx(3.5 / 6)
