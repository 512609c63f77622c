"""The two shims TFCO 0.2 needs with TF 2.16 and tf-keras (see docs/design.md).

1. TFCO's ConstrainedOptimizerV2 subclasses `tf.keras.optimizers.Optimizer` at import time and
   expects the legacy OptimizerV2: bind that name to the legacy class while importing TFCO and
   while building its optimizer.
2. Its `_compute_gradients` lacks the `tape` keyword that the legacy `minimize` passes (fixed
   upstream after 0.2, never released): accept and drop it.
"""

import contextlib
import functools

import tensorflow as tf


@contextlib.contextmanager
def _legacy_optimizer_base():
    original = tf.keras.optimizers.Optimizer
    tf.keras.optimizers.Optimizer = tf.keras.optimizers.legacy.Optimizer
    try:
        yield
    finally:
        tf.keras.optimizers.Optimizer = original


def _accept_tape(optimizer_class) -> None:
    original = optimizer_class._compute_gradients
    if getattr(original, "_drops_tape", False):
        return

    @functools.wraps(original)
    def compute_gradients(self, loss, var_list, grad_loss=None, tape=None):
        del tape
        return original(self, loss, var_list, grad_loss=grad_loss)

    compute_gradients._drops_tape = True
    optimizer_class._compute_gradients = compute_gradients


def import_tfco():
    """Import tensorflow_constrained_optimization with both shims applied."""
    with _legacy_optimizer_base():
        import tensorflow_constrained_optimization as tfco
        from tensorflow_constrained_optimization.python.train import constrained_optimizer
    _accept_tape(constrained_optimizer.ConstrainedOptimizerV2)
    return tfco


def proxy_lagrangian_optimizer(
    learning_rate: float, num_constraints: int, multiplier_learning_rate: float
):
    """A ProxyLagrangianOptimizerV2 around legacy Adam.

    The multipliers get their own, faster optimizer: with the model's learning rate their
    log-space state (initially about -8) needs thousands of steps to matter.
    """
    tfco = import_tfco()
    with _legacy_optimizer_base():
        return tfco.ProxyLagrangianOptimizerV2(
            optimizer=tf.keras.optimizers.legacy.Adam(learning_rate),
            constraint_optimizer=tf.keras.optimizers.legacy.Adam(multiplier_learning_rate),
            num_constraints=num_constraints,
        )


def lagrange_multipliers(optimizer) -> list[float]:
    """The constraint multipliers implied by the proxy-Lagrangian state.

    The state is the log of a column-stochastic (m+1)x(m+1) matrix; the multipliers are the
    constraint entries of its stationary distribution (entry 0 weighs the objective).
    """
    import numpy as np

    state = optimizer._formulation.state
    if state is None:
        return []
    matrix = np.exp(state.numpy())
    matrix /= matrix.sum(axis=0, keepdims=True)
    values, vectors = np.linalg.eig(matrix)
    stationary = np.abs(np.real(vectors[:, np.argmax(np.real(values))]))
    stationary /= stationary.sum()
    return stationary[1:].tolist()
