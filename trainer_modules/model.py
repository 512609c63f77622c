"""The model every trainer trains: word vectors, a dense projection of each token, pooling over
the comment, one hidden layer, and optionally the sentence encoding beside the tokens."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from contract import ENCODING_KEY, TOKENS_KEY
from trainer_modules.preprocessing import PAD_ID
from trainer_modules.settings import TrainerSettings


class MaskedMaxMeanPooling(tf.keras.layers.Layer):
    """Max and mean over the real tokens of each comment (padding ids are 0); an empty comment
    pools to zeros."""

    def call(self, inputs):
        x, tokens = inputs
        mask = tf.cast(tf.not_equal(tokens, PAD_ID), x.dtype)[:, :, tf.newaxis]
        counts = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        mean = tf.reduce_sum(x * mask, axis=1) / counts
        highest = tf.reduce_max(x + (mask - 1.0) * 1e4, axis=1)
        highest = tf.where(highest < -1e3, tf.zeros_like(highest), highest)
        return tf.concat([highest, mean], axis=1)


def build_model(
    vocab_size: int,
    max_tokens: int,
    settings: TrainerSettings,
    embedding_matrix: np.ndarray | None = None,
    encoding_width: int | None = None,
) -> tf.keras.Model:
    """Word vectors (pretrained GloVe by default, fine-tuned), a dense projection of each token,
    max and mean pooling over the comment, one hidden layer; outputs a probability, with the
    logit layer named 'logits'. Chosen over the TFCO tutorial's CNN on validation AUC and speed
    (docs/benchmarks.md). With `encoding_width`, the frozen sentence encoder's output goes
    through a dense layer of its own and joins the pooled tokens before the hidden layer.
    Inputs are a dict keyed by feature name."""
    tokens = tf.keras.Input(shape=(max_tokens,), dtype=tf.int64, name=TOKENS_KEY)
    if embedding_matrix is not None:
        embedding = tf.keras.layers.Embedding(
            vocab_size + 2,
            embedding_matrix.shape[1],
            embeddings_initializer=tf.keras.initializers.Constant(embedding_matrix),
        )
    else:
        embedding = tf.keras.layers.Embedding(vocab_size + 2, settings.embedding_dim)
    x = embedding(tokens)
    x = tf.keras.layers.Dense(settings.projection_units, activation="relu")(x)
    x = MaskedMaxMeanPooling()([x, tokens])
    inputs = {TOKENS_KEY: tokens}
    if encoding_width:
        encoding = tf.keras.Input(shape=(encoding_width,), dtype=tf.float32, name=ENCODING_KEY)
        inputs[ENCODING_KEY] = encoding
        sentence = tf.keras.layers.Dense(settings.projection_units, activation="relu")(encoding)
        x = tf.keras.layers.Concatenate()([x, sentence])
    x = tf.keras.layers.Dropout(settings.dropout, seed=settings.seed)(x)
    x = tf.keras.layers.Dense(settings.hidden_units, activation="relu")(x)
    logits = tf.keras.layers.Dense(1, name="logits")(x)
    probability = tf.keras.layers.Activation("sigmoid", name="probability")(logits)
    return tf.keras.Model(inputs, probability)


def logits_of(model: tf.keras.Model) -> tf.keras.Model:
    """A view of `model` that returns logits, sharing its weights."""
    return tf.keras.Model(model.input, model.get_layer("logits").output)
