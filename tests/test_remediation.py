"""MinDiff and TFCO trainers on a small problem with a planted false-positive-rate gap."""

import numpy as np
import pytest
import tensorflow as tf

from contract import TOKENS_KEY, identity_feature
from tests import synthetic as syn
from trainer_modules import baseline, common, min_diff, tfco, tfco_compat


def _train(module):
    settings = syn.settings()
    tf.keras.utils.set_random_seed(settings.seed)
    model = common.build_model(syn.VOCAB, syn.MAX_TOKENS, settings)
    train = syn.dataset(*syn.make_examples(4000, seed=0), settings.batch_size, settings.seed)
    extra = module.fit(model, train, settings, [])
    return syn.evaluate(model, *syn.make_examples(2000, seed=1)), extra


@pytest.fixture(scope="module")
def results():
    return {
        name: _train(m)
        for name, m in (("baseline", baseline), ("min_diff", min_diff), ("tfco", tfco))
    }


def test_baseline_shows_the_planted_gap(results):
    metrics, _ = results["baseline"]
    assert metrics["gap_matched"] > 0.35 and metrics["auc"] > 0.9


@pytest.mark.parametrize("variant", ["min_diff", "tfco"])
def test_remediation_cuts_the_gap_at_matched_fpr(results, variant):
    base, _ = results["baseline"]
    metrics, _ = results[variant]
    assert metrics["gap_matched"] < base["gap_matched"] - 0.2, (variant, metrics, base)
    assert metrics["gap"] < base["gap"] - 0.3, (variant, metrics, base)
    # Still a classifier, not a constant. The group token predicts toxicity by construction
    # here, so closing the gap costs AUC (TFCO about 0.62, MinDiff about 0.81 at these seeds).
    assert metrics["auc"] > 0.58


def test_tfco_constraints_bind(results):
    _, extra = results["tfco"]
    first_slack = extra["tfco_constraints"][0][0]
    assert first_slack > 0.3  # violated at first: the constraint has something to do
    assert max(m for epoch in extra["tfco_multipliers"] for m in epoch) > 0.05
    assert min(s for epoch in extra["tfco_constraints"][1:] for s in epoch) < first_slack - 0.3


def _unbatched(n=40):
    features, labels = syn.make_examples(n, seed=5)
    features[identity_feature("sexual_orientation")] = (np.arange(n) % 3 == 0).astype(np.int64)
    return features, labels, tf.data.Dataset.from_tensor_slices((features, labels))


def _rows(stream):
    return sorted(tuple(f[TOKENS_KEY].numpy().tolist()) for f, _ in stream)


def test_min_diff_streams_select_non_toxic_examples_of_the_right_groups():
    features, labels, examples = _unbatched()
    religion = features[identity_feature("religion")] > 0
    orientation = features[identity_feature("sexual_orientation")] > 0
    clean = labels < 0.5

    def expected(mask):
        return sorted(tuple(row) for row in features[TOKENS_KEY][mask].tolist())

    sensitive, nonsensitive = min_diff.min_diff_streams(examples, ["religion"], "all")
    assert _rows(sensitive) == expected(clean & religion)
    assert _rows(nonsensitive) == expected(clean & ~religion)
    assert _rows(sensitive) and _rows(nonsensitive)

    sensitive, nonsensitive = min_diff.min_diff_streams(
        examples, ["religion"], "sexual_orientation"
    )
    assert _rows(nonsensitive) == expected(clean & orientation)


def test_tfco_group_stream_draws_only_group_examples():
    features, _, examples = _unbatched()
    batch = next(iter(tfco.group_stream(examples, ["religion", "sexual_orientation"], 8, seed=0)))
    tokens, _, tags = batch
    assert tags.shape == (8, 2) and bool(tf.reduce_all(tf.reduce_any(tags, axis=1)))


def test_tfco_shims_make_a_legacy_optimizer_that_accepts_tape():
    optimizer = tfco_compat.proxy_lagrangian_optimizer(0.01, 2, 0.05)
    assert isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer)
    variable = tf.Variable(1.0)
    # The legacy minimize passes tape=; unpatched TFCO 0.2 raises TypeError here.
    optimizer.minimize(lambda: variable**2, var_list=[variable], tape=tf.GradientTape())
    assert variable.numpy() < 1.0
    assert len(tfco_compat.lagrange_multipliers(optimizer)) == 2
