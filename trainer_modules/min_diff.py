"""MinDiff trainer: the shared model trained with the library's MMD loss on its probability.

MinDiff compares the score distributions of non-toxic examples of the target groups
(sensitive) with non-toxic examples of the reference (nonsensitive), so remediation narrows
the false-positive-rate gap. The loss is applied to the sigmoid output, as in the MinDiff
tutorial; on logits it collapsed the model (docs/design.md).

The loss is `MinDiffModel`'s: cross-entropy on the training batch plus `min_diff_weight` times
`min_diff.losses.MMDLoss` between the sensitive and the nonsensitive rows' predictions, every
row in training mode. The step is TFCO's single stream instead of `MinDiffModel` with
`pack_min_diff_data`: one forward pass over [batch; sensitive; nonsensitive] in `tf.function`,
each loss on its slice, the MinDiff rows drawn from pools gathered in one pass over the data.
The wrapper's second forward pass and its filtered streams, which read the training files again,
cost 1.8x the baseline's step (docs/benchmarks.md).
"""

import tensorflow as tf
from tensorflow_model_remediation import min_diff
from tfx import v1 as tfx

from contract import TOKENS_KEY
from trainer_modules import training
from trainer_modules.datasets import concat_inputs, input_signature, inputs_of
from trainer_modules.early_stopping import end_epoch
from trainer_modules.groups import identity_mask, remediated_groups

KERNELS = {"gaussian": min_diff.losses.GaussianKernel, "laplacian": min_diff.losses.LaplacianKernel}


def min_diff_masks(features: dict, label, target_groups, reference: str = "all"):
    """[batch] booleans: sensitive and nonsensitive rows.

    Sensitive: non-toxic examples tagged with any target group. Nonsensitive: non-toxic
    examples of the reference group, or with reference "all", every other non-toxic example.
    """
    non_toxic = tf.reshape(label, [-1]) < 0.5
    in_targets = identity_mask(features, tuple(target_groups))
    if reference == "all":
        others = tf.logical_not(in_targets)
    else:
        others = identity_mask(features, (reference,))
    return tf.logical_and(non_toxic, in_targets), tf.logical_and(non_toxic, others)


def min_diff_pools(train: tf.data.Dataset, target_groups, reference: str = "all"):
    """The model inputs of every sensitive and of every nonsensitive training row, from one pass
    over the batches: filtering unbatched streams read the training files again for each
    stream, and again whenever a stream ran out."""
    sensitive, nonsensitive = [], []
    for features, label in train:
        in_sensitive, in_nonsensitive = min_diff_masks(features, label, target_groups, reference)
        inputs = inputs_of(features)
        sensitive.append({k: tf.boolean_mask(v, in_sensitive) for k, v in inputs.items()})
        nonsensitive.append({k: tf.boolean_mask(v, in_nonsensitive) for k, v in inputs.items()})
    pools = tuple({k: tf.concat([p[k] for p in parts], 0) for k in parts[0]}
                  for parts in (sensitive, nonsensitive))  # fmt: skip
    for name, pool in zip(("sensitive", "nonsensitive"), pools, strict=True):
        if pool[TOKENS_KEY].shape[0] == 0:
            raise ValueError(
                f"MinDiff has no {name} rows (non-toxic rows of {list(target_groups)} against "
                f"reference {reference!r}): change --target-groups or --min-diff-reference"
            )
    return pools


