"""`trainer.json` beside the model: which trainer made it, every setting, the groups it
remediated and the rows it trained and picked its threshold on (read by the model card)."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from contract import TRAINER_RECORD_FILE


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
