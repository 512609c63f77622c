"""Identity augmentation: non-toxic sentences that mention identity terms, added to the training
rows of every trainer (never to validation, eval or the challenge suite).

The source is Dixon et al.'s debiasing set (`toxicity_debiasing_data.tsv`: Wikipedia article
sentences that mention identity terms, all labelled non-toxic). A toxicity model learns identity
words as toxicity signals because they mostly appear in toxic training comments; these sentences
are the counter-examples. The rows go through the same Transform graph as the training data
(the exported `transform_features_layer`), so their tokens and identity tags are exactly what
serving would compute, and they are mixed into the shuffled training batches only: the
operating point and early stopping still stand on the real validation rows.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict

import tensorflow as tf

from contract import IDENTITY_FEATURES as TAGS
from contract import TEXT_KEY, TOKENS_KEY, VOCAB_NAME
from trainer_modules.export import empty_identity_columns, known_token_mask

TEXT_COLUMN, LABEL_COLUMN = "comment", "is_toxic"
# A feature of the augmented training batches: True on the augmentation rows. TFCO can keep its
# constraints to the real rows, the distribution the gate judges; the others ignore it.
AUGMENTED_KEY = "augmented"


def read_non_toxic_texts(path: str) -> list[str]:
    """The non-toxic texts of a debiasing TSV (`comment`, `is_toxic`), in file order; a row
    whose label is not False is left out, an empty text too."""
    with tf.io.gfile.GFile(path) as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = {TEXT_COLUMN, LABEL_COLUMN} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {sorted(missing)}; an augmentation file is a TSV "
                f"with `{TEXT_COLUMN}` and `{LABEL_COLUMN}` (False for non-toxic)"
            )
        return [
            row[TEXT_COLUMN].strip()
            for row in reader
            if str(row.get(LABEL_COLUMN, "")).strip().lower() in ("false", "0")
            and (row.get(TEXT_COLUMN) or "").strip()
        ]


def fingerprint(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def transformed_rows(texts: list[str], tf_transform_output, keys, batch: int = 1024) -> dict:
    """The transformed features `keys` (a training dataset's: token ids, identity tags, and for
    a model that reads it the sentence encoding) of raw texts, as tensors.

    Only `keys` are computed: the call is traced and returns just them, so TensorFlow prunes
    the rest of the Transform graph. In a run with the sentence encoder, a token-only trainer
    would otherwise encode every sentence and discard it (7.8 s against 0.01 s for 512 GHC
    comments).

    Out-of-vocabulary tokens are dropped (set to padding, which the model's pooling ignores),
    and rows left with no known token are dropped: every augmentation row is non-toxic, so
    their OOV tokens would teach the model "an unknown word means non-toxic" (on the embedded
    data, whose own comments have no unknown word, it learned exactly that and flagged none of
    the challenge suite's toxic rows). The rows are there to teach what the identity words in
    the vocabulary mean in a harmless sentence.
    """
    layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    vocabulary_size = tf_transform_output.vocabulary_size_by_name(VOCAB_NAME)
    wanted = tuple(keys)

    @tf.function(reduce_retracing=True)
    def transform(raw):
        out = layer(raw)
        return {k: out[k] for k in wanted}

    parts: dict[str, list] = defaultdict(list)
    for start in range(0, len(texts), batch):
        chunk = tf.constant(texts[start : start + batch])[:, tf.newaxis]
        # The sentences carry no annotation: only the keyword tags mark their groups.
        out = transform({TEXT_KEY: chunk, **empty_identity_columns(raw_spec, tf.shape(chunk)[0])})
        words = known_token_mask(out[TOKENS_KEY], vocabulary_size)
        known = tf.reduce_any(words, axis=1)
        for key, value in out.items():
            if key == TOKENS_KEY:
                value = tf.where(words, value, tf.zeros_like(value))
            elif key in TAGS:
                value = tf.reshape(value, [-1])
            # The encoder reads the whole sentence: its encoding is kept as it is.
            parts[key].append(tf.boolean_mask(value, known))
    return {k: tf.concat(v, axis=0) for k, v in parts.items()}


def augment(train: tf.data.Dataset, rows: dict, batch_size: int, seed: int) -> tf.data.Dataset:
    """The training batches with the augmentation rows mixed in (label 0), reshuffled each
    epoch; the batches keep the training dataset's structure and dtypes."""
    features_spec, label_spec = train.element_spec
    count = int(rows[TOKENS_KEY].shape[0])
    label_shape = [count, *label_spec.shape[1:]]
    extra = tf.data.Dataset.from_tensor_slices(
        (
            {
                k: tf.cast(
                    tf.reshape(rows[k], [count, *features_spec[k].shape[1:]]),
                    features_spec[k].dtype,
                )
                for k in features_spec
            },  # fmt: skip
            tf.zeros(label_shape, label_spec.dtype),
        )
    )
    real = train.unbatch().map(lambda f, y: ({**f, AUGMENTED_KEY: tf.constant(False)}, y))
    extra = extra.map(lambda f, y: ({**f, AUGMENTED_KEY: tf.constant(True)}, y))
    mixed = real.concatenate(extra)
    return mixed.shuffle(50_000, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
