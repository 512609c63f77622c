"""Identity groups in training batches: each example's tags, and the groups MinDiff and TFCO
remediate."""

from __future__ import annotations

import tensorflow as tf

from contract import IDENTITY_GROUPS, identity_feature


def group_tags(features: dict, groups) -> tf.Tensor:
    """[batch, len(groups)] booleans: is each example tagged with each group."""
    return tf.stack([tf.reshape(features[identity_feature(g)], [-1]) > 0 for g in groups], 1)


def identity_mask(features: dict, groups) -> tf.Tensor:
    """True for examples tagged with any of the given identity groups."""
    return tf.reduce_any(group_tags(features, groups), axis=1)


def non_toxic_rows_by_group(train: tf.data.Dataset) -> dict[str, int]:
    """Non-toxic examples of each identity group in batches of (features, label)."""

    def add(counts, batch):
        features, label = batch
        clean = tf.reshape(label, [-1]) < 0.5
        tags = tf.logical_and(group_tags(features, IDENTITY_GROUPS), clean[:, None])
        return counts + tf.reduce_sum(tf.cast(tags, tf.int64), 0)

    counts = train.reduce(tf.zeros([len(IDENTITY_GROUPS)], tf.int64), add)
    return dict(zip(IDENTITY_GROUPS, counts.numpy().tolist(), strict=True))


def remediated_groups(train: tf.data.Dataset, settings) -> tuple[str, ...]:
    """`settings.target_groups`, or by default every group with enough non-toxic training rows
    (MinDiff and TFCO)."""
    counts = non_toxic_rows_by_group(train)
    groups = settings.remediated_groups(counts)
    print(f"Remediated groups: {', '.join(groups)} (non-toxic training rows: {counts})")
    return groups
