"""Early stopping on the validation split: keep the epoch with the best validation AUC.

One Keras callback serves every trainer: Keras calls it inside `fit` (baseline, CLP, whose
wrapper shares its weights with the scored model), and the MinDiff and TFCO loops call it
through `end_epoch`.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import tensorflow as tf

import rates
from trainer_modules.operating_point import toxic


def end_epoch(callbacks, epoch: int) -> bool:
    """Ends an epoch of a hand-written training loop as Keras's `fit` would: every callback's
    `on_epoch_end`; True when one of them stopped the training."""
    for callback in callbacks:
        callback.on_epoch_end(epoch)
    return any(getattr(callback, "stopped", False) for callback in callbacks)


class BestEpoch(tf.keras.callbacks.Callback):
    """Scores the validation rows after each epoch; stops after `patience` epochs without a
    better AUC; `restore()` puts back the best epoch's weights."""

    def __init__(self, scored_model, tokens: np.ndarray, labels: np.ndarray, patience: int):
        super().__init__()
        self.scored_model = scored_model
        self.tokens = tokens
        self.labels = labels
        self.patience = patience
        self.history: list[float] = []
        self.best_auc = -math.inf
        self.best_epoch: int | None = None
        self._best_weights = None
        self._waited = 0
        self.stopped = False
        # Time spent scoring validation, so training speed excludes it.
        self.seconds = 0.0

    def scores(self) -> np.ndarray:
        return self.scored_model.predict(self.tokens, batch_size=1024, verbose=0).reshape(-1)

    def on_epoch_end(self, epoch, logs=None):
        start = time.monotonic()
        value = rates.auc(self.scores(), toxic(self.labels))
        self.seconds += time.monotonic() - start
        self.history.append(value)
        logging.info("Epoch %d: validation AUC %.4f", epoch + 1, value)
        print(f"Epoch {epoch + 1}: validation AUC {value:.4f}", flush=True)
        if not math.isnan(value) and value > self.best_auc:
            self.best_auc, self.best_epoch = value, epoch + 1
            self._best_weights = self.scored_model.get_weights()
            self._waited = 0
            return
        self._waited += 1
        if self._waited >= self.patience:
            self.stopped = True
            if self.model is not None:
                self.model.stop_training = True

    def restore(self) -> None:
        if self._best_weights is not None:
            self.scored_model.set_weights(self._best_weights)
