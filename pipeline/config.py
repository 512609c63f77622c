"""Logical settings of the pipeline: names, hyperparameters and the gate's policy.

Physical paths and the orchestrator live in the runners; everything here is data that the
runners pass to `create_pipeline` and that CLI flags may override.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract import IDENTITY_GROUPS
from trainer_modules.settings import TrainerSettings, TransformSettings

PIPELINE_NAME_PREFIX = "fair-toxicity"
TRAINERS = ("baseline", "min_diff", "tfco", "clp")

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

    # Every rate is judged at each model's own operating point (docs/operating_point.md).
    # Upper bound on each identity group's false-positive rate.
    max_group_fpr: float = 0.20
    # Upper bound on (group FPR - overall FPR), checked as a TFMA cross-slice threshold.
    max_group_fpr_gap: float = 0.05
    # Upper bound on (group FNR - overall FNR): a group's FPR must not be bought with that
    # group's recall. Wider than the FPR gap because a group's FNR stands on its few toxic rows.
    max_group_fnr_gap: float = 0.15
    min_auc: float = 0.75
    # Floor on overall recall (TPR) at the decision threshold: every FPR bound is met by a
    # model that flags nothing, so a fairness gate must refuse uselessness explicitly. 0.20
    # refuses the models that were once blessed (TPR 0.014 and 0.0 on the Gab Hate Corpus)
    # and passes every baseline measured so far (0.30 or more); see docs/gate.md.
    min_tpr: float = 0.20
    # Against the resolved baseline model, when there is one.
    max_auc_drop: float = 0.02
    max_group_fpr_increase: float = 0.05
    max_tpr_drop: float = 0.10
    # A group's rate is judged only when it stands on at least this many rows: non-toxic rows
    # for its FPR, toxic rows for its FNR. Smaller groups are reported, not judged.
    min_slice_size: int = 30
    groups: tuple[str, ...] = IDENTITY_GROUPS
    fairness_thresholds: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)

    def __post_init__(self):
        unknown = set(self.groups) - set(IDENTITY_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown identity group(s) {sorted(unknown)}; known: {list(IDENTITY_GROUPS)}"
            )
        for name in ("max_group_fpr", "max_group_fpr_gap", "max_group_fnr_gap", "min_auc",
                     "min_tpr", "max_auc_drop", "max_group_fpr_increase", "max_tpr_drop"):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.min_slice_size < 1:
            raise ValueError(f"min_slice_size must be at least 1, got {self.min_slice_size}")


@dataclass(frozen=True)
class Settings:
    trainer: str = "baseline"
    transform: TransformSettings = field(default_factory=TransformSettings)
    training: TrainerSettings = field(default_factory=TrainerSettings)
    gate: GatePolicy = field(default_factory=GatePolicy)
    # Hash split of a single input folder (train:validation:eval buckets) when it has no
    # split folders.
    hash_buckets: tuple[int, int, int] = (8, 1, 1)

    def __post_init__(self):
        if self.trainer not in TRAINERS:
            raise ValueError(f"unknown trainer {self.trainer!r}; choose one of {TRAINERS}")
