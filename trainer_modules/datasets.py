"""The Trainer's input pipeline: batches of (features, label) read from Transform's output, and
what a model reads of them."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from contract import (
    ENCODING_KEY,
    HOLDOUT_KEY,
    IDENTITY_FEATURES,
    IDENTITY_GROUPS,
    LABEL_KEY,
    TOKENS_KEY,
    identity_feature,
)


def make_dataset(
    file_pattern,
    data_accessor: tfx.components.DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    seed: int | None = None,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    holdout: bool | None = None,
    encoding: bool = False,
) -> tf.data.Dataset:
    """Batches of (features, label): token ids plus the 0/1 identity tags, and with `encoding`
    the sentence encoding.

    `holdout`: True keeps only the hash-held-out tenth (validation carved from train), False
    drops it, None keeps every example.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=LABEL_KEY,
            shuffle=shuffle,
            shuffle_seed=seed,
            num_epochs=num_epochs,
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    keep = (TOKENS_KEY, *IDENTITY_FEATURES, *([ENCODING_KEY] if encoding else []))

    def select(features, label):
        picked = {k: features[k] for k in keep}
        if holdout is None:
            return picked, label
        bucket = tf.reshape(features[HOLDOUT_KEY], [-1])
        mask = tf.equal(bucket, 0) if holdout else tf.not_equal(bucket, 0)
        return {k: tf.boolean_mask(v, mask) for k, v in picked.items()}, tf.boolean_mask(
            label, mask
        )

    return dataset.map(select)


# What a model reads of a batch's features; the encoding only where the dataset carries it.
MODEL_INPUTS = (TOKENS_KEY, ENCODING_KEY)


def inputs_of(features: dict) -> dict:
    """The model's inputs among `features`: the token ids, and the sentence encoding for a
    model that reads it (its datasets carry it; no other model's do)."""
    return {k: features[k] for k in MODEL_INPUTS if k in features}


def model_inputs(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """(features, label) batches as (model inputs, label)."""
    return dataset.map(lambda features, label: (inputs_of(features), label))


def concat_inputs(first: dict, second: dict) -> dict:
    return {k: tf.concat([first[k], second[k]], 0) for k in first}


def input_signature(model: tf.keras.Model) -> dict:
    """A [None, ...] TensorSpec per model input, for traced training steps."""
    return {
        name: tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype)
        for name, tensor in model.input.items()
    }


def count_examples(dataset: tf.data.Dataset) -> int:
    return int(
        dataset.reduce(
            tf.constant(0, tf.int64), lambda n, batch: n + tf.shape(batch[1], out_type=tf.int64)[0]
        )
    )


def as_arrays(dataset: tf.data.Dataset) -> tuple[dict, np.ndarray, dict[str, np.ndarray]]:
    """Model inputs, labels and identity-group masks of a finite dataset of (features, label)."""
    inputs, labels, tags = defaultdict(list), [], {g: [] for g in IDENTITY_GROUPS}
    for features, label in dataset:
        for key, value in inputs_of(features).items():
            inputs[key].append(value.numpy())
        labels.append(label.numpy().reshape(-1))
        for g in IDENTITY_GROUPS:
            tags[g].append(features[identity_feature(g)].numpy().reshape(-1) > 0)
    if not labels:
        raise ValueError("the validation split is empty: cannot stop early or pick a threshold")
    masks = {g: np.concatenate(v) for g, v in tags.items()}
    return {k: np.concatenate(v) for k, v in inputs.items()}, np.concatenate(labels), masks
