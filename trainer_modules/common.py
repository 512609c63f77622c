"""Shared trainer pieces: settings, input pipeline, model builder, signatures, export.

A variant module (baseline, min_diff, tfco) supplies only its `fit` step; `run` does the rest,
so every variant exports the same serving signatures.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable

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
    OPERATING_POINT_FILE,
    TOKENS_KEY,
    TRAINER_RECORD_FILE,
    VOCAB_NAME,
    identity_feature,
    load_text_ops,
)
from trainer_modules import augmentation, embeddings, operating_point, postprocess
from trainer_modules.early_stopping import BestEpoch
from trainer_modules.export import export_serving_model
from trainer_modules.preprocessing import PAD_ID
from trainer_modules.settings import TrainerSettings

TRAINING_STATS_FILE = "training_stats.json"
# Beside the Model artifact's serving folder (never pushed): the Keras weights a post-processed
# candidate starts from instead of training again. A plain array file, not a TF checkpoint: a
# checkpoint restores by object graph, and its deferred restore would overwrite the thresholds
# the post-processed candidate attaches at export with its base's.
WEIGHTS_FILE = "keras-weights.npz"

# A variant's training step: trains the model in place for at most `settings.epochs` epochs,
# calling the callbacks (early stopping) each epoch, and returns extra stats to record.
FitFn = Callable[[tf.keras.Model, tf.data.Dataset, TrainerSettings, list], dict]


def settings_from_config(custom_config: dict | None) -> TrainerSettings:
    # Other keys (e.g. the ai_platform_* keys of Vertex training) belong to the executor.
    fields = {f.name for f in dataclasses.fields(TrainerSettings)}
    config = {k: v for k, v in (custom_config or {}).items() if k in fields}
    if "target_groups" in config:
        config["target_groups"] = tuple(config["target_groups"])
    return TrainerSettings(**config)


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


def choose_operating_point(scores, labels, groups, settings) -> operating_point.OperatingPoint:
    """The threshold at the target FPR (or the override), and with post-processing a
    threshold per group that gives each judged group the target FPR on validation."""
    point = operating_point.choose(scores, labels, settings.target_fpr, settings.decision_threshold)
    if settings.postprocess == "group_thresholds":
        base = point.threshold
        rest, own = postprocess.fit_group_thresholds(
            scores, labels, groups, settings.target_fpr, settings.postprocess_min_rows, base
        )
        point.threshold, point.group_thresholds, point.postprocess = rest, own, "group_thresholds"
        point.base_threshold = base
        point.fitted_groups = postprocess.fitted_groups(
            groups, labels, settings.postprocess_min_rows
        )
        point.threshold_notes = postprocess.threshold_notes(
            groups, labels, settings.postprocess_min_rows, own, base, rest
        )
        print(f"Group thresholds (base model's threshold {base:.4f}):", flush=True)
        for name, note in point.threshold_notes.items():
            value = rest if name == "untagged" else own[name]
            print(f"  {name:<20} {value:.4f}  {note}", flush=True)
        flagged = postprocess.decisions(scores, groups, rest, own)
        negative = np.asarray(labels) < 0.5
        point.validation_fpr = float(flagged[negative].mean())
        point.validation_tpr = float(flagged[~negative].mean())
    return point


def run(fn_args: tfx.components.FnArgs, fit: FitFn) -> None:
    """The Trainer's run_fn body shared by every variant: train with early stopping on the
    validation split, pick the operating point there, export the model with it."""
    settings = settings_from_config(fn_args.custom_config)
    tf.keras.utils.set_random_seed(settings.seed)
    load_text_ops()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    vocabulary = tf_transform_output.vocabulary_by_name(VOCAB_NAME)
    max_tokens = tf_transform_output.transformed_feature_spec()[TOKENS_KEY].shape[0]

    carve, encoding = settings.validation_from_train, settings.use_sentence_encoding
    if encoding and ENCODING_KEY not in tf_transform_output.transformed_feature_spec():
        raise ValueError("use_sentence_encoding needs Transform's sentence_encoder setting")
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                         settings.batch_size, seed=settings.seed,
                         holdout=False if carve else None, encoding=encoding)  # fmt: skip
    validation = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                              1024, shuffle=False, holdout=True if carve else None,
                              encoding=encoding)  # fmt: skip
    augmented = {}
    if settings.augment_path and not settings.reuse_base_weights:
        train, augmented = _augmented(train, settings, tf_transform_output)
    val_inputs, val_labels, val_groups = as_arrays(validation)
    vectors = embeddings.embedding_matrix(settings.glove_path, vocabulary, settings.seed)
    width = val_inputs[ENCODING_KEY].shape[1] if encoding else None
    model = build_model(len(vocabulary), max_tokens, settings, vectors, width)
    best = BestEpoch(model, val_inputs, val_labels, settings.patience)

    trainer = fit.__module__.rsplit(".", 1)[-1]  # trainer_modules.<name>, for the model card
    if settings.reuse_base_weights:
        fit = _base_weights(fn_args.base_model)
    examples = count_examples(train)
    start = time.monotonic()
    extra = {**fit(model, train, settings, [best]), **augmented}
    seconds = time.monotonic() - start - best.seconds
    best.restore()
    point = choose_operating_point(best.scores(), val_labels, val_groups, settings)
    # A post-processed candidate trains no epoch: its best epoch is its base model's.
    point.best_epoch = extra.get("base_best_epoch", best.best_epoch)
    # Empty for a post-processed candidate: it scores no epoch.
    epochs_run = len(best.history)
    # Before export: export attaches Transform's layer, whose get_weights raises.
    save_weights(model, fn_args.serving_model_dir)
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir, point.threshold,
                         point.group_thresholds)  # fmt: skip
    operating_point.write(point, fn_args.serving_model_dir)
    record = trainer_record(trainer, settings, extra, examples, len(val_labels), epochs_run)
    write_trainer_record(record, fn_args.serving_model_dir)

    stats = {
        "train_examples": examples,
        "validation_examples": int(len(val_labels)),
        "epochs": epochs_run,
        "best_epoch": point.best_epoch,
        "validation_auc_by_epoch": best.history,
        "train_seconds": seconds,
        "examples_per_second": examples * epochs_run / seconds if seconds else None,
        "seconds_per_step": seconds * settings.batch_size / (examples * epochs_run)
        if examples and epochs_run
        else None,
        "operating_point": point.to_json(),
        **extra,
    }
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, TRAINING_STATS_FILE), "w") as f:
        json.dump(stats, f)
    logging.info("Training stats: %s", stats)


def weights_path(serving_model_dir: str) -> str:
    """Where the Trainer whose serving folder this is saved its weights."""
    return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), WEIGHTS_FILE)


def save_weights(model: tf.keras.Model, serving_model_dir: str) -> None:
    """The layers' weights only: export attaches threshold variables to the model, which are
    the candidate's own and must not travel to a post-processed one."""
    buffer = io.BytesIO()
    np.savez(buffer, *[w for layer in model.layers for w in layer.get_weights()])
    tf.io.gfile.makedirs(os.path.dirname(weights_path(serving_model_dir)))
    with tf.io.gfile.GFile(weights_path(serving_model_dir), "wb") as f:
        f.write(buffer.getvalue())


