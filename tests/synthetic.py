"""A small token-level problem with a planted false-positive-rate gap, for trainer tests."""

import dataclasses

import numpy as np
import tensorflow as tf

from contract import IDENTITY_FEATURES, TOKENS_KEY, identity_feature
from trainer_modules.settings import TrainerSettings

MAX_TOKENS = 20
VOCAB = 60
GROUP_TOKEN = 5
TOXIC_TOKENS = np.arange(10, 15)
SHARED_TOKENS = np.arange(20, 24)


def make_examples(n: int, seed: int):
    """Group examples (token 5, tagged religion) are toxic 70% of the time, and their
    non-toxic comments share vocabulary with toxic ones; others are toxic 10% of the time.
    Toxic comments carry an explicit toxic token only 40% of the time, so a model leans on
    the shared vocabulary and the group token."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, MAX_TOKENS), np.int64)
    labels = np.zeros(n, np.float32)
    group = rng.random(n) < 0.3
    for i in range(n):
        toxic = rng.random() < (0.7 if group[i] else 0.1)
        words = list(rng.integers(30, VOCAB, size=rng.integers(4, 10)))
        if toxic:
            if rng.random() < 0.4:
                words += list(rng.choice(TOXIC_TOKENS, size=1))
            words += list(rng.choice(SHARED_TOKENS, size=rng.integers(1, 3)))
        elif rng.random() < (0.85 if group[i] else 0.05):
            words += list(rng.choice(SHARED_TOKENS, size=rng.integers(1, 3)))
        if group[i]:
            words.append(GROUP_TOKEN)
        rng.shuffle(words)
        tokens[i, : len(words)] = words[:MAX_TOKENS]
        labels[i] = float(toxic)
    features = {TOKENS_KEY: tokens}
    for name in IDENTITY_FEATURES:
        features[name] = np.zeros(n, np.int64)
    features[identity_feature("religion")] = group.astype(np.int64)
    return features, labels


def dataset(features, labels, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    return (
        tf.data.Dataset.from_tensor_slices((features, labels))
        .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )


def settings(**overrides) -> TrainerSettings:
    base = TrainerSettings(
        epochs=4,
        batch_size=64,
        embedding_dim=16,
        learning_rate=0.003,
        seed=3,
        min_diff_batch_size=32,
        # Few group negatives here (about 360): a smaller batch of them repeats each less often.
        tfco_group_batch_size=16,
    )
    return dataclasses.replace(base, **overrides)


def fpr(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray, threshold: float = 0.5):
    negatives = (labels < 0.5) & mask
    return float((scores[negatives] > threshold).mean())


def evaluate(model, features, labels, matched_fpr: float = 0.05) -> dict:
    """Group-minus-overall FPR at 0.5 and at the threshold whose overall FPR is matched_fpr
    (the operating point's default target), the group FPR there, and AUC; the matched figures
    compare models at one operating point."""
    from sklearn.metrics import roc_auc_score

    scores = model.predict(features[TOKENS_KEY], verbose=0).reshape(-1)
    group = features[identity_feature("religion")] > 0
    everyone = np.ones_like(group)
    matched = float(np.quantile(scores[labels < 0.5], 1.0 - matched_fpr))
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "gap": fpr(scores, labels, group) - fpr(scores, labels, everyone),
        "gap_matched": fpr(scores, labels, group, matched) - fpr(scores, labels, everyone, matched),
        "group_fpr_matched": fpr(scores, labels, group, matched),
        "overall_fpr": fpr(scores, labels, everyone),
    }
