"""Command-line pieces both runners share: flag types, the gate and training flags, and the
Settings they make, so the local and Kubeflow runners take the same names and defaults."""

import argparse
import dataclasses
import os

from contract import IDENTITY_GROUPS
from pipeline import config


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def identity_groups(text: str) -> tuple[str, ...]:
    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    unknown = sorted(set(groups) - set(IDENTITY_GROUPS))
    if unknown or not groups:
        raise argparse.ArgumentTypeError(
            f"unknown group(s) {unknown}; choose from {', '.join(IDENTITY_GROUPS)}"
        )
    return groups


def _add_to_group(group, *names, **kwargs):
    return group.add_argument(*names, **kwargs)


def add_gate_and_training_arguments(parser: argparse.ArgumentParser, add=_add_to_group) -> None:
    """The gate and training flags; `add(group, *names, **kwargs)` adds one (a runner may
    wrap it to record the actions)."""
    defaults = config.Settings()
    gate, training = defaults.gate, defaults.training

    g = parser.add_argument_group("gate (defaults in pipeline/config.py)")
    add(g, "--decision-threshold", type=fraction, default=gate.decision_threshold)
    add(g, "--max-group-fpr", type=fraction, default=gate.max_group_fpr)
    add(g, "--max-fpr-gap", type=fraction, default=gate.max_group_fpr_gap)
    add(g, "--min-auc", type=fraction, default=gate.min_auc)
    add(g, "--max-auc-drop", type=fraction, default=gate.max_auc_drop)
    add(g, "--max-group-fpr-increase", type=fraction, default=gate.max_group_fpr_increase)
    add(g, "--min-slice-size", type=positive_int, default=gate.min_slice_size)
    add(g, "--gate-groups", type=identity_groups, default=gate.groups)

    t = parser.add_argument_group("training (defaults in pipeline/config.py)")
    add(t, "--epochs", type=positive_int, default=training.epochs)
    add(t, "--batch-size", type=positive_int, default=training.batch_size)
    add(t, "--learning-rate", type=float, default=training.learning_rate)
    add(t, "--seed", type=int, default=training.seed)
    add(t, "--target-groups", type=identity_groups, default=training.target_groups)
    add(t, "--min-diff-weight", type=float, default=training.min_diff_weight)
    add(t, "--tfco-epsilon", type=float, default=training.tfco_epsilon)
    add(t, "--max-tokens", type=positive_int, default=config.TransformSettings.max_tokens)
    add(t, "--vocab-size", type=positive_int, default=config.TransformSettings.vocab_size)


def settings_from_args(args: argparse.Namespace, glove_path: str = "") -> config.Settings:
    defaults = config.Settings()
    try:
        return config.Settings(
            trainer=args.trainer,
            transform=config.TransformSettings(
                max_tokens=args.max_tokens, vocab_size=args.vocab_size
            ),
            training=dataclasses.replace(
                defaults.training,
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                seed=args.seed,
                glove_path=os.path.abspath(glove_path) if glove_path else "",
                target_groups=tuple(args.target_groups),
                min_diff_weight=args.min_diff_weight,
                tfco_epsilon=args.tfco_epsilon,
                # TFCO's constraints sit where the gate judges.
                decision_threshold=args.decision_threshold,
            ),
            gate=config.GatePolicy(
                decision_threshold=args.decision_threshold,
                max_group_fpr=args.max_group_fpr,
                max_group_fpr_gap=args.max_fpr_gap,
                min_auc=args.min_auc,
                max_auc_drop=args.max_auc_drop,
                max_group_fpr_increase=args.max_group_fpr_increase,
                min_slice_size=args.min_slice_size,
                groups=tuple(args.gate_groups),
            ),
        )
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
