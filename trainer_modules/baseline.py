"""Baseline trainer: the shared model (model.build_model) with binary cross-entropy, no
remediation."""

import tensorflow as tf
from tfx import v1 as tfx

from trainer_modules import training
from trainer_modules.datasets import model_inputs


def fit(model: tf.keras.Model, train: tf.data.Dataset, settings, callbacks) -> dict:
    model.compile(
        optimizer=tf.keras.optimizers.Adam(settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc")],
    )
    model.fit(model_inputs(train), epochs=settings.epochs, callbacks=callbacks, verbose=2)
    return {}


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    training.run(fn_args, fit, __name__)
