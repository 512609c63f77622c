"""Export: the SavedModel with its signatures and its decision rule.

Every signature returns the probability (`toxicity`); `serving_default` and `score_text` also
return the decision (`is_toxic`) and `known_tokens`, and `evaluate` returns a score that crosses
0.5 exactly at each example's threshold, which is what the Evaluator judges
(docs/operating_point.md).

The threshold is the operating point, or with post-processing (docs/postprocessing.md) a
threshold per identity group: an example tagged with groups that have their own threshold gets
the highest of them, every other example the rest's threshold.

A text with no token the vocabulary knows (empty, emoji or punctuation only, a script the
vocabulary lacks) reaches the model as padding and out-of-vocabulary ids only, and the model's
score for that is an accident of training (0.43 for "" on the Gab Hate Corpus, above its
threshold). Such a text is decided not toxic whatever the threshold: `known_tokens` is 0 and
`is_toxic` false, and `evaluate` scores it 0 so that the Evaluator judges that decision. The
probability is left as the model gives it: it is the decision that is defined, not the score.
"""

from __future__ import annotations

import tensorflow as tf

from contract import (
    DECISION_KEY,
    ENCODING_KEY,
    EVAL_SIGNATURE,
    IDENTITY_COLUMNS,
    IDENTITY_GROUPS,
    KNOWN_TOKENS_KEY,
    LABEL_KEY,
    PREDICTION_KEY,
    TEXT_KEY,
    TOKENS_KEY,
    VOCAB_NAME,
    identity_feature,
)
from trainer_modules.preprocessing import PAD_ID

# A group without a threshold of its own; below every probability, so max() ignores it.
NO_GROUP_THRESHOLD = -1.0


def _raw_spec_without_label(tf_transform_output):
    spec = dict(tf_transform_output.raw_feature_spec())
    spec.pop(LABEL_KEY, None)
    return spec


def example_thresholds(transformed: dict, base, group_thresholds) -> tf.Tensor:
    """[batch, 1] thresholds: the highest own threshold among an example's groups, else base."""
    tags = tf.stack(
        [tf.reshape(transformed[identity_feature(g)], [-1]) > 0 for g in IDENTITY_GROUPS], axis=1
    )
    own = tf.where(tags, group_thresholds[tf.newaxis, :], NO_GROUP_THRESHOLD)
    highest = tf.reduce_max(own, axis=1, keepdims=True)
    return tf.where(highest > 0.0, highest, base)


def known_token_mask(tokens: tf.Tensor, vocabulary_size) -> tf.Tensor:
    """True where a token id is a word of the vocabulary.

    Transform shifts its ids by one: 0 pads, 1..vocabulary_size are the words and
    vocabulary_size + 1 is the out-of-vocabulary bucket. Read here, after Transform, so that
    Transform's outputs (and every cached Transform) stay as they are.
    """
    return tf.logical_and(tokens > PAD_ID, tokens <= tf.cast(vocabulary_size, tokens.dtype))


def known_token_counts(tokens: tf.Tensor, vocabulary_size) -> tf.Tensor:
    """[batch, 1] int64: how many of each row's token ids are words of the vocabulary."""
    known = known_token_mask(tokens, vocabulary_size)
    return tf.reduce_sum(tf.cast(known, tf.int64), axis=1, keepdims=True)


def _logit(p):
    return tf.math.log(p) - tf.math.log1p(-p)


