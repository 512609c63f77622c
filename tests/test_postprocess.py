"""Post-processing: per-group thresholds fitted on validation, and the serving graph's decision
that applies them."""

import numpy as np
import pytest
import tensorflow as tf

from contract import IDENTITY_GROUPS, identity_feature
from trainer_modules import postprocess
from trainer_modules.export import example_thresholds
from trainer_modules.operating_point import rates_at


def _validation(seed=0, n=20_000):
    """Scores where race's and religion's non-toxic rows score higher than everyone else's."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(float)
    tags = {g: rng.random(n) < 0.08 for g in IDENTITY_GROUPS}
    tags["disability"] = rng.random(n) < 0.001  # too few rows to get its own threshold
    logit = rng.normal(size=n) + 2.5 * labels + 0.8 * tags["race"] + 0.5 * tags["religion"]
    return 1 / (1 + np.exp(-logit)), labels, tags


def test_each_fitted_group_and_the_rest_get_the_target_fpr():
    scores, labels, tags = _validation()
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, min_rows=30)
    assert "disability" not in own and {"race", "religion"} <= set(own)
    assert own["race"] > own["religion"] > rest
    flagged = postprocess.decisions(scores, tags, rest, own)
    negative = labels < 0.5
    assert flagged[negative].mean() == pytest.approx(0.05, abs=0.005)
    for group in own:
        group_fpr = flagged[tags[group] & negative].mean()
        assert group_fpr == pytest.approx(0.05, abs=0.02), group
    # Without post-processing, at the one threshold with the same overall FPR, race's FPR is
    # far above the target: the effect is not noise.
    common = rates_at(scores, labels, np.quantile(scores[negative], 0.95))
    assert common["fpr"] == pytest.approx(0.05, abs=0.002)
    assert (scores[tags["race"] & negative] > np.quantile(scores[negative], 0.95)).mean() > 0.1


def test_the_serving_graph_decides_as_the_fitted_thresholds_say():
    scores, labels, tags = _validation(seed=1, n=4000)
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, min_rows=30)
    transformed = {identity_feature(g): tf.constant(tags[g].astype("int64")) for g in tags}
    vector = tf.constant([own.get(g, -1.0) for g in IDENTITY_GROUPS], tf.float32)
    thresholds = example_thresholds(transformed, tf.constant(rest, tf.float32), vector)
    graph = (tf.constant(scores[:, None], tf.float32) > thresholds).numpy().reshape(-1)
    expected = postprocess.decisions(scores.astype("float32"), tags, np.float32(rest),
                                     {g: np.float32(t) for g, t in own.items()})  # fmt: skip
    assert (graph == expected).mean() > 0.999


def test_without_enough_rows_no_group_gets_its_own_threshold():
    scores, labels, tags = _validation(n=500)
    rest, own = postprocess.fit_group_thresholds(scores, labels, tags, 0.05, min_rows=1000)
    assert own == {}
    assert rates_at(scores, labels, rest)["fpr"] == pytest.approx(0.05, abs=0.01)


def test_a_post_processed_candidate_gets_its_base_weights_and_keeps_its_own_thresholds(tmp_path):
    from trainer_modules import common
    from trainer_modules.settings import TrainerSettings

    settings = TrainerSettings(glove_path="none")
    base = common.build_model(50, 5, settings)
    # What export attaches to the base model before its weights are saved.
    base.decision_threshold = tf.Variable(0.3)
    serving = str(tmp_path / "model" / "Format-Serving")
    common.save_weights(base, serving)
    tf.keras.utils.set_random_seed(7)
    candidate = common.build_model(50, 5, settings)
    common.load_weights(candidate, serving)
    candidate.decision_threshold = tf.Variable(0.7)

    def layer_weights(model):
        return [w for layer in model.layers for w in layer.get_weights()]

    for mine, theirs in zip(layer_weights(candidate), layer_weights(base), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # A TF checkpoint's deferred restore would have set this back to the base's 0.3.
    assert candidate.decision_threshold.numpy() == pytest.approx(0.7)
