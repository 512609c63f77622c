"""Logical settings of the pipeline: names, hyperparameters and the gate's policy.

Physical paths and the orchestrator live in the runners; everything here is data that the
runners pass to `create_pipeline` and that CLI flags may override.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract import IDENTITY_GROUPS
from trainer_modules.settings import TrainerSettings, TransformSettings

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
