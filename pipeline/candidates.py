"""Candidates: the models one run trains, judges and selects from, each parsed once from its
name.

A candidate is a trainer of the registry (contract.TRAINERS), optionally on the frozen sentence
encoder (trainer_modules/sentence_encoder.py), optionally with per-group thresholds
(docs/postprocessing.md). Its name is the suffix of its component ids (pipeline/nodes.py). The
naming rules live here and nowhere else:

- a trainer's own name (`tfco`);
- on the sentence encoding: `encoder` for the baseline, `encoder_<trainer>` for a remediation
  on it (opt-in: Transform runs the encoder only when a candidate uses it);
- `<model>_group_thresholds`: the thresholds fitted on that model's weights, not trained again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract import BASELINE, TRAINERS, TrainerInfo

POSTPROCESSED = "_group_thresholds"
ENCODER = "encoder"


def _model_name(trainer: TrainerInfo, encoder: bool) -> str:
    if not encoder:
        return trainer.name
    return ENCODER if trainer.name == BASELINE else f"{ENCODER}_{trainer.name}"


# Every model a candidate can train: its name -> (trainer, reads the sentence encoding). The
# plain trainers first, then the encoder's, as the CLI's help and the errors list them.
MODELS = {
    _model_name(t, encoder): (t, encoder)
    for encoder in (False, True)
    for t in TRAINERS.values()
    if t.encoder or not encoder
}
CHOICES = (*MODELS, *(m + POSTPROCESSED for m, (t, _) in MODELS.items() if t.postprocess))

# The story of the main job: the baseline, each remediation, and the baseline with per-group
# thresholds (docs/postprocessing.md), which reuses the baseline's weights instead of training.
DEFAULT_CANDIDATES = (
    *(t.name for t in TRAINERS.values() if t.default),
    BASELINE + POSTPROCESSED,
)


@dataclass(frozen=True)
class Candidate:
    """One model the pipeline trains and judges, parsed from its name; an unknown name is
    refused with the choices."""

    name: str
    # The candidate whose Trainer trains the weights: itself, or for a post-processed
    # candidate the model it fits thresholds on.
    model: str = field(init=False)
    # The trainer's name (its module is `trainer_modules.<trainer>`).
    trainer: str = field(init=False)
    uses_encoder: bool = field(init=False)
    postprocess: str = field(init=False)
    # The model this candidate must do no harm against: the same trainer with the method
    # switched off (a post-processed candidate's own model; for a remediation the baseline,
    # or `encoder` for one on the encoder; for `encoder` the baseline), trained in the same
    # run. None for the baseline itself.
    base: str | None = field(init=False)

    def __post_init__(self):
        model = self.name.removesuffix(POSTPROCESSED)
        trainer, encoder = MODELS.get(model, (None, False))
        postprocessed = model != self.name
        if trainer is None or (postprocessed and not trainer.postprocess):
            raise ValueError(f"unknown candidate {self.name!r}; choose from {', '.join(CHOICES)}")
        if postprocessed:
            base = model
        elif encoder:
            base = BASELINE if trainer.name == BASELINE else _model_name(TRAINERS[BASELINE], True)
        else:
            base = None if trainer.name == BASELINE else BASELINE
        parsed = {
            "model": model,
            "trainer": trainer.name,
            "uses_encoder": encoder,
            "postprocess": "group_thresholds" if postprocessed else "none",
            "base": base,
        }
        for key, value in parsed.items():
            object.__setattr__(self, key, value)

    @property
    def run_fn(self) -> str:
        """The dotted path of its Trainer's run_fn."""
        return TRAINERS[self.trainer].run_fn


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
