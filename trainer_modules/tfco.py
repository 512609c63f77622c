"""TFCO trainer: rate-constrained training with per-group false-positive-rate constraints.

As in the TFCO Wiki-toxicity tutorial: the objective is computed on the main stream, and one
constraint per target group, FPR(group) <= epsilon (absolute) or <= overall FPR + epsilon
(relative), on a second stream drawn only from examples of those groups; a
ProxyLagrangianOptimizerV2 solves it. Unlike the tutorial, the constraints sit at the gate's
decision threshold and the default objective is cross-entropy, so they bind where the model is
judged (the tutorial's recipe left them slack on real data: docs/design.md).
"""

import math

import numpy as np
import tensorflow as tf
from tfx import v1 as tfx

from contract import TOKENS_KEY, identity_feature
from trainer_modules import common
from trainer_modules.tfco_compat import (
    import_tfco,
    lagrange_multipliers,
    proxy_lagrangian_optimizer,
)


def group_stream(examples: tf.data.Dataset, groups, batch_size: int, seed: int):
    """Endless batches of examples tagged with any of `groups`, with their group tags."""
    groups = tuple(groups)
    tagged = examples.filter(lambda f, y: tf.reshape(common.identity_mask(f, groups), []))
    return (
        tagged.map(
            lambda f, y: (
                f[TOKENS_KEY],
                tf.reshape(y, []),
                tf.stack([tf.reshape(f[identity_feature(g)], []) > 0 for g in groups]),
            )
        )
        .shuffle(2048, seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )


class ConstrainedProblem:
    """The TFCO problem over variables that each step fills with the current batches."""

    def __init__(self, model, settings, batch_size: int, max_tokens: int):
        tfco = import_tfco()
        groups = tuple(settings.target_groups)
        group_batch = settings.tfco_group_batch_size
        self.logits_model = common.logits_of(model)
        self.tokens = tf.Variable(tf.zeros([batch_size, max_tokens], tf.int64), trainable=False)
        self.labels = tf.Variable(tf.zeros([batch_size]), trainable=False)
        self.group_tokens = tf.Variable(
            tf.zeros([group_batch, max_tokens], tf.int64), trainable=False
        )
        self.group_labels = tf.Variable(tf.zeros([group_batch]), trainable=False)
        self.group_tags = tf.Variable(
            tf.zeros([group_batch, len(groups)], tf.bool), trainable=False
        )

        # Rates count a prediction as positive when it is > 0: shift logits by the threshold's.
        t = settings.decision_threshold or 0.5
        offset = math.log(t / (1.0 - t))

        def main_scores():
            return tf.reshape(self.logits_model(self.tokens), [-1]) - offset

        def group_scores():
            return tf.reshape(self.logits_model(self.group_tokens), [-1]) - offset

        overall = tfco.rate_context(main_scores, lambda: self.labels)
        if settings.tfco_objective == "cross_entropy":
            # Error rate with a cross-entropy penalty: the objective's gradient is (shifted)
            # cross-entropy and it shares the main stream's predictions with the constraints.
            objective = tfco.error_rate(overall, penalty_loss=tfco.SoftmaxCrossEntropyLoss())
        elif settings.tfco_objective == "error_rate":
            objective = tfco.error_rate(overall)
        else:
            raise ValueError(f"unknown TFCO objective {settings.tfco_objective!r}")

        group_context = tfco.rate_context(group_scores, lambda: self.group_labels)
        self.group_rates = {}
        constraints = []
        for i, group in enumerate(groups):
            rate = tfco.false_positive_rate(group_context.subset(lambda i=i: self.group_tags[:, i]))
            bound = settings.tfco_epsilon
            if settings.tfco_relative:
                bound = tfco.false_positive_rate(overall) + settings.tfco_epsilon
            self.group_rates[group] = rate
            constraints.append(rate <= bound)
        if settings.tfco_min_overall_fpr > 0:
            # Without a floor, "FPR(group) <= FPR(overall) + eps" is met by predicting every
            # example non-toxic; the floor holds the model at the operating point.
            constraints.append(tfco.false_positive_rate(overall) >= settings.tfco_min_overall_fpr)
        self.problem = tfco.RateMinimizationProblem(objective, constraints)
        self.optimizer = proxy_lagrangian_optimizer(
            settings.learning_rate,
            self.problem.num_constraints,
            settings.tfco_multiplier_learning_rate,
        )
        self.var_list = (
            model.trainable_weights
            + list(self.problem.trainable_variables)
            + self.optimizer.trainable_variables()
        )

    def step(self, tokens, labels, group_tokens, group_labels, group_tags) -> None:
        self.tokens.assign(tokens)
        self.labels.assign(tf.reshape(labels, [-1]))
        self.group_tokens.assign(group_tokens)
        self.group_labels.assign(group_labels)
        self.group_tags.assign(group_tags)
        self.optimizer.minimize(self.problem, var_list=self.var_list)

    def constraint_values(self) -> list[float]:
        """Current constraint slack (positive = violated), from the constraint rates."""
        return [float(v) for v in self.problem.constraints().numpy()]


def fit(model: tf.keras.Model, train: tf.data.Dataset, settings, callbacks) -> dict:
    max_tokens = int(model.input_shape[1])
    examples = train.unbatch()
    main = common.tokens_only(examples.batch(settings.batch_size, drop_remainder=True))
    groups = group_stream(
        examples, settings.target_groups, settings.tfco_group_batch_size, settings.seed
    )
    problem = ConstrainedProblem(model, settings, settings.batch_size, max_tokens)
    # The step returns None: returning the minimize op fails to trace (docs/design.md).
    step = tf.function(problem.step)
    history = {"constraints": [], "multipliers": []}
    for epoch in range(settings.epochs):
        steps = 0
        for (tokens, labels), (g_tokens, g_labels, g_tags) in tf.data.Dataset.zip((main, groups)):
            step(tokens, labels, g_tokens, g_labels, g_tags)
            steps += 1
        history["constraints"].append(problem.constraint_values())
        history["multipliers"].append(lagrange_multipliers(problem.optimizer))
        print(
            f"TFCO epoch {epoch + 1}/{settings.epochs}: {steps} steps, constraint slack "
            f"{np.round(history['constraints'][-1], 4).tolist()}, multipliers "
            f"{np.round(history['multipliers'][-1], 4).tolist()}",
            flush=True,
        )
        for callback in callbacks:
            callback.on_epoch_end(epoch)
        if any(getattr(callback, "stopped", False) for callback in callbacks):
            break
    return {
        "tfco_constraints": history["constraints"],
        "tfco_multipliers": history["multipliers"],
    }


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    common.run(fn_args, fit)
