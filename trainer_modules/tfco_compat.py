"""What TFCO 0.2 needs with TF 2.16 and tf-keras (see docs/design.md).

TFCO's ConstrainedOptimizerV2 subclasses `tf.keras.optimizers.Optimizer` at import time and
expects the legacy OptimizerV2: bind that name to the legacy class while importing TFCO. The
trainer drives TFCO's Lagrangian loss with legacy Keras optimizers of its own, so TFCO's
optimizer classes (and their `minimize`, which lacks the `tape` keyword) are not used.
"""

import contextlib

import tensorflow as tf


@contextlib.contextmanager
def _legacy_optimizer_base():
    original = tf.keras.optimizers.Optimizer
    tf.keras.optimizers.Optimizer = tf.keras.optimizers.legacy.Optimizer
    try:
        yield
    finally:
        tf.keras.optimizers.Optimizer = original


def import_tfco():
    """Import tensorflow_constrained_optimization with the optimizer base bound to legacy."""
    with _legacy_optimizer_base():
        import tensorflow_constrained_optimization as tfco
    return tfco