def _endless(pool: dict, batch_size: int, seed: int) -> tf.data.Dataset:
    return (
        tf.data.Dataset.from_tensor_slices(pool)
        .shuffle(2048, seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )


def group_batches(train: tf.data.Dataset, groups, settings) -> tf.data.Dataset:
    """Endless (sensitive, nonsensitive) input batches of `min_diff_batch_size` rows each."""
    sensitive, nonsensitive = min_diff_pools(train, groups, settings.min_diff_reference)
    size, seed = settings.min_diff_batch_size, settings.seed
    return tf.data.Dataset.zip(
        (_endless(sensitive, size, seed), _endless(nonsensitive, size, seed + 1))
    ).prefetch(2)


class MinDiffStep:
    """One update over [batch; sensitive; nonsensitive] in one forward pass, traced once."""

    def __init__(self, model: tf.keras.Model, settings):
        if settings.min_diff_kernel not in KERNELS:
            raise ValueError(
                f"unknown MinDiff kernel {settings.min_diff_kernel!r}: {list(KERNELS)}"
            )
        self.model = model
        self.weight = float(settings.min_diff_weight)
        self.mmd = min_diff.losses.MMDLoss(KERNELS[settings.min_diff_kernel]())
        self.cross_entropy = tf.keras.losses.BinaryCrossentropy()
        self.optimizer = tf.keras.optimizers.Adam(settings.learning_rate)
        # Its slots made here rather than inside the traced step.
        self.optimizer.build(model.trainable_variables)
        self.min_diff_sum = tf.Variable(0.0, trainable=False)
        self.steps = tf.Variable(0.0, trainable=False)
        inputs = input_signature(model)
        signature = [inputs, tf.TensorSpec([None, 1], tf.float32), inputs, inputs]
        self.step = tf.function(self._step, input_signature=signature)

    def losses(self, predictions, labels, main_rows, sensitive_rows):
        """Cross-entropy on the first `main_rows` predictions; `min_diff_weight` times the MMD
        between the next `sensitive_rows` (membership 1) and the rest (membership 0), as
        `MinDiffModel` computes it on its MinDiff batch."""
        group_predictions = predictions[main_rows:]
        nonsensitive_rows = tf.shape(group_predictions)[0] - sensitive_rows
        membership = tf.concat([tf.ones([sensitive_rows, 1]), tf.zeros([nonsensitive_rows, 1])], 0)
        cross_entropy = self.cross_entropy(labels, predictions[:main_rows])
        return cross_entropy, self.weight * self.mmd(membership, group_predictions)

    def _step(self, inputs, labels, sensitive, nonsensitive):
        rows = concat_inputs(concat_inputs(inputs, sensitive), nonsensitive)
        with tf.GradientTape() as tape:
            predictions = self.model(rows, training=True)
            cross_entropy, min_diff_loss = self.losses(
                predictions, labels, tf.shape(labels)[0], tf.shape(sensitive[TOKENS_KEY])[0]
            )
            total = cross_entropy + min_diff_loss
        variables = self.model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        self.min_diff_sum.assign_add(min_diff_loss)
        self.steps.assign_add(1.0)
        return cross_entropy, min_diff_loss

    def __call__(self, inputs, labels, sensitive, nonsensitive):
        return self.step(inputs, labels, sensitive, nonsensitive)

    def epoch_loss(self) -> float:
        """The epoch's mean weighted MinDiff loss (MinDiffModel's `min_diff_loss`); starts the
        next epoch's mean."""
        mean = float((self.min_diff_sum / tf.maximum(self.steps, 1.0)).numpy())
        self.min_diff_sum.assign(0.0)
        self.steps.assign(0.0)
        return mean


def main_batches(train: tf.data.Dataset) -> tf.data.Dataset:
    """The training batches as (model inputs, [batch, 1] labels)."""
    return train.map(
        lambda f, y: (inputs_of(f), tf.cast(tf.reshape(y, [-1, 1]), tf.float32))
    ).prefetch(2)


def fit(model: tf.keras.Model, train: tf.data.Dataset, settings, callbacks) -> dict:
    step = MinDiffStep(model, settings)
    # A reference group is compared with, not remediated.
    groups = tuple(
        g for g in remediated_groups(train, settings) if g != settings.min_diff_reference
    )
    # One iterator over every epoch: the MinDiff streams go on where they stopped.
    group_rows = iter(group_batches(train, groups, settings))
    losses = []
    for epoch in range(settings.epochs):
        for inputs, labels in main_batches(train):
            step(inputs, labels, *next(group_rows))
        losses.append(step.epoch_loss())
        print(f"MinDiff epoch {epoch + 1}/{settings.epochs}: min_diff_loss {losses[-1]:.5f}")
        if end_epoch(callbacks, epoch):
            break
    return {"min_diff_target_groups": list(groups), "min_diff_loss": losses}


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    training.run(fn_args, fit, __name__)