def _attach_serving_state(model, tf_transform_output, threshold, group_thresholds) -> None:
    """What the signatures use, tracked by the model so that it is saved with it."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    # Inside the SavedModel, so the decision cannot drift from the file written beside it.
    model.decision_threshold = tf.Variable(
        threshold, trainable=False, dtype=tf.float32, name="decision_threshold"
    )
    own = [(group_thresholds or {}).get(g, NO_GROUP_THRESHOLD) for g in IDENTITY_GROUPS]
    model.group_thresholds = tf.Variable(
        own, trainable=False, dtype=tf.float32, name="group_thresholds"
    )
    model.logits_view = tf.keras.Model(model.input, model.get_layer("logits").output)


def empty_identity_columns(raw_spec, batch) -> dict[str, tf.SparseTensor]:
    """Raw text carries no annotated identity columns: empty ones, so that only the keyword
    tags mark groups."""
    return {
        column: tf.SparseTensor(
            indices=tf.zeros([0, 2], tf.int64),
            values=tf.constant([], tf.string),
            dense_shape=tf.stack([tf.cast(batch, tf.int64), 0]),
        )
        for column in IDENTITY_COLUMNS
        if column in raw_spec
    }


def export_serving_model(
    model,
    tf_transform_output,
    serving_model_dir: str,
    threshold: float,
    group_thresholds: dict[str, float] | None = None,
) -> None:
    """Save with `serving_default` (tf.Example), `score_text` (raw strings), `evaluate` and
    `transform_features`; the thresholds live inside the SavedModel as variables."""
    _attach_serving_state(model, tf_transform_output, threshold, group_thresholds)
    raw_spec = _raw_spec_without_label(tf_transform_output)
    full_raw_spec = tf_transform_output.raw_feature_spec()
    # The vocabulary file's length, not the --vocab-size cap: on small data the vocabulary is
    # shorter than the cap, and the out-of-vocabulary id follows the file.
    vocabulary_size = tf_transform_output.vocabulary_size_by_name(VOCAB_NAME)

    def model_inputs(transformed):
        # Transform's outputs hold the sentence encoding when any candidate of the run uses
        # it; each model takes only its own inputs.
        return {name: transformed[name] for name in model.input}

    def thresholds(transformed):
        return example_thresholds(transformed, model.decision_threshold, model.group_thresholds)

    def known_tokens(transformed):
        return known_token_counts(transformed[TOKENS_KEY], vocabulary_size)

    def score(raw_features):
        transformed = model.tft_layer(raw_features)
        probability = model(model_inputs(transformed))
        known = known_tokens(transformed)
        flagged = tf.greater(probability, thresholds(transformed))
        return {
            PREDICTION_KEY: probability,
            DECISION_KEY: tf.logical_and(flagged, known > 0),
            KNOWN_TOKENS_KEY: known,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        return score(tf.io.parse_example(serialized, raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluate(serialized):
        transformed = model.tft_layer(tf.io.parse_example(serialized, raw_spec))
        logits = model.logits_view(model_inputs(transformed))
        cut = thresholds(transformed)
        shifted = tf.sigmoid(logits - _logit(cut))
        # A probability at its threshold can round to the other side of 0.5 once shifted: the
        # served decision (probability > threshold) says which side it is on.
        # sigmoid(logits) is the model's own probability (its last layer), computed once.
        flagged = tf.greater(tf.sigmoid(logits), cut)
        above = tf.maximum(shifted, tf.math.nextafter(0.5, 1.0))
        decided = tf.where(flagged, above, tf.minimum(shifted, 0.5))
        # Below 0.5 and below every Fairness Indicators threshold: served as not toxic at any.
        return {PREDICTION_KEY: tf.where(known_tokens(transformed) > 0, decided, 0.0)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        # TFMA calls this for its slicing features on every eval row. Without the sentence
        # encoding among the outputs, TensorFlow prunes the encoder from this signature; with
        # it, each Evaluator ran the encoder once more (35 s became 3 min on GHC).
        transformed = model.tft_layer(tf.io.parse_example(serialized, full_raw_spec))
        return {k: v for k, v in transformed.items() if k != ENCODING_KEY}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=TEXT_KEY)])
    def score_text(texts):
        features = empty_identity_columns(raw_spec, tf.shape(texts, out_type=tf.int64)[0])
        return score({TEXT_KEY: tf.reshape(texts, [-1, 1]), **features})

    model.save(
        serving_model_dir,
        save_format="tf",
        signatures={
            "serving_default": serve_examples,
            EVAL_SIGNATURE: evaluate,
            "transform_features": transform_features,
            "score_text": score_text,
        },
    )
