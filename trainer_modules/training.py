"""The Trainer's run_fn body every trainer shares: read the data, train with early stopping on
the validation split, pick the operating point there, export the model with it and write what
the model card and the benchmarks read.

A trainer module (contract.TRAINERS) supplies only its `fit` step, so every trainer exports the
same serving signatures.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from contract import ENCODING_KEY, TOKENS_KEY, VOCAB_NAME, load_text_ops, trainer_of_module
from trainer_modules import augmentation, embeddings, operating_point, postprocess
from trainer_modules.datasets import as_arrays, count_examples, make_dataset
from trainer_modules.early_stopping import BestEpoch
from trainer_modules.export import export_serving_model
from trainer_modules.model import build_model
from trainer_modules.settings import TrainerSettings
from trainer_modules.trainer_record import trainer_record, write_trainer_record
from trainer_modules.weights import base_weights, save_weights

TRAINING_STATS_FILE = "training_stats.json"

# A trainer's training step: trains the model in place for at most `settings.epochs` epochs,
# calling the callbacks (early stopping) each epoch, and returns extra stats to record.
FitFn = Callable[[tf.keras.Model, tf.data.Dataset, TrainerSettings, list], dict]


def choose_operating_point(scores, labels, groups, settings) -> operating_point.OperatingPoint:
    """The threshold at the target FPR (or the override), and with post-processing a
    threshold per group that gives each judged group the target FPR on validation."""
    point = operating_point.choose(scores, labels, settings.target_fpr, settings.decision_threshold)
    if settings.postprocess != "group_thresholds":
        return point
    point = postprocess.group_threshold_point(
        point, scores, labels, groups, settings.target_fpr, settings.postprocess_min_rows
    )
    print(f"Group thresholds (base model's threshold {point.base_threshold:.4f}):", flush=True)
    for name, note in point.threshold_notes.items():
        value = point.threshold if name == "untagged" else point.group_thresholds[name]
        print(f"  {name:<20} {value:.4f}  {note}", flush=True)
    return point


def run(fn_args: tfx.components.FnArgs, fit: FitFn, module: str) -> None:
    """Train with `fit`, the step of the trainer module `module` (its `__name__`), and export."""
    trainer = trainer_of_module(module).name
    settings = TrainerSettings.from_custom_config(fn_args.custom_config)
    tf.keras.utils.set_random_seed(settings.seed)
    load_text_ops()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    vocabulary = tf_transform_output.vocabulary_by_name(VOCAB_NAME)
    max_tokens = tf_transform_output.transformed_feature_spec()[TOKENS_KEY].shape[0]

    train, validation = _datasets(fn_args, settings, tf_transform_output)
    augmented = {}
    if settings.augment_path and not settings.reuse_base_weights:
        train, augmented = _augmented(train, settings, tf_transform_output)
    val_inputs, val_labels, val_groups = as_arrays(validation)
    vectors = embeddings.embedding_matrix(settings.glove_path, vocabulary, settings.seed)
    width = val_inputs[ENCODING_KEY].shape[1] if settings.use_sentence_encoding else None
    model = build_model(len(vocabulary), max_tokens, settings, vectors, width)
    best = BestEpoch(model, val_inputs, val_labels, settings.patience)

    if settings.reuse_base_weights:
        fit = base_weights(fn_args.base_model)
    examples = count_examples(train)
    start = time.monotonic()
    extra = {**fit(model, train, settings, [best]), **augmented}
    seconds = time.monotonic() - start - best.seconds
    best.restore()
    point = dataclasses.replace(
        choose_operating_point(best.scores(), val_labels, val_groups, settings),
        # A post-processed candidate trains no epoch: its best epoch is its base model's.
        best_epoch=extra.get("base_best_epoch", best.best_epoch),
    )
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
    _write_stats(stats, fn_args.model_run_dir)


def _datasets(fn_args, settings, tf_transform_output) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The training and validation batches; without a validation split, the hash-held-out
    tenth of train is validation and the rest trains."""
    carve, encoding = settings.validation_from_train, settings.use_sentence_encoding
    if encoding and ENCODING_KEY not in tf_transform_output.transformed_feature_spec():
        raise ValueError("use_sentence_encoding needs Transform's sentence_encoder setting")
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                         settings.batch_size, seed=settings.seed,
                         holdout=False if carve else None, encoding=encoding)  # fmt: skip
    validation = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                              1024, shuffle=False, holdout=True if carve else None,
                              encoding=encoding)  # fmt: skip
    return train, validation


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


def _write_stats(stats: dict, model_run_dir: str) -> None:
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, TRAINING_STATS_FILE), "w") as f:
        json.dump(stats, f)
    logging.info("Training stats: %s", stats)
