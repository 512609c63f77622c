"""The FairnessGate's policy: what a model must meet to be blessed, declared once.

The pipeline's settings hold it (pipeline/config.py) and build the Evaluator's EvalConfig from it
(pipeline/eval_config.py); the gate receives it as JSON, judges by it and records it in its
verdict (components/verdict.py), from which every reader (the Selector, the model card, the
report, the benchmarks) reads it back as this class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from contract import IDENTITY_GROUPS

# The bounds judged against the champion. Without a champion TFX's Evaluator drops them from the
# EvalConfig (its rubber stamp), so the gate records them as None: the bounds that applied.
CHANGE_BOUNDS = ("max_auc_drop", "max_group_fpr_increase", "max_tpr_drop")
# The threshold-free bias AUC floors: None (the default) sets no floor.
BIAS_AUC_FLOORS = ("min_subgroup_auc", "min_bpsn_auc", "min_bnsp_auc", "min_bias_score")
FRACTIONS = ("max_group_fpr", "max_fpr_gap", "max_fnr_gap", "min_auc", "min_tpr",
             "max_suite_group_fpr", "max_suite_term_fpr", "max_flip_rate", "min_suite_recall",
             "max_suite_fnr_gap")  # fmt: skip
# Gate reports written before the policy record held `bounds`: the eval bounds under the
# policy's names, the suite's under "suite" with these names (and min_slice_size as min_rows).
_SUITE_NAMES_BEFORE = {
    "max_group_fpr": "max_suite_group_fpr",
    "max_term_fpr": "max_suite_term_fpr",
    "max_flip_rate": "max_flip_rate",
    "min_recall": "min_suite_recall",
    "max_fnr_gap": "max_suite_fnr_gap",
    "no_harm": "no_harm",
}


@dataclass(frozen=True)
class GatePolicy:
    """What a model must meet to be blessed; TFMA checks the eval bounds, `components.gate`
    explains them and adds the challenge suite's."""

    # Every rate is judged at each model's own operating point (docs/operating_point.md).
    # Upper bound on each identity group's false-positive rate.
    max_group_fpr: float = 0.20
    # Upper bound on (group FPR - overall FPR), checked as a TFMA cross-slice threshold.
    max_fpr_gap: float = 0.05
    # Upper bound on (group FNR - overall FNR): a group's FPR must not be bought with that
    # group's recall. Wider than the FPR gap because a group's FNR stands on its few toxic rows.
    max_fnr_gap: float = 0.15
    min_auc: float = 0.75
    # Floor on overall recall (TPR) at the decision threshold: every FPR bound is met by a
    # model that flags nothing, so a fairness gate must refuse uselessness explicitly. 0.20
    # refuses the models that were once blessed (TPR 0.014 and 0.0 on the Gab Hate Corpus)
    # and passes every baseline measured so far (0.30 or more); see docs/operating_point.md.
    min_tpr: float = 0.20
    # Against the champion, when there is one (CHANGE_BOUNDS).
    max_auc_drop: float | None = 0.02
    max_group_fpr_increase: float | None = 0.05
    max_tpr_drop: float | None = 0.10
    # A group's rate is judged only when it stands on at least this many rows: non-toxic rows
    # for its FPR, toxic rows for its FNR, on eval and on the challenge suite alike. Smaller
    # groups are reported, not judged.
    min_slice_size: int = 30
    # Optional floors on the threshold-free bias AUCs (docs/bias_auc.md), off by default: each
    # judged group's subgroup, BPSN and BNSP AUC, and the final Jigsaw score on overall.
    min_subgroup_auc: float | None = None
    min_bpsn_auc: float | None = None
    min_bnsp_auc: float | None = None
    min_bias_score: float | None = None
    groups: tuple[str, ...] = IDENTITY_GROUPS
    fairness_thresholds: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    # The identity challenge suite (docs/certificate.md, which argues these defaults), judged at
    # the served decision: each group's FPR on the suite's non-toxic rows, each madlibs term's,
    # and the flip rate under identity swaps.
    max_suite_group_fpr: float = 0.10
    max_suite_term_fpr: float = 0.20
    max_flip_rate: float = 0.05
    # A model that passes by flagging nothing is broken: its recall on the functional suite's
    # toxic statements (written as plain abuse of each group) must reach the eval's floor, and
    # no group's FNR on the madlibs toxic templates may exceed their overall FNR by more than
    # the eval's FNR-gap bound.
    min_suite_recall: float = 0.20
    max_suite_fnr_gap: float = 0.15
    # Do no harm: refuse a rise of a group's FPR above the base model's beyond the noise.
    no_harm: bool = True

    def __post_init__(self):
        unknown = set(self.groups) - set(IDENTITY_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown identity group(s) {sorted(unknown)}; known: {list(IDENTITY_GROUPS)}"
            )
        for name in (*FRACTIONS, *CHANGE_BOUNDS, *BIAS_AUC_FLOORS):
            value = getattr(self, name)
            if value is None and name not in FRACTIONS:
                continue
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.min_slice_size < 1:
            raise ValueError(f"min_slice_size must be at least 1, got {self.min_slice_size}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> GatePolicy:
        """The policy a record holds; keys it does not know (an older record's) are left out."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("groups", "fairness_thresholds"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def from_bounds_record(cls, bounds: dict) -> GatePolicy:
        """The policy of a gate report written before the policy record, from its `bounds`."""
        suite = bounds.get("suite") or {}
        renamed = {new: suite[old] for old, new in _SUITE_NAMES_BEFORE.items() if old in suite}
        return cls.from_json({**bounds, **renamed})

    def without_change_bounds(self) -> GatePolicy:
        """The policy as judged without a champion: no change bound applied."""
        return dataclasses.replace(self, **dict.fromkeys(CHANGE_BOUNDS))

    def lines(self) -> list[str]:
        """The eval bounds in words, as the model card and the report list them."""
        out = ["every rate at each model's own operating point"]
        for value, text in (
            (self.min_auc, "overall AUC >= {:g}"),
            (self.min_tpr, "overall recall (TPR) >= {:g}"),
            (self.max_group_fpr, "each group's FPR <= {:g}"),
            (self.max_fpr_gap, "each group's FPR - overall FPR <= {:g}"),
            (self.max_fnr_gap, "each group's FNR - overall FNR <= {:g}"),
            (self.max_auc_drop, "AUC drop vs. the last blessed model <= {:g}"),
            (self.max_group_fpr_increase, "group FPR rise vs. the last blessed model <= {:g}"),
            (self.max_tpr_drop, "recall drop vs. the last blessed model <= {:g}"),
            (self.min_subgroup_auc, "each group's subgroup AUC >= {:g} (threshold-free)"),
            (self.min_bpsn_auc, "each group's BPSN AUC >= {:g} (threshold-free)"),
            (self.min_bnsp_auc, "each group's BNSP AUC >= {:g} (threshold-free)"),
            (self.min_bias_score, "the bias score >= {:g} (threshold-free)"),
        ):
            if value is not None:
                out.append(text.format(value))
        out.append(
            f"a group's FPR on fewer than {self.min_slice_size} non-toxic eval rows, or its "
            "FNR on fewer toxic rows: not judged"
        )
        return out

    def suite_lines(self) -> list[str]:
        """The challenge suite's bounds in words, as the model card lists them."""
        return [
            f"on the challenge suite, each group's FPR <= {self.max_suite_group_fpr:g} "
            "(madlibs, functional, Wikipedia identity set; "
            f"{self.min_slice_size}+ non-toxic rows)",
            f"each madlibs identity term's FPR <= {self.max_suite_term_fpr:g}",
            f"flip rate under identity swaps <= {self.max_flip_rate:g}",
            f"recall on the functional suite's toxic statements >= {self.min_suite_recall:g}",
            "each group's FNR - overall FNR on the madlibs toxic templates "
            f"<= {self.max_suite_fnr_gap:g}",
            *(
                ["no group's FPR, on eval or the suite, above the base model's beyond noise"]
                if self.no_harm
                else []
            ),
        ]
