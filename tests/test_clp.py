"""Counterfactual Logit Pairing: the identity-swapped counterfactuals, and that the pairing
makes a comment and its counterfactual score alike where a weight-0 control does not."""

import numpy as np
import pytest
import tensorflow as tf

from contract import TOKENS_KEY, identity_feature
from tests import synthetic as syn
from trainer_modules import clp
from trainer_modules.model import build_model, logits_of
from trainer_modules.settings import SettingsError

# The synthetic data's group token and an identity term it never uses: a rare term.
TERMS = np.array([syn.GROUP_TOKEN, 6], np.int64)


def test_identity_token_ids_are_single_word_keywords_and_the_oov_id_for_missing_ones():
    vocabulary = [b"the", b"gay", b"middle", b"eastern", b"muslim", b"women", b"cat"]
    ids = clp.identity_token_ids(vocabulary)
    # Transform's ids are the vocabulary index + 1; "middle eastern" is not swapped word by
    # word; most keywords are missing, so the out-of-vocabulary id (len + 1) stands for them.
    assert ids.tolist() == [2, 5, 6, 8]


def test_identity_token_ids_refuse_a_vocabulary_without_identity_terms():
    with pytest.raises(ValueError, match="only 1 identity keyword"):
        clp.identity_token_ids(["the", "cat"])


def test_swap_replaces_each_term_by_another_term_the_same_way_within_a_comment():
    terms = tf.constant([3, 7, 9], tf.int64)
    tokens = tf.constant([[3, 1, 3, 7, 0], [2, 9, 9, 4, 0], [1, 2, 4, 0, 0]] * 200, tf.int64)
    swapped = clp.swap_terms(tokens, terms, seed=1).numpy()
    original = tokens.numpy()
    is_term = np.isin(original, [3, 7, 9])
    np.testing.assert_array_equal(swapped[~is_term], original[~is_term])
    assert np.isin(swapped[is_term], [3, 7, 9]).all()
    assert (swapped[is_term] != original[is_term]).all()
    first = swapped[0::3]
    np.testing.assert_array_equal(first[:, 0], first[:, 2])  # both 3s became the same term
    np.testing.assert_array_equal(swapped[1::3, 1], swapped[1::3, 2])
    # Random per comment: the 3 becomes 7 in some comments and 9 in others.
    assert set(first[:, 0]) == {7, 9}


def test_counterfactual_pairs_are_the_term_mentioning_examples_with_terms_swapped():
    features, labels = syn.make_examples(200, seed=4)
    examples = tf.data.Dataset.from_tensor_slices((features, labels))
    mentioned = {tuple(r) for r in features[TOKENS_KEY] if np.isin(r, TERMS).any()}
    assert 0 < len(mentioned) < 200
    pairs = clp.counterfactual_pairs(examples, TERMS, batch_size=16, seed=0)
    for original, counterfactual, weight in pairs.take(20):
        assert original.shape == (16, syn.MAX_TOKENS)
        np.testing.assert_array_equal(weight.numpy(), np.ones(16))
        for row, swapped in zip(original.numpy(), counterfactual.numpy(), strict=True):
            assert tuple(row) in mentioned
            changed = row != swapped
            assert changed.any()
            assert set(row[changed]) | set(swapped[changed]) <= set(TERMS)


def test_non_toxic_pairs_are_only_the_term_mentioning_non_toxic_examples():
    features, labels = syn.make_examples(400, seed=4)
    examples = tf.data.Dataset.from_tensor_slices((features, labels))
    mentions = np.isin(features[TOKENS_KEY], TERMS).any(axis=1)
    rows = features[TOKENS_KEY]
    non_toxic = {tuple(r) for r in rows[mentions & (labels < 0.5)]}
    toxic = {tuple(r) for r in rows[mentions & (labels > 0.5)]}
    assert non_toxic and toxic and not non_toxic & toxic
    pairs = clp.counterfactual_pairs(examples, TERMS, 16, seed=0, pairs="non_toxic")
    seen = {tuple(r) for original, _, _ in pairs.take(40) for r in original.numpy()}
    # 640 draws from the non-toxic rows cover all of them, and no toxic row comes up.
    assert seen == non_toxic


def test_skipping_the_oov_id_leaves_only_the_keywords_in_the_vocabulary():
    vocabulary = [b"the", b"gay", b"muslim", b"women", b"cat"]
    assert clp.identity_token_ids(vocabulary, oov="skip").tolist() == [2, 3, 4]
    assert clp.identity_token_ids(vocabulary, oov="swap").tolist() == [2, 3, 4, 6]


def _two_terms(n: int, seed: int):
    """The synthetic problem plus the second term in 30% of the other comments: the group
    term comes with toxicity 70% of the time, the other term 10%."""
    features, labels = syn.make_examples(n, seed)
    tokens = features[TOKENS_KEY]
    rng = np.random.default_rng(seed + 100)
    other = (features[identity_feature("religion")] == 0) & (rng.random(n) < 0.3)
    for row in np.flatnonzero(other):
        free = np.flatnonzero(tokens[row] == 0)
        if len(free):
            tokens[row, free[0]] = TERMS[1]
    return features, labels


def _swap_gap(weight: float) -> tuple[float, float]:
    """Mean |logit(comment) - logit(counterfactual)| over held-out group comments, and AUC."""
    settings = syn.settings(clp_weight=weight)
    tf.keras.utils.set_random_seed(settings.seed)
    model = build_model(syn.VOCAB, syn.MAX_TOKENS, settings)
    train = syn.dataset(*_two_terms(4000, seed=0), settings.batch_size, settings.seed)
    extra = clp.fit(model, train, settings, [], term_ids=TERMS)
    assert len(extra["clp_loss"]) == settings.epochs
    features, labels = _two_terms(2000, seed=1)
    group = features[identity_feature("religion")] > 0
    tokens = features[TOKENS_KEY][group]
    swapped = np.where(tokens == TERMS[0], TERMS[1], tokens)
    logits = logits_of(model)
    gap = np.abs(logits.predict(tokens, verbose=0) - logits.predict(swapped, verbose=0))
    return float(gap.mean()), syn.evaluate(model, features, labels)["auc"]


@pytest.fixture(scope="module")
def gaps():
    return {"clp": _swap_gap(1.0), "control": _swap_gap(0.0)}


def test_pairing_shrinks_the_logit_gap_between_a_comment_and_its_counterfactual(gaps):
    clp_gap, clp_auc = gaps["clp"]
    control_gap, control_auc = gaps["control"]
    # The control (weight 0, the same training otherwise) tells the two terms apart; the
    # pairing all but removes that (measured: 0.16 against under 0.001).
    assert control_gap > 0.08, gaps
    assert clp_gap < control_gap / 10, gaps
    # Here the terms carry no signal that the other tokens lack, so pairing costs no AUC.
    assert clp_auc > control_auc - 0.02 and control_auc > 0.9, gaps


def test_a_negative_clp_weight_is_refused():
    with pytest.raises(SettingsError, match="clp_weight must be a finite number >= 0"):
        syn.settings(clp_weight=-0.5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("clp_pairs", "toxic", "clp_pairs must be one of"), ("clp_oov", "drop", "clp_oov must be")],
)
def test_unknown_clp_choices_are_refused(field, value, message):
    with pytest.raises(SettingsError, match=message):
        syn.settings(**{field: value})
