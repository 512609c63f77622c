"""Logical settings of the pipeline: names, hyperparameters and the gate's policy (declared in
components/policy.py, the lowest layer that judges by it).

Physical paths and the orchestrator live in the runners; everything here is data that the
runners pass to `create_pipeline` and that CLI flags may override.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from components.policy import GatePolicy
from trainer_modules.settings import NO_ENCODER, TrainerSettings, TransformSettings

# One pipeline trains every candidate; its champion is the latest model it pushed.
PIPELINE_NAME = "fair-toxicity"
TRAINERS = ("baseline", "min_diff", "tfco", "clp")
POSTPROCESSED = "_group_thresholds"
# The story of the main job: the baseline, each remediation, and the baseline with per-group
# thresholds (docs/postprocessing.md), which reuses the baseline's weights instead of training.
DEFAULT_CANDIDATES = ("baseline", "min_diff", "tfco", f"baseline{POSTPROCESSED}")

# The frozen sentence encoder's candidates (trainer_modules/sentence_encoder.py): `encoder` is
# the baseline's model reading the encoding beside its tokens, `encoder_<trainer>` a remediation
# on it. Opt-in: Transform runs the encoder only when a candidate uses it. CLP swaps identity
# token ids, which a sentence encoding does not have.
ENCODER = "encoder"
ENCODER_TRAINERS = ("baseline", "min_diff", "tfco")

# Dotted paths resolved inside the installed package (no module_file copying).
EVALUATOR_UDF = "trainer_modules.evaluator_udf"
PREPROCESSING_FN = "trainer_modules.preprocessing.preprocessing_fn"
RUN_FN = {name: f"trainer_modules.{name}.run_fn" for name in TRAINERS}


@dataclass(frozen=True)
class Candidate:
    """One model the pipeline trains and judges: a trainer, optionally on the sentence encoder,
    optionally with per-group thresholds. Its name is the component ids' suffix
    (`Trainer.<name>`)."""

    name: str

    def __post_init__(self):
        allowed = ENCODER_TRAINERS if self.uses_encoder else TRAINERS
        if self.trainer not in allowed:
            models = [*TRAINERS, ENCODER, *(f"{ENCODER}_{t}" for t in ENCODER_TRAINERS[1:])]
            choices = [*models, *(m + POSTPROCESSED for m in models)]
            raise ValueError(f"unknown candidate {self.name!r}; choose from {', '.join(choices)}")

    @property
    def model(self) -> str:
        """The candidate whose Trainer trains the weights: itself, or for a post-processed
        candidate the one it fits thresholds on."""
        return self.name.removesuffix(POSTPROCESSED)

    @property
    def uses_encoder(self) -> bool:
        return self.model == ENCODER or self.model.startswith(ENCODER + "_")

    @property
    def trainer(self) -> str:
        """The trainer module (`trainer_modules.<trainer>`)."""
        if self.model == ENCODER:
            return "baseline"
        return self.model.removeprefix(ENCODER + "_") if self.uses_encoder else self.model

    @property
    def postprocess(self) -> str:
        return "group_thresholds" if self.name.endswith(POSTPROCESSED) else "none"

    @property
    def base(self) -> str | None:
        """The model this candidate must do no harm against: the same trainer with the method
        switched off (a post-processed candidate's own model; for a remediation the baseline,
        or `encoder` for one on the encoder; for `encoder` the baseline), trained in the same
        run. None for the baseline itself."""
        if self.postprocess != "none":
            return self.model
        if self.uses_encoder:
            return "baseline" if self.model == ENCODER else ENCODER
        return None if self.trainer == "baseline" else "baseline"


def candidates_from_names(names) -> tuple[Candidate, ...]:
    candidates = tuple(Candidate(n) for n in names)
    if not candidates:
        raise ValueError("at least one candidate is needed")
    repeated = sorted(
        {c.name for c in candidates if [d.name for d in candidates].count(c.name) > 1}
    )
    if repeated:
        raise ValueError(f"candidate(s) named twice: {', '.join(repeated)}")
    return candidates


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
