"""Settings read inside Transform and the Trainer (they arrive there as `custom_config`).

They live beside the trainer modules so the modules need nothing from the pipeline builder;
`pipeline.config` gathers them with the gate's policy into one `Settings`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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
