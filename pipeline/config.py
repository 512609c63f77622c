"""Logical settings of the pipeline: names, hyperparameters and the gate's policy.

Physical paths and the orchestrator live in the runners; everything here is data that the
runners pass to `create_pipeline` and that CLI flags may override.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from components.certificate import SuiteBounds
from contract import IDENTITY_GROUPS
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
    # and passes every baseline measured so far (0.30 or more); see docs/operating_point.md.
    min_tpr: float = 0.20
    # Against the resolved baseline model, when there is one.
    max_auc_drop: float = 0.02
    max_group_fpr_increase: float = 0.05
    max_tpr_drop: float = 0.10
    # A group's rate is judged only when it stands on at least this many rows: non-toxic rows
    # for its FPR, toxic rows for its FNR. Smaller groups are reported, not judged.
    min_slice_size: int = 30
    # Optional floors on the threshold-free bias AUCs (docs/bias_auc.md), off by default: each
    # judged group's subgroup, BPSN and BNSP AUC, and the final Jigsaw score on overall.
    min_subgroup_auc: float | None = None
    min_bpsn_auc: float | None = None
    min_bnsp_auc: float | None = None
    min_bias_score: float | None = None
    groups: tuple[str, ...] = IDENTITY_GROUPS
    fairness_thresholds: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    # The identity challenge suite (docs/certificate.md), judged at the served decision: each
    # group's FPR on the suite's non-toxic rows, each madlibs term's, and the flip rate under
    # identity swaps; and no group's FPR above the base model's beyond noise.
    # The defaults, and why, are SuiteBounds' (components/certificate.py, docs/certificate.md).
    max_suite_group_fpr: float = SuiteBounds.max_group_fpr
    max_suite_term_fpr: float = SuiteBounds.max_term_fpr
    max_flip_rate: float = SuiteBounds.max_flip_rate
    min_suite_recall: float = SuiteBounds.min_recall
    max_suite_fnr_gap: float = SuiteBounds.max_fnr_gap
    no_harm: bool = SuiteBounds.no_harm

    def __post_init__(self):
        unknown = set(self.groups) - set(IDENTITY_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown identity group(s) {sorted(unknown)}; known: {list(IDENTITY_GROUPS)}"
            )
        for name in ("max_group_fpr", "max_group_fpr_gap", "max_group_fnr_gap", "min_auc",
                     "min_tpr", "max_auc_drop", "max_group_fpr_increase", "max_tpr_drop",
                     "max_suite_group_fpr", "max_suite_term_fpr", "max_flip_rate",
                     "min_suite_recall", "max_suite_fnr_gap"):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("min_subgroup_auc", "min_bpsn_auc", "min_bnsp_auc", "min_bias_score"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.min_slice_size < 1:
            raise ValueError(f"min_slice_size must be at least 1, got {self.min_slice_size}")

    def suite_bounds(self) -> dict:
        """The FairnessGate's bounds on the challenge suite (components.certificate)."""
        return SuiteBounds(
            max_group_fpr=self.max_suite_group_fpr,
            max_term_fpr=self.max_suite_term_fpr,
            max_flip_rate=self.max_flip_rate,
            min_recall=self.min_suite_recall,
            max_fnr_gap=self.max_suite_fnr_gap,
            min_rows=self.min_slice_size,
            no_harm=self.no_harm,
        ).to_json()


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
