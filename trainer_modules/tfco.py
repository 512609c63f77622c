"""TFCO trainer: per-group false-positive-rate constraints at the operating point.

The gate judges a model where its overall validation FPR is `target_fpr`, so the constraints sit
there too, found as TFCO finds "a rate at a chosen FPR" (`_tpr_at_fpr_bound`, behind
`tfco.roc_auc`): a learned threshold is subtracted from the logits, and constraints hold the
overall FPR at that threshold within target_fpr +- tfco_fpr_band. At the same threshold each
target group's FPR <= overall FPR + epsilon. The objective is the baseline's cross-entropy, on
the logits themselves: with slack constraints the model trains as the baseline does.

Each step runs one forward pass over the batch concatenated with a batch of the target groups'
non-toxic examples; the objective and every rate are subsets of those rows. TFCO's Lagrangian
loss (`tfco.create_lagrangian_loss`) is minimized by three optimizers: the model's, the
multipliers' and the threshold's.
"""

import logging
import math

import tensorflow as tf
from tfx import v1 as tfx

from contract import TOKENS_KEY
from trainer_modules import training
from trainer_modules.augmentation import AUGMENTED_KEY
from trainer_modules.datasets import concat_inputs, input_signature, inputs_of
from trainer_modules.early_stopping import end_epoch
from trainer_modules.groups import group_tags, remediated_groups
from trainer_modules.model import logits_of
from trainer_modules.tfco_compat import import_tfco


def real_rows(features: dict) -> tf.Tensor:
    """[rows] booleans: the rows that are not identity augmentation (all without it)."""
    if AUGMENTED_KEY not in features:
        return tf.ones_like(features[TOKENS_KEY][:, 0], tf.bool)
    return tf.logical_not(tf.reshape(features[AUGMENTED_KEY], [-1]))


def main_stream(train: tf.data.Dataset, groups) -> tf.data.Dataset:
    """The training batches as (model inputs, labels, group tags, real rows)."""
    return train.map(
        lambda f, y: (
            inputs_of(f),
            tf.cast(tf.reshape(y, [-1]), tf.float32),
            group_tags(f, groups),
            real_rows(f),
        )
    )


