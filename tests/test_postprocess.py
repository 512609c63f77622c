"""Post-processing: per-group thresholds fitted on validation, and the serving graph's decision
that applies them."""

import numpy as np
import pytest
import tensorflow as tf

import rates
from contract import IDENTITY_GROUPS, identity_feature
from trainer_modules import operating_point as op
from trainer_modules import postprocess
from trainer_modules.export import example_thresholds


def _validation(seed=0, n=20_000):
    """Scores where race's and religion's non-toxic rows score higher than everyone else's."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(float)
    tags = {g: rng.random(n) < 0.08 for g in IDENTITY_GROUPS}
    tags["disability"] = rng.random(n) < 0.001  # too few rows to get its own threshold
    logit = rng.normal(size=n) + 2.5 * labels + 0.8 * tags["race"] + 0.5 * tags["religion"]
    return 1 / (1 + np.exp(-logit)), labels, tags


def _base(scores, labels):
    return rates.threshold_at_fpr(scores, op.toxic(labels), 0.05)


def test_each_fitted_group_above_the_target_gets_the_target_fpr():
    scores, labels, tags = _validation()
    base = _base(scores, labels)
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 30, base)
    assert own["race"] > own["religion"] > base
    flagged = postprocess.decisions(scores, tags, rest, own)
    negative = labels < 0.5
    for group in ("race", "religion"):
        group_fpr = flagged[tags[group] & negative].mean()
        assert group_fpr == pytest.approx(0.05, abs=0.02), group
    # Every other row keeps the base decision: the overall FPR can only fall.
    assert rest == base
    assert flagged[negative].mean() < rates.rates_at(scores, op.toxic(labels), base)["fpr"]
    # Without post-processing, at the one threshold with the same overall FPR, race's FPR is
    # far above the target: the effect is not noise.
    common = rates.rates_at(scores, op.toxic(labels), np.quantile(scores[negative], 0.95))
    assert common["fpr"] == pytest.approx(0.05, abs=0.002)
    assert (scores[tags["race"] & negative] > np.quantile(scores[negative], 0.95)).mean() > 0.1


def test_the_serving_graph_decides_as_the_fitted_thresholds_say():
    scores, labels, tags = _validation(seed=1, n=4000)
    rest, own = postprocess.fit_group_thresholds(
        scores, labels, tags, 0.05, 30, _base(scores, labels)
    )
    transformed = {identity_feature(g): tf.constant(tags[g].astype("int64")) for g in tags}
    vector = tf.constant([own.get(g, -1.0) for g in IDENTITY_GROUPS], tf.float32)
    thresholds = example_thresholds(transformed, tf.constant(rest, tf.float32), vector)
    graph = (tf.constant(scores[:, None], tf.float32) > thresholds).numpy().reshape(-1)
    expected = postprocess.decisions(scores.astype("float32"), tags, np.float32(rest),
                                     {g: np.float32(t) for g, t in own.items()})  # fmt: skip
    assert (graph == expected).all()


def test_without_enough_rows_every_group_keeps_the_base_threshold():
    scores, labels, tags = _validation(n=500)
    base = _base(scores, labels)
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 1000, base)
    assert own == {g: base for g in tags}
    assert postprocess.fitted_groups(tags, labels, 1000) == []


def test_no_row_is_judged_below_the_base_threshold():
    """The failure this rule exists for: the untagged rows' own target-FPR threshold falls
    below the base (they score lower than the tagged rows), and a group too small for its own
    threshold (disability here), or one the keyword lists miss, must not get it."""
    scores, labels, tags = _validation(seed=2)
    base = _base(scores, labels)
    untagged = ~np.any([tags[g] for g in tags], axis=0)
    assert rates.threshold_at_fpr(scores[untagged], op.toxic(labels[untagged]), 0.05) < base
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 30, base)
    assert rest == base
    assert own["disability"] == base and "disability" not in postprocess.fitted_groups(
        tags, labels, 30
    )
    assert min(own.values()) >= base
    flagged = postprocess.decisions(scores, tags, rest, own)
    # Every row the post-processed model flags, the base model flags too.
    assert not (flagged & ~(scores > base)).any()
    # A group whose FPR at the base is under the target keeps the base, not a lower threshold.
    scores_low = np.where(tags["gender"], scores * 0.5, scores)
    _, own_low = postprocess.fit_group_thresholds(scores_low, labels, tags, 0.05, 30, base)
    assert own_low["gender"] == base


def test_untagged_rows_above_the_target_get_a_stricter_threshold():
    scores, labels, tags = _validation(seed=3)
    untagged = ~np.any([tags[g] for g in tags], axis=0)
    base = _base(scores[~untagged], labels[~untagged])  # a base fitted where rows score high
    rest, _ = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 30, base / 2)
    assert rest == pytest.approx(
        rates.threshold_at_fpr(scores[untagged], op.toxic(labels[untagged]), 0.05)
    )


def test_a_post_processed_candidate_gets_its_base_weights_and_keeps_its_own_thresholds(tmp_path):
    from trainer_modules.model import build_model
    from trainer_modules.settings import TrainerSettings
    from trainer_modules.weights import load_weights, save_weights

    settings = TrainerSettings(glove_path="none")
    base = build_model(50, 5, settings)
    # What export attaches to the base model before its weights are saved.
    base.decision_threshold = tf.Variable(0.3)
    serving = str(tmp_path / "model" / "Format-Serving")
    save_weights(base, serving)
    tf.keras.utils.set_random_seed(7)
    candidate = build_model(50, 5, settings)
    load_weights(candidate, serving)
    candidate.decision_threshold = tf.Variable(0.7)

    def layer_weights(model):
        return [w for layer in model.layers for w in layer.get_weights()]

    for mine, theirs in zip(layer_weights(candidate), layer_weights(base), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # A TF checkpoint's deferred restore would have set this back to the base's 0.3.
    assert candidate.decision_threshold.numpy() == pytest.approx(0.7)


def test_each_threshold_says_why_it_is_what_it_is():
    rng = np.random.default_rng(3)
    labels = np.zeros(400)
    scores = rng.uniform(size=400)
    tags = {
        # 200 non-toxic rows scored high: their FPR at the base threshold is above target.
        "religion": np.arange(400) < 200,
        # 10 rows: too few for a threshold of their own.
        "disability": np.arange(400) >= 390,
    }
    scores[:200] += 0.5
    base = rates.threshold_at_fpr(scores, op.toxic(labels), 0.05)
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 30, base)
    notes = postprocess.threshold_notes(tags, labels, 30, own, base, rest)
    assert own["religion"] > base and own["disability"] == base
    assert notes == {
        "disability": "10 non-toxic validation rows, fewer than postprocess_min_rows 30: "
        "keeps the base threshold",
        "religion": "its own threshold, at the target FPR on 200 non-toxic rows",
        "untagged": "keeps the base threshold",
    }
    # A group with rows enough whose FPR at the base threshold is already within target.
    tags["religion"] = np.arange(400) >= 200
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 30, base)
    notes = postprocess.threshold_notes(tags, labels, 30, own, base, rest)
    assert own["religion"] == base
    assert notes["religion"] == (
        "at the base threshold its FPR on 200 non-toxic rows is within target"
    )


def test_the_trainers_operating_point_records_the_post_processed_decisions():
    from trainer_modules.settings import TrainerSettings
    from trainer_modules.training import choose_operating_point

    scores, labels, tags = _validation(seed=2, n=6000)
    negative = labels < 0.5
    plain = choose_operating_point(scores, labels, tags, TrainerSettings(target_fpr=0.05))
    assert plain.postprocess == "none" and plain.group_thresholds is None
    assert plain.threshold == pytest.approx(_base(scores, labels))
    settings = TrainerSettings(target_fpr=0.05, postprocess="group_thresholds",
                               postprocess_min_rows=30)  # fmt: skip
    point = choose_operating_point(scores, labels, tags, settings)
    assert point.postprocess == "group_thresholds"
    assert point.base_threshold == pytest.approx(plain.threshold)
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, 30, plain.threshold)
    assert (point.threshold, point.group_thresholds) == (rest, own)
    assert "disability" not in point.fitted_groups and "race" in point.fitted_groups
    assert point.threshold_notes["disability"].endswith("keeps the base threshold")
    # Its validation rates are those of the post-processed decisions, not of the base threshold.
    flagged = postprocess.decisions(scores, tags, rest, own)
    assert point.validation_fpr == pytest.approx(flagged[negative].mean())
    assert point.validation_tpr == pytest.approx(flagged[~negative].mean())
    assert point.validation_fpr < plain.validation_fpr
    # An explicit decision threshold is the base the groups are fitted above.
    fixed = choose_operating_point(scores, labels, tags, TrainerSettings(
        target_fpr=0.05, postprocess="group_thresholds", decision_threshold=0.9))  # fmt: skip
    assert fixed.base_threshold == 0.9 and min(fixed.group_thresholds.values()) >= 0.9
