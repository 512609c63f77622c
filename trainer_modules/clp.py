"""Counterfactual Logit Pairing (CLP) trainer: the shared model wrapped in TensorFlow Model
Remediation's `CounterfactualModel`, with a pairwise loss between the logits of a comment and of
the same comment with its identity terms swapped for other identity terms.

Where the counterfactuals are built: on Transform's token ids, inside the trainer, by swapping
the vocabulary ids of identity keywords (contract.IDENTITY_KEYWORDS) for the ids of other
keywords. Not on the raw text before Transform, for three reasons:

- the trainer sees only Transform's output (token ids and identity tags); counterfactual text
  would need a second token feature out of the shared `preprocessing_fn`, changing the schema
  and the Transform graph of every trainer, and fixing one counterfactual per comment;
- the library's helper (`build_counterfactual_data` with `sensitive_terms_to_remove`) deletes
  terms with a regex over raw strings, which has to mimic Transform's lower-casing and
  punctuation splitting ("Jewish." is the token "jewish"); ids are the tokens the model reads;
- a swap drawn each time a batch is drawn gives a fresh counterfactual every epoch, for free.

The helper is still used, with a custom function that swaps ids. Only single-word keywords are
swapped (a multi-word term such as "middle eastern" is two ordinary words alone); a keyword
outside the vocabulary is read as the out-of-vocabulary id at serving, so that id stands in for
it (`clp_oov` "swap"; "skip" leaves it out, since every comment with a rare word then counts as
mentioning a term). `clp_pairs` "non_toxic" pairs only comments labelled non-toxic. Terms are
swapped across groups, as the Wikipedia fuzzed test set does; within a comment, every
occurrence of a term becomes the same other term.

The pairing is on logits (hence "logit pairing"), over the examples that mention a term, in
inference mode: without dropout the pair differs only by the swap, so the loss measures the gap
the served model shows. The library's training step calls the model without `training=True`,
which switches dropout off for the classification loss too; `PairedLogitsModel` fixes that.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_model_remediation import counterfactual
from tfx import v1 as tfx

from contract import IDENTITY_KEYWORDS, TOKENS_KEY, VOCAB_NAME
from trainer_modules import training
from trainer_modules.model import logits_of
from trainer_modules.settings import TrainerSettings


def identity_token_ids(vocabulary, oov: str = "swap") -> np.ndarray:
    """Token ids of the single-word identity keywords (Transform's ids: vocabulary index + 1),
    plus the out-of-vocabulary id when some keyword is not in the vocabulary and `oov` is
    "swap" ("skip" leaves it out)."""
    words = [w.decode() if isinstance(w, bytes) else w for w in vocabulary]
    index = {w: i + 1 for i, w in enumerate(words)}
    keywords = {k for terms in IDENTITY_KEYWORDS.values() for k in terms if " " not in k}
    ids = {index[k] for k in keywords if k in index}
    if len(ids) < len(keywords) and oov == "swap":
        ids.add(len(words) + 1)
    if len(ids) < 2:
        raise ValueError(
            f"only {len(ids)} identity keyword(s) in the vocabulary: nothing to swap; "
            "train on data that mentions identity terms or use another trainer"
        )
    return np.array(sorted(ids), np.int64)


def swap_terms(tokens: tf.Tensor, term_ids: tf.Tensor, seed: int | None = None) -> tf.Tensor:
    """[batch, length] token ids with each identity term replaced by a different one, drawn at
    random per comment and term (the same term maps to the same other term within a comment)."""
    count = tf.size(term_ids)
    matches = tf.equal(tokens[..., tf.newaxis], term_ids)
    is_term = tf.reduce_any(matches, axis=-1)
    position = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int32)
    # An offset in 1..count-1 from the term's own position never maps a term to itself.
    offsets = tf.random.uniform([tf.shape(tokens)[0], count], 1, count, tf.int32, seed=seed)
    shifted = (position + tf.gather(offsets, position, batch_dims=1)) % count
    return tf.where(is_term, tf.gather(term_ids, shifted), tokens)


def mentions_terms(tokens: tf.Tensor, term_ids: tf.Tensor) -> tf.Tensor:
    return tf.reduce_any(tf.equal(tf.reshape(tokens, [-1, 1]), term_ids))


def counterfactual_pairs(
    examples: tf.data.Dataset, term_ids, batch_size: int, seed: int, pairs: str = "all"
):
    """Endless batches of (original tokens, counterfactual tokens, weight) from unbatched
    (features, label) examples that mention an identity term; with `pairs` "non_toxic", only
    those labelled non-toxic."""
    term_ids = tf.constant(term_ids, tf.int64)
    mentioning = examples.filter(lambda f, y: mentions_terms(f[TOKENS_KEY], term_ids))
    if pairs == "non_toxic":
        mentioning = mentioning.filter(lambda f, y: tf.reduce_all(tf.cast(y, tf.float32) < 0.5))
    originals = (
        mentioning.map(lambda f, y: (f[TOKENS_KEY], y))
        .cache()
        .shuffle(4096, seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )

    def pair(batch):
        tokens, _ = batch
        return tokens, swap_terms(tokens, term_ids, seed), tf.ones([tf.shape(tokens)[0]])

    return counterfactual.keras.utils.build_counterfactual_data(
        originals, custom_counterfactual_function=pair
    )


class PairedLogitsModel(counterfactual.keras.CounterfactualModel):
    """CounterfactualModel whose step trains the batch in training mode (dropout on) and scores
    each counterfactual pair in one inference-mode pass."""

    def train_step(self, data):
        unpack = tf.keras.utils.unpack_x_y_sample_weight
        x, y, sample_weight = unpack(data.original_input)
        original_x, counterfactual_x, pair_weight = unpack(data.counterfactual_data)
        with tf.GradientTape() as tape:
            y_pred = self.original_model(x, training=True)
            pairs = self.original_model(tf.concat([original_x, counterfactual_x], 0))
            original, swapped = tf.split(pairs, 2)
            total, pair_loss, compiled = self.compute_total_loss(
                y, y_pred, original, swapped, sample_weight, pair_weight
            )
        variables = self.original_model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        self.update_metrics(y, y_pred, sample_weight, total, compiled, pair_loss)
        return {m.name: m.result() for m in self.metrics}


def fit(model: tf.keras.Model, train: tf.data.Dataset, settings, callbacks, term_ids) -> dict:
    # The pairs swap identity tokens; a sentence encoding has no tokens to swap.
    if set(model.input) != {TOKENS_KEY}:
        raise ValueError("CLP pairs token ids only: it cannot train a model that reads more")
    packed = counterfactual.keras.utils.pack_counterfactual_data(
        train.map(lambda features, label: (features[TOKENS_KEY], label)),
        counterfactual_pairs(
            train.unbatch(), term_ids, settings.clp_batch_size, settings.seed, settings.clp_pairs
        ),
    )
    # The logits view shares its weights with `model`, which is what gets exported.
    wrapped = PairedLogitsModel(
        logits_of(model), counterfactual.losses.PairwiseMSELoss(), settings.clp_weight
    )
    wrapped.compile(
        optimizer=tf.keras.optimizers.Adam(settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[tf.keras.metrics.AUC(name="auc", from_logits=True)],
    )
    history = wrapped.fit(packed, epochs=settings.epochs, callbacks=callbacks, verbose=2)
    return {
        "clp_identity_token_ids": [int(i) for i in term_ids],
        "clp_loss": [float(v) for v in history.history.get("counterfactual_loss", [])],
    }


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    vocabulary = tft.TFTransformOutput(fn_args.transform_output).vocabulary_by_name(VOCAB_NAME)
    oov = TrainerSettings.from_custom_config(fn_args.custom_config).clp_oov
    term_ids = identity_token_ids(vocabulary, oov)
    training.run(fn_args, functools.partial(fit, term_ids=term_ids), __name__)