def group_stream(
    examples: tf.data.Dataset, groups, batch_size: int, seed: int, real_only: bool = False
):
    """Endless batches of (model inputs, group tags) of the non-toxic examples tagged with any of
    `groups` (`real_only`: not augmentation rows), from unbatched examples; cached, since they
    are a small part of the data."""
    groups = tuple(groups)

    def wanted(features, label):
        in_groups = tf.reduce_any(group_tags(features, groups))
        if real_only and AUGMENTED_KEY in features:
            in_groups = tf.logical_and(in_groups, tf.logical_not(features[AUGMENTED_KEY]))
        return tf.logical_and(tf.reshape(label, []) < 0.5, in_groups)

    return (
        examples.filter(wanted)
        .map(lambda f, y: (inputs_of(f), tf.reshape(group_tags(f, groups), [-1])))
        .cache()
        .shuffle(4096, seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )


def held_out_rows(tokens: tf.Tensor, fraction: float) -> tf.Tensor:
    """[rows] booleans: the rows in the held-out constraint set, a hash split on the token ids
    (so a comment is on the same side in every epoch and in both streams); none at 0."""
    if not fraction:
        return tf.zeros([tf.shape(tokens)[0]], tf.bool)
    text = tf.strings.reduce_join(tf.strings.as_string(tokens), axis=1, separator=" ")
    buckets = 10_000
    return tf.strings.to_hash_bucket_fast(text, buckets) < int(round(fraction * buckets))


def held_out_problem(tfco, fitted, held):
    """The problem whose multipliers see the held-out rows (Cotter et al. 2019, "Training
    Well-Generalizing Classifiers for Fairness Metrics and Other Data-Dependent Constraints"):
    TFCO's Lagrangian differentiates the objective and the proxy constraints for the model and
    the constraints for the multipliers, so those come from `held`, the rest from `fitted`."""

    class HeldOut(tfco.ConstrainedMinimizationProblem):
        @property
        def num_constraints(self):
            return fitted.num_constraints

        def objective(self):
            return fitted.objective()

        def constraints(self):
            return held.constraints()

        def proxy_constraints(self):
            return fitted.proxy_constraints()

        @property
        def variables(self):
            return fitted.variables + held.variables

        def update_ops(self):
            return fitted.update_ops() + held.update_ops()

    return HeldOut()


class ConstrainedProblem:
    """The rate problem over the rows of one forward pass: the batch, then group negatives.

    TFCO reads predictions, labels and subset masks through nullary functions; they return the
    tensors the current step computed, so every rate shares the step's forward pass. The rows
    are read twice: the band's rates see frozen scores and move only the threshold (it places
    the operating point); the objective and the group constraints see a frozen threshold and
    move only the model (else a threshold above every score would meet them).
    """

    def __init__(self, model, settings, groups):
        tfco = import_tfco()
        self.settings = settings
        self.groups = tuple(groups)
        self.logits_model = logits_of(model)
        self.model_weights = model.trainable_weights
        fixed = settings.decision_threshold
        # With an explicit decision threshold the operating point is fixed: no band to hold.
        self.threshold = tf.Variable(
            math.log(fixed / (1 - fixed)) if fixed else 0.0,
            trainable=not fixed,
            dtype=tf.float32,
            name="tfco_threshold",
        )
        self.logits = self.labels = self.is_main = self.tags = self.held = self.counted = None

        if settings.tfco_objective == "cross_entropy":
            objective = tfco.wrap_rate(self._cross_entropy)
        else:
            objective = tfco.error_rate(self._scores().subset(self._fitted_main))
        constraints = self._constraints(self._fitted_main, self._fitted_group)
        self.problem = tfco.RateMinimizationProblem(objective, constraints)
        if settings.tfco_constraint_holdout:
            # Cotter et al. 2019: the same constraints on the held-out rows, whose zero-one
            # rates move the multipliers; the model still descends the surrogate on the rest.
            held = tfco.RateMinimizationProblem(
                objective, self._constraints(self._held_main, self._held_group)
            )
            self.problem = held_out_problem(tfco, self.problem, held)
        # The plain Lagrangian: unlike the proxy-Lagrangian's weights, its multipliers do not
        # scale the objective down while a constraint is violated, and read as they are.
        self.loss_fn, self.update_ops, self.multipliers = tfco.create_lagrangian_loss(self.problem)
        self.constraint_sum = tf.Variable(tf.zeros([len(constraints)]), trainable=False)
        self.steps = tf.Variable(0.0, trainable=False)
        self.build_optimizers()

    def _scores(self):
        tfco = import_tfco()
        return tfco.rate_context(
            lambda: self.logits - tf.stop_gradient(self.threshold), lambda: self.labels
        )

    def _constraints(self, main, group) -> list:
        """The band and the group constraints over the main rows `main()` and the group rows
        `group(i)`; sets `self.names`."""
        tfco = import_tfco()
        settings, scores = self.settings, self._scores()
        # The sigmoid penalty acts on scores near the threshold, where a group's FPR is decided.
        near = tfco.SoftmaxLoss()
        overall_fpr = tfco.false_positive_rate(scores.subset(main), penalty_loss=near)
        constraints, self.names = [], []
        if not settings.decision_threshold:
            placement = tfco.rate_context(
                lambda: tf.stop_gradient(self.logits) - self.threshold, lambda: self.labels
            )
            # The hinge pulls the threshold back from anywhere, even beyond every score.
            placed_fpr = tfco.false_positive_rate(
                placement.subset(main), penalty_loss=tfco.HingeLoss()
            )
            low = settings.target_fpr - settings.tfco_fpr_band
            high = settings.target_fpr + settings.tfco_fpr_band
            constraints += [placed_fpr >= low, placed_fpr <= high]
            self.names += [f"overall FPR >= {low:g}", f"overall FPR <= {high:g}"]
        for i, name in enumerate(self.groups):
            group_fpr = tfco.false_positive_rate(
                scores.subset(lambda i=i: group(i)), penalty_loss=near
            )
            constraints.append(group_fpr <= overall_fpr + settings.tfco_epsilon)
            self.names.append(f"FPR({name}) <= overall FPR + {settings.tfco_epsilon:g}")
        return constraints

    # The constraints' rows: those the model fits (all of them without a held-out constraint
    # set), and the held-out rows whose constraint values move the multipliers; of either, only
    # the `counted` ones (with tfco_constraint_rows "real": no augmentation row).
    def _fitted_main(self):
        return self._counted(self.is_main, tf.logical_not(self.held))

    def _fitted_group(self, i):
        return self._counted(self.tags[:, i], tf.logical_not(self.held))

    def _held_main(self):
        return self._counted(self.is_main, self.held)

    def _held_group(self, i):
        return self._counted(self.tags[:, i], self.held)

    def _counted(self, rows, side):
        return tf.logical_and(tf.logical_and(rows, side), self.counted)

    def _cross_entropy(self):
        # Every main row the model fits, augmentation included: it is there to be learned.
        fitted = tf.logical_and(self.is_main, tf.logical_not(self.held))
        logits = tf.boolean_mask(self.logits, fitted)
        labels = tf.boolean_mask(self.labels, fitted)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))

    def build_optimizers(self) -> None:
        """Fresh optimizers, their slots made here rather than inside a traced step. SGD for
        the multipliers and the threshold: with Adam's momentum they overshot the band."""
        legacy = tf.keras.optimizers.legacy
        s = self.settings
        self.optimizers = [
            (legacy.Adam(s.learning_rate), list(self.model_weights)),
            (legacy.SGD(s.tfco_multiplier_learning_rate), [self.multipliers]),
            (legacy.SGD(s.tfco_threshold_learning_rate), [self.threshold]),
        ]
        for optimizer, variables in self.optimizers:
            optimizer._create_all_weights([v for v in variables if v.trainable])

    def step(self, inputs, labels, tags, real, group_inputs, group_tags) -> None:
        """One update of the model, the multipliers and the threshold. Returns None: returning
        an op fails to trace (docs/design.md)."""
        main_rows, group_rows = tf.shape(labels)[0], tf.shape(group_tags)[0]
        self.labels = tf.concat([labels, tf.zeros([group_rows])], 0)
        self.is_main = tf.concat(
            [tf.ones([main_rows], tf.bool), tf.zeros([group_rows], tf.bool)], 0
        )
        self.tags = tf.concat([tags, group_tags], 0)
        if self.settings.tfco_constraint_rows != "real":
            real = tf.ones_like(real)
        self.counted = tf.concat([real, tf.ones([group_rows], tf.bool)], 0)
        rows = concat_inputs(inputs, group_inputs)
        self.held = held_out_rows(rows[TOKENS_KEY], self.settings.tfco_constraint_holdout)
        with tf.GradientTape() as tape:
            logits = self.logits_model(rows, training=True)
            self.logits = tf.reshape(logits, [-1])
            with tf.control_dependencies(self.update_ops()):
                loss = self.loss_fn()
        trained = [(o, [v for v in vs if v.trainable]) for o, vs in self.optimizers]
        gradients = iter(tape.gradient(loss, [v for _, vs in trained for v in vs]))
        for optimizer, variables in trained:
            if variables:
                optimizer.apply_gradients([(next(gradients), v) for v in variables])
        self.constraint_sum.assign_add(self.problem.constraints())
        self.steps.assign_add(1.0)

    def epoch_summary(self) -> dict:
        """The epoch's mean constraint values (positive: violated), the multipliers and the
        threshold; starts the next epoch's means."""
        values = (self.constraint_sum / tf.maximum(self.steps, 1.0)).numpy()
        self.constraint_sum.assign(tf.zeros_like(self.constraint_sum))
        self.steps.assign(0.0)
        threshold = float(self.threshold.numpy())
        return {
            "constraints": [round(float(v), 5) for v in values],
            "multipliers": [round(float(m), 5) for m in self.multipliers.numpy()],
            "threshold_logit": round(threshold, 5),
            "threshold": round(1 / (1 + math.exp(-threshold)), 5),
        }


