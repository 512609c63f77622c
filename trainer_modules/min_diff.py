"""MinDiff trainer: the shared CNN wrapped in MinDiffModel with an MMD loss on its probability.

MinDiff compares the score distributions of non-toxic examples of the target groups
(sensitive) with non-toxic examples of the reference (nonsensitive), so remediation narrows
the false-positive-rate gap. The loss is applied to the sigmoid output, as in the MinDiff
tutorial; on logits it collapsed the model (docs/design.md).
"""

import tensorflow as tf
from tensorflow_model_remediation import min_diff
from tfx import v1 as tfx

from contract import TOKENS_KEY
from trainer_modules import common

KERNELS = {"gaussian": min_diff.losses.GaussianKernel, "laplacian": min_diff.losses.LaplacianKernel}


def min_diff_streams(examples: tf.data.Dataset, target_groups, reference: str = "all"):
    """Sensitive and nonsensitive (features, label) streams from unbatched examples.

    Sensitive: non-toxic examples tagged with any target group. Nonsensitive: non-toxic
    examples of the reference group, or with reference "all", every other non-toxic example.
    """
    target_groups = tuple(target_groups)

    def non_toxic(features, label):
        return tf.reshape(label, []) < 0.5

    def in_targets(features, label):
        return tf.reshape(common.identity_mask(features, target_groups), [])

    non_toxic_examples = examples.filter(non_toxic)
    sensitive = non_toxic_examples.filter(in_targets)
    if reference == "all":
        nonsensitive = non_toxic_examples.filter(lambda f, y: tf.logical_not(in_targets(f, y)))
    else:
        nonsensitive = non_toxic_examples.filter(
            lambda f, y: tf.reshape(common.identity_mask(f, (reference,)), [])
        )
    return sensitive, nonsensitive


def _endless(stream: tf.data.Dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    return (
        stream.map(lambda f, y: (f[TOKENS_KEY], y))
        .shuffle(2048, seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )


def fit(model: tf.keras.Model, train: tf.data.Dataset, settings, callbacks) -> dict:
    if settings.min_diff_kernel not in KERNELS:
        raise ValueError(f"unknown MinDiff kernel {settings.min_diff_kernel!r}: {list(KERNELS)}")
    # A reference group is compared with, not remediated.
    groups = tuple(
        g for g in common.remediated_groups(train, settings) if g != settings.min_diff_reference
    )
    sensitive, nonsensitive = min_diff_streams(train.unbatch(), groups, settings.min_diff_reference)
    packed = min_diff.keras.utils.input_utils.pack_min_diff_data(
        original_dataset=common.tokens_only(train),
        sensitive_group_dataset=_endless(sensitive, settings.min_diff_batch_size, settings.seed),
        nonsensitive_group_dataset=_endless(
            nonsensitive, settings.min_diff_batch_size, settings.seed + 1
        ),
    )
    wrapped = min_diff.keras.MinDiffModel(
        model,
        min_diff.losses.MMDLoss(KERNELS[settings.min_diff_kernel]()),
        settings.min_diff_weight,
    )
    wrapped.compile(
        optimizer=tf.keras.optimizers.Adam(settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc")],
    )
    history = wrapped.fit(packed, epochs=settings.epochs, callbacks=callbacks, verbose=2)
    # The wrapped model shares its layers with `model`, which is what gets exported.
    return {
        "min_diff_target_groups": list(groups),
        "min_diff_loss": [float(v) for v in history.history.get("min_diff_loss", [])],
    }


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    common.run(fn_args, fit)