def load_weights(model: tf.keras.Model, serving_model_dir: str) -> None:
    with tf.io.gfile.GFile(weights_path(serving_model_dir), "rb") as f:
        arrays = np.load(io.BytesIO(f.read()))
    weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    for layer in model.layers:
        count = len(layer.weights)
        layer.set_weights(weights[:count])
        weights = weights[count:]
    if weights:
        raise ValueError(f"{len(weights)} saved weights left over: not this model's architecture")


def _augmented(train, settings, tf_transform_output) -> tuple[tf.data.Dataset, dict]:
    """The training rows with the identity augmentation mixed in, and what to record of it."""
    texts = augmentation.read_non_toxic_texts(settings.augment_path)
    rows = augmentation.transformed_rows(texts, tf_transform_output, train.element_spec[0])
    mixed = augmentation.augment(train, rows, settings.batch_size, settings.seed)
    return mixed, {
        "augmentation": {
            "path": settings.augment_path,
            "rows": int(rows[TOKENS_KEY].shape[0]),
            "rows_read": len(texts),
            "sha256": augmentation.fingerprint(texts),
        }
    }


def _base_weights(base_model: str | None) -> FitFn:
    """A fit step that loads the base candidate's trained weights instead of training; the
    operating point is then picked on their validation scores."""
    if not base_model:
        raise ValueError("reuse_base_weights needs the Trainer's base_model (the base candidate)")

    def load(model, train, settings, callbacks) -> dict:
        load_weights(model, base_model)
        path = os.path.join(base_model, OPERATING_POINT_FILE)
        base_point = {}
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                base_point = json.load(f)
        # No epoch is trained here, so none is scored or printed as one.
        epoch = base_point.get("best_epoch")
        print(f"No training: the base model's weights (its best epoch: {epoch})", flush=True)
        return {"weights_from": base_model, "base_best_epoch": epoch}

    return load


