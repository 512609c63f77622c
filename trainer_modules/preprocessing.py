"""Transform's preprocessing_fn: tokens, vocabulary and identity-group tags, and where a
candidate uses it the frozen sentence encoder's encoding (trainer_modules/sentence_encoder.py)."""

from __future__ import annotations

import functools

import tensorflow as tf
import tensorflow_transform as tft

from contract import (
    ENCODING_KEY,
    HOLDOUT_BUCKETS,
    HOLDOUT_KEY,
    IDENTITY_COLUMNS,
    IDENTITY_GROUP_KEY,
    IDENTITY_GROUPS,
    IDENTITY_KEYWORDS,
    LABEL_KEY,
    TEXT_KEY,
    TOKENS_KEY,
    VOCAB_NAME,
    identity_feature,
)
from trainer_modules.settings import NO_ENCODER

DEFAULT_MAX_TOKENS = 100
DEFAULT_VOCAB_SIZE = 10_000
# Token ids: 0 is padding, 1..vocab are words, vocab+1 is the out-of-vocabulary bucket.
PAD_ID = 0


def normalize_text(text: tf.Tensor) -> tf.Tensor:
    """Lower-case, keep letters and digits, and surround with single spaces.

    Invalid UTF-8 is replaced rather than failing the whole Transform job.
    """
    text = tf.strings.unicode_transcode(
        text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"[^\pL\pN]+", " ")
    return tf.strings.join([" ", tf.strings.strip(text), " "])


def _keyword_pattern(keywords) -> str:
    # Normalized text has single spaces between tokens and at both ends, so a space-delimited
    # phrase matches whole words and multi-word terms alike.
    alternatives = "|".join(sorted(k.lower() for k in keywords))
    return rf".* ({alternatives}) .*"


def keyword_tags(normalized: tf.Tensor) -> dict[str, tf.Tensor]:
    """One bool tensor per identity group: does the text mention one of its keywords."""
    return {
        group: tf.strings.regex_full_match(normalized, _keyword_pattern(IDENTITY_KEYWORDS[group]))
        for group in IDENTITY_GROUPS
    }


def _annotated(column: tf.SparseTensor | tf.RaggedTensor, batch: tf.Tensor) -> tf.Tensor:
    """True where an identity column holds at least one non-empty value."""
    if isinstance(column, tf.SparseTensor):
        nonempty = tf.cast(tf.strings.length(column.values) > 0, tf.int32)
        counts = tf.math.unsorted_segment_sum(nonempty, column.indices[:, 0], batch)
    else:
        counts = tf.reduce_sum(tf.cast(tf.strings.length(column) > 0, tf.int32), axis=1)
    return counts > 0


def _first_column(tensor: tf.Tensor) -> tf.Tensor:
    """A [batch] vector from a [batch, 1] dense feature (or a [batch] one)."""
    return tf.reshape(tensor, [-1]) if tensor.shape.rank == 2 else tensor


@functools.lru_cache(maxsize=2)
def _encoder(source: str):
    # Transform traces the function more than once; the weights are read once.
    from trainer_modules import sentence_encoder

    return sentence_encoder.SentenceEncoder(sentence_encoder.load_weights(source))


def preprocessing_fn(inputs, custom_config=None):
    custom_config = custom_config or {}
    max_tokens = int(custom_config.get("max_tokens", DEFAULT_MAX_TOKENS))
    vocab_size = int(custom_config.get("vocab_size", DEFAULT_VOCAB_SIZE))

    text = _first_column(inputs[TEXT_KEY])
    batch = tf.shape(text)[0]
    normalized = normalize_text(text)
    words = tf.strings.split(tf.strings.strip(normalized))[:, :max_tokens]
    ids = tft.compute_and_apply_vocabulary(
        words, top_k=vocab_size, num_oov_buckets=1, vocab_filename=VOCAB_NAME
    )
    outputs = {
        TOKENS_KEY: (ids + 1).to_tensor(default_value=PAD_ID, shape=[None, max_tokens]),
    }

    outputs[HOLDOUT_KEY] = tf.strings.to_hash_bucket_fast(text, HOLDOUT_BUCKETS)

    tags = keyword_tags(normalized)
    for group in IDENTITY_GROUPS:
        if group in IDENTITY_COLUMNS and group in inputs:
            tags[group] = tf.logical_or(tags[group], _annotated(inputs[group], batch))
        outputs[identity_feature(group)] = tf.cast(tags[group], tf.int64)

    # One multi-valued slicing feature: TFMA makes one slice per group present in the eval
    # data, so a group absent from it does not make a per-group threshold "missing".
    stacked = tf.stack([tags[g] for g in IDENTITY_GROUPS], axis=1)
    names = tf.broadcast_to(tf.constant(IDENTITY_GROUPS), tf.shape(stacked))
    outputs[IDENTITY_GROUP_KEY] = tf.ragged.boolean_mask(names, stacked).to_sparse()

    encoder = custom_config.get("sentence_encoder", NO_ENCODER)
    if encoder != NO_ENCODER:
        outputs[ENCODING_KEY] = _encoder(encoder)(text)

    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = tf.cast(_first_column(inputs[LABEL_KEY]) >= 0.5, tf.float32)
    return outputs
