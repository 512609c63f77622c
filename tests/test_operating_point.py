"""The operating point: the threshold picked on validation scores, the gate judging each model
there, and settings refused before anything runs."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import rates
from components.policy import GatePolicy
from tests.test_gate import validate
from trainer_modules import operating_point as op
from trainer_modules.settings import SettingsError, TrainerSettings, TransformSettings


def _scores(seed=0, n=20_000, positive_share=0.09):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < positive_share).astype(float)
    scores = 1 / (1 + np.exp(-(rng.normal(size=n) + 2.0 * labels - 2.5)))
    return scores, labels


@pytest.mark.parametrize("target", [0.01, 0.05, 0.2])
def test_the_threshold_gives_the_target_fpr_on_the_scores_it_was_picked_on(target):
    scores, labels = _scores()
    threshold = rates.threshold_at_fpr(scores, op.toxic(labels), target)
    negatives = int((labels == 0).sum())
    assert rates.rates_at(scores, op.toxic(labels), threshold)["fpr"] == pytest.approx(
        target, abs=1 / negatives
    )


def test_the_threshold_generalises_to_new_rows_of_the_same_distribution():
    scores, labels = _scores(seed=1)
    threshold = rates.threshold_at_fpr(scores, op.toxic(labels), 0.05)
    new_scores, new_labels = _scores(seed=2)
    assert rates.rates_at(new_scores, op.toxic(new_labels), threshold)["fpr"] == pytest.approx(
        0.05, abs=0.006
    )


def test_ties_at_the_threshold_count_as_flagged_by_the_strict_rule():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    labels = np.zeros(10)
    threshold = rates.threshold_at_fpr(scores, op.toxic(labels), 0.2)
    # The 2nd and 3rd highest tie: the threshold steps below the tie, flagging all four.
    assert threshold < 0.5 and rates.rates_at(scores, op.toxic(labels), threshold)["fpr"] == 0.4


def test_an_override_is_recorded_as_such():
    scores, labels = _scores()
    point = op.choose(scores, labels, 0.05, override=0.5)
    assert point.threshold == 0.5 and point.source == "override"
    assert point.validation_fpr == rates.rates_at(scores, op.toxic(labels), 0.5)["fpr"]


def test_auc_agrees_with_scikit_learn_including_ties():
    scores, labels = _scores(seed=3, n=3000)
    scores = np.round(scores, 2)  # many ties
    assert rates.auc(scores, op.toxic(labels)) == pytest.approx(
        roc_auc_score(labels, scores), abs=1e-12
    )


def _gate_at(target: float):
    """Constructed eval scores: a group whose non-toxic rows score higher than the rest.

    Its FPR gap is small at a strict 5% operating point and large at a loose 20% one.
    """
    rng = np.random.default_rng(7)
    n = 6000
    labels = (rng.random(n) < 0.1).astype(float)
    group = rng.random(n) < 0.1
    base = rng.normal(size=n) + 2.5 * labels
    scores = 1 / (1 + np.exp(-(base + 0.35 * group)))
    threshold = rates.threshold_at_fpr(scores, op.toxic(labels), target)

    def metrics(mask):
        r = rates.rates_at(scores[mask], op.toxic(labels[mask]), threshold)
        return {"fall_out": r["fpr"], "miss_rate": 1 - r["tpr"], "recall": r["tpr"]}

    auc = rates.auc(scores, op.toxic(labels))
    overall = {"example_count": n, "auc": auc, **metrics(np.ones(n, bool))}
    groups = {"religion": {"example_count": int(group.sum()), **metrics(group)}}
    policy = GatePolicy(max_fpr_gap=0.05, min_slice_size=30, groups=("religion",))
    return validate(overall, groups, policy=policy)[1], groups["religion"]["fall_out"] - overall[
        "fall_out"
    ]


def test_the_gate_verdict_follows_the_operating_point():
    strict, strict_gap = _gate_at(0.05)
    loose, loose_gap = _gate_at(0.20)
    assert strict_gap < 0.05 < loose_gap
    assert strict.blessed, strict.describe()
    assert not loose.blessed
    assert "false_positive_rate gap (group - overall)" in [f.metric for f in loose.failures]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("learning_rate", float("nan"), "learning_rate must be a finite number > 0"),
        ("learning_rate", -1.0, "learning_rate must be a finite number > 0"),
        ("min_diff_weight", -0.5, "min_diff_weight must be a finite number >= 0"),
        ("tfco_epsilon", -0.1, "tfco_epsilon must be a finite number >= 0"),
        ("min_diff_kernel", "cosine", "min_diff_kernel must be one of"),
        ("tfco_objective", "hinge", "tfco_objective must be one of"),
        ("target_fpr", 0.0, "target_fpr must be in (0, 1)"),
        ("decision_threshold", 1.0, "decision_threshold must be in (0, 1)"),
        ("patience", 0, "patience must be at least 1"),
    ],
)
def test_bad_training_settings_are_refused_when_built(field, value, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainerSettings(**{field: value})


def test_bad_vocabulary_size_is_refused():
    with pytest.raises(SettingsError, match="vocab_size must be in 100..1000000"):
        TransformSettings(vocab_size=10**9)