def trainer_record(
    trainer: str, settings, extra: dict, train_examples: int, validation_examples: int, epochs: int
) -> dict:
    """What the model card says about training: the trainer, every setting, the groups it
    remediated, and the rows it trained and picked its threshold on."""
    # MinDiff and TFCO report their groups as "<trainer>_target_groups"; a candidate that took
    # its base's weights remediated what its base did.
    groups = next((v for k, v in extra.items() if k.endswith("_target_groups")), None)
    if groups is None and extra.get("weights_from"):
        groups = read_trainer_record(extra["weights_from"]).get("remediated_groups")
    return {
        "trainer": trainer,
        "settings": settings.custom_config(),
        "remediated_groups": list(groups or []),
        "train_examples": int(train_examples),
        "validation_examples": int(validation_examples),
        "epochs_run": int(epochs),
    }


def write_trainer_record(record: dict, model_dir: str) -> str:
    path = os.path.join(model_dir, TRAINER_RECORD_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    return path


def read_trainer_record(model_dir: str) -> dict:
    """The record beside a model ({} for a model exported before there was one)."""
    path = os.path.join(model_dir, TRAINER_RECORD_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def group_tags(features: dict, groups) -> tf.Tensor:
    """[batch, len(groups)] booleans: is each example tagged with each group."""
    return tf.stack([tf.reshape(features[identity_feature(g)], [-1]) > 0 for g in groups], 1)


def identity_mask(features: dict, groups) -> tf.Tensor:
    """True for examples tagged with any of the given identity groups."""
    return tf.reduce_any(group_tags(features, groups), axis=1)


def non_toxic_rows_by_group(train: tf.data.Dataset) -> dict[str, int]:
    """Non-toxic examples of each identity group in batches of (features, label)."""

    def add(counts, batch):
        features, label = batch
        clean = tf.reshape(label, [-1]) < 0.5
        tags = tf.logical_and(group_tags(features, IDENTITY_GROUPS), clean[:, None])
        return counts + tf.reduce_sum(tf.cast(tags, tf.int64), 0)

    counts = train.reduce(tf.zeros([len(IDENTITY_GROUPS)], tf.int64), add)
    return dict(zip(IDENTITY_GROUPS, counts.numpy().tolist(), strict=True))


def remediated_groups(train: tf.data.Dataset, settings) -> tuple[str, ...]:
    """`settings.target_groups`, or by default every group with enough non-toxic training rows
    (MinDiff and TFCO)."""
    counts = non_toxic_rows_by_group(train)
    groups = settings.remediated_groups(counts)
    print(f"Remediated groups: {', '.join(groups)} (non-toxic training rows: {counts})")
    return groups
