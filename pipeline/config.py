"""Logical settings of the pipeline: names, hyperparameters and the gate's policy (declared in
components/policy.py, the lowest layer that judges by it).

Physical paths and the orchestrator live in the runners; everything here is data that the
runners pass to `create_pipeline` and that CLI flags may override.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from components.policy import GatePolicy
from pipeline.candidates import DEFAULT_CANDIDATES, Candidate, candidates_from_names
from trainer_modules.settings import NO_ENCODER, TrainerSettings, TransformSettings

# One pipeline trains every candidate; its champion is the latest model it pushed.
PIPELINE_NAME = "fair-toxicity"

# Dotted paths resolved inside the installed package (no module_file copying); each trainer's
# run_fn is its registry entry's (contract.TRAINERS).
EVALUATOR_UDF = "trainer_modules.evaluator_udf"
PREPROCESSING_FN = "trainer_modules.preprocessing.preprocessing_fn"


@dataclass(frozen=True)
class SelectionPolicy:
    """How the Selector picks among the blessed candidates (components/selector.py applies it).

    Every gate bound is already met by a blessed candidate, so the rule ranks what the gate
    only bounds: the smallest worst group FPR gap at the served decision, over eval and the
    challenge suite (a candidate fitted to the eval rows gains nothing there), first; candidates
    within `tie_margin` of the smallest gap are one tier, and the highest AUC wins it. The
    margin is about one standard error of a group FPR on a few hundred rows (docs/benchmarks.md),
    below which a difference in gap is noise and AUC should decide.
    """

    primary: str = "worst_gap"
    tie_margin: float = 0.02
    tiebreak: str = "auc"

    def __post_init__(self):
        if self.primary not in ("worst_gap", "max_group_fpr_gap", "max_group_fnr_gap"):
            raise ValueError(f"unknown selection metric {self.primary!r}")
        if self.tiebreak not in ("auc", "tpr"):
            raise ValueError(f"unknown selection tiebreak {self.tiebreak!r}")
        if not 0.0 <= self.tie_margin <= 1.0:
            raise ValueError(f"tie_margin must be between 0 and 1, got {self.tie_margin}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Settings:
    candidates: tuple[Candidate, ...] = tuple(Candidate(n) for n in DEFAULT_CANDIDATES)
    transform: TransformSettings = field(default_factory=TransformSettings)
    training: TrainerSettings = field(default_factory=TrainerSettings)
    gate: GatePolicy = field(default_factory=GatePolicy)
    selection: SelectionPolicy = field(default_factory=SelectionPolicy)
    # Hash split of a single input folder (train:validation:eval buckets) when it has no
    # split folders.
    hash_buckets: tuple[int, int, int] = (8, 1, 1)

    def __post_init__(self):
        candidates_from_names(c.name for c in self.candidates)

    def transform_uses_encoder(self) -> bool:
        """Transform runs the sentence encoder only when a candidate reads it; then every model
        of the run carries it (and its tokenizer ops) in its Transform graph."""
        return any(c.uses_encoder for c in self.candidates)

    def transform_config(self) -> dict:
        config = self.transform.custom_config()
        if not self.transform_uses_encoder():
            config["sentence_encoder"] = NO_ENCODER
        return config

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.candidates if c.name == name)
