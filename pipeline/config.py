"""Logical settings of the pipeline: names, hyperparameters and the gate's policy.

Physical paths and the orchestrator live in the runners; everything here is data that the
runners pass to `create_pipeline` and that CLI flags may override.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from trainer_modules.features import IDENTITY_GROUPS

PIPELINE_NAME_PREFIX = "fair-toxicity"
TRAINERS = ("baseline", "min_diff", "tfco")

# Dotted paths resolved inside the installed package (no module_file copying).
PREPROCESSING_FN = "trainer_modules.preprocessing.preprocessing_fn"
RUN_FN = {name: f"trainer_modules.{name}.run_fn" for name in TRAINERS}


def pipeline_name(trainer: str) -> str:
    # One pipeline per variant: its resolver baseline is the latest blessed model of the
    # same variant, and its pushes are its own versions.
    return f"{PIPELINE_NAME_PREFIX}-{trainer.replace('_', '-')}"


@dataclass(frozen=True)
class TransformSettings:
    max_tokens: int = 100
    vocab_size: int = 10_000

    def custom_config(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainerSettings:
    epochs: int = 2
    batch_size: int = 128
    learning_rate: float = 0.001
    embedding_dim: int = 100
    seed: int = 1
    glove_path: str = ""
    # MinDiff and TFCO: which identity groups are remediated.
    target_groups: tuple[str, ...] = ("religion", "sexual_orientation")
    min_diff_weight: float = 1.5
    min_diff_kernel: str = "gaussian"
    # Nonsensitive MinDiff stream: "all" other non-toxic examples, or one reference group.
    min_diff_reference: str = "all"
    min_diff_batch_size: int = 32
    # TFCO: group FPR <= overall FPR + epsilon (relative) or <= epsilon (absolute), at the
    # gate's decision threshold so the constraints bind where the model is judged.
    tfco_epsilon: float = 0.01
    tfco_relative: bool = True
    # "cross_entropy" keeps the model calibrated around the threshold; "error_rate" is the
    # tutorial's hinge-proxy objective, which on rare positives pushed every logit below 0.
    tfco_objective: str = "cross_entropy"
    tfco_group_batch_size: int = 128
    tfco_multiplier_learning_rate: float = 0.1
    tfco_min_overall_fpr: float = 0.05
    decision_threshold: float = 0.5

    def custom_config(self) -> dict:
        config = dataclasses.asdict(self)
        config["target_groups"] = list(self.target_groups)
        return config


@dataclass(frozen=True)
class GatePolicy:
    """What a model must meet to be blessed; TFMA checks it, `components.gate` explains it."""

    decision_threshold: float = 0.5
    # Upper bound on each identity group's false-positive rate.
    max_group_fpr: float = 0.20
    # Upper bound on (group FPR - overall FPR), checked as a TFMA cross-slice threshold.
    max_group_fpr_gap: float = 0.05
    min_auc: float = 0.75
    # Against the resolved baseline model, when there is one.
    max_auc_drop: float = 0.02
    max_group_fpr_increase: float = 0.05
    # Groups with fewer eval examples than this are reported but not judged.
    min_slice_size: int = 30
    groups: tuple[str, ...] = IDENTITY_GROUPS
    fairness_thresholds: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)

    def __post_init__(self):
        unknown = set(self.groups) - set(IDENTITY_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown identity group(s) {sorted(unknown)}; known: {list(IDENTITY_GROUPS)}"
            )
        if not 0.0 < self.decision_threshold < 1.0:
            raise ValueError(f"decision threshold must be in (0, 1), got {self.decision_threshold}")


@dataclass(frozen=True)
class Settings:
    trainer: str = "baseline"
    transform: TransformSettings = field(default_factory=TransformSettings)
    training: TrainerSettings = field(default_factory=TrainerSettings)
    gate: GatePolicy = field(default_factory=GatePolicy)
    # Hash split of a single input folder (train:eval buckets) when it has no split folders.
    hash_buckets: tuple[int, int] = (4, 1)

    def __post_init__(self):
        if self.trainer not in TRAINERS:
            raise ValueError(f"unknown trainer {self.trainer!r}; choose one of {TRAINERS}")
