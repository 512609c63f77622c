"""A Trainer's Keras weights beside its Model artifact, and the fit step of a post-processed
candidate, which loads its base candidate's weights instead of training."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import tensorflow as tf

from contract import OPERATING_POINT_FILE

# Beside the Model artifact's serving folder (never pushed): the Keras weights a post-processed
# candidate starts from instead of training again. A plain array file, not a TF checkpoint: a
# checkpoint restores by object graph, and its deferred restore would overwrite the thresholds
# the post-processed candidate attaches at export with its base's.
WEIGHTS_FILE = "keras-weights.npz"


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


def base_weights(base_model: str | None):
    """A fit step (training.FitFn) that loads the base candidate's trained weights instead of
    training; the operating point is then picked on their validation scores."""
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