class Stepper:
    """Runs the step traced; if the trace fails, says so and runs it eagerly with fresh
    optimizers (a failed trace leaves the old ones broken: docs/design.md)."""

    def __init__(self, problem: ConstrainedProblem):
        self.problem = problem
        inputs = input_signature(problem.logits_model)
        tags = tf.TensorSpec([None, len(problem.groups)], tf.bool)
        rows = tf.TensorSpec([None], tf.bool)
        signature = [inputs, tf.TensorSpec([None], tf.float32), tags, rows, inputs, tags]
        self.step = tf.function(problem.step, input_signature=signature)
        self.traced = False

    def __call__(self, *batch) -> None:
        if self.traced:
            return self.step(*batch)
        try:
            self.step(*batch)
        except Exception as error:  # whatever failed in the trace, the eager step still trains
            print(f"TFCO: the step did not trace ({type(error).__name__}); running it eagerly")
            logging.warning("TFCO step trace failure: %s", error)
            self.problem.build_optimizers()
            self.step = self.problem.step
            self.step(*batch)
        self.traced = True


def fit(model: tf.keras.Model, train: tf.data.Dataset, settings, callbacks) -> dict:
    groups = remediated_groups(train, settings)
    problem = ConstrainedProblem(model, settings, groups)
    step = Stepper(problem)
    real_only = settings.tfco_constraint_rows == "real"
    negatives = group_stream(
        train.unbatch(), groups, settings.tfco_group_batch_size, settings.seed, real_only
    )
    batches = tf.data.Dataset.zip((main_stream(train, groups), negatives)).prefetch(2)
    history = []
    for epoch in range(settings.epochs):
        for main, group_batch in batches:
            step(*main, *group_batch)
        history.append(problem.epoch_summary())
        print(f"TFCO epoch {epoch + 1}/{settings.epochs}: {history[-1]}", flush=True)
        if end_epoch(callbacks, epoch):
            break
    return {
        "tfco_target_groups": list(groups),
        "tfco_constraint_names": problem.names,
        "tfco_constraints": [h["constraints"] for h in history],
        "tfco_multipliers": [h["multipliers"] for h in history],
        "tfco_threshold": [h["threshold"] for h in history],
        "tfco_threshold_logit": [h["threshold_logit"] for h in history],
    }


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    training.run(fn_args, fit, __name__)
