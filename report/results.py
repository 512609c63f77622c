"""What the report knows about one model's evaluation: its metric rows, the gate's verdict record
(components/verdict.py, with the policy it was judged by), the Selector's decision it was a
candidate of and, after threshold matching, its rates at the matched threshold. Plain
dataclasses, so that new fields need no change elsewhere.

Which groups count, the largest gap and a failure's text are the gate's: they are read from the
record. Only a gate report written before the record (no `judged`, no `figures`) has them
worked out here from the slices, as the gate then did."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from components.policy import GatePolicy
from components.verdict import Verdict
from contract import (
    BIAS_AUC_KINDS,
    BIAS_SCORE_METRIC,
    IDENTITY_GROUPS,
    OVERALL,
    bias_auc_metric,
    power_mean_metric,
)
from report.values import AUC, COUNT, FI_FPR, FNR, FPR, Value
from trainer_modules.operating_point import logit


def shown_policy(runs: list[RunResult]) -> GatePolicy | None:
    """The policy the report shows: the first model's that has one (a run's models share it)."""
    return next((r.policy for r in runs if r.policy is not None), None)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@dataclass
class Matched:
    """Error rates at the threshold where overall FPR equals the reference's overall FPR."""

    reference: str
    target_fpr: float
    threshold: float
    rates: dict[str, dict[str, float | int | None]]


@dataclass
class RunResult:
    name: str
    slices: dict[str, dict[str, Value]]
    gate: dict | None = None
    # Whether TFMA computed confidence intervals (the Evaluator ran with --confidence-intervals).
    confidence_intervals: bool = False
    pipeline: str = ""
    evaluation_uri: str = ""
    model_uri: str = ""
    examples_uri: str = ""
    gate_report_dir: str = ""
    # The pushed version folder with this model's card (components/model_card.py), if pushed.
    model_card_dir: str = ""
    evaluated_at: str = ""
    matched: Matched | None = None
    # This model on the Wikipedia identity-swap pairs (report/robustness.py), when scored.
    swaps: dict | None = None
    # The Selector's decision (components/selector.py selection.json) that read this model's
    # gate report, and its folder; None when no Selector read it.
    selection: dict | None = None
    selection_dir: str = ""
    # The pipeline run of this evaluation, as `run` printed it.
    run_id: str = ""
    # How tables name the model: its name, with its run and eval rows when runs are mixed.
    label: str = ""

    @property
    def matched_score_threshold(self) -> float | None:
        """The matched threshold on the probability scale `predict` shows (of the rows tagged
        with no group, for post-processing). Matching works on the `evaluate` signature's
        score, which crosses 0.5 at the model's operating threshold t: sigmoid(logit(p) -
        logit(t)), so a matched m there is sigmoid(logit(m) + logit(t)) here."""
        if self.matched is None:
            return None
        point = self.operating_point
        if not point or point.get("threshold") is None:
            return self.matched.threshold  # a model without an operating point: its own scale
        return _sigmoid(logit(self.matched.threshold) + logit(point["threshold"]))

    @property
    def eval_rows(self) -> int | None:
        value = self.metric(OVERALL, COUNT).value
        return None if value is None else int(value)

    def metric(self, slice_name: str, key: str) -> Value:
        return self.slices.get(slice_name, {}).get(key, Value(None))

    @property
    def blessed(self) -> bool | None:
        return None if self.gate is None else bool(self.gate.get("blessed"))

    @property
    def policy(self) -> GatePolicy | None:
        """The policy the gate judged this model by, from its record; None without a gate report
        (a base model evaluated only for the do-no-harm check)."""
        return None if self.gate is None else self.verdict.policy

    @property
    def fairness_thresholds(self) -> list[float]:
        """The thresholds Fairness Indicators computed rates at, as the metric keys name them
        (the change against a champion, `...@0.1_diff`, is not one)."""
        key = re.compile(re.escape(FI_FPR.format("")) + r"(\d+(?:\.\d+)?)")
        found = (key.fullmatch(name) for name in self.slices.get(OVERALL, {}))
        return sorted({float(match.group(1)) for match in found if match})

    @property
    def groups(self) -> list[str]:
        policy = self.policy
        order = policy.groups if policy else IDENTITY_GROUPS
        known = [g for g in order if g in self.slices]
        return known + sorted(s for s in self.slices if s != OVERALL and s not in known)

    @property
    def operating_point(self) -> dict | None:
        """The model's decision threshold and how it was chosen, from its gate report."""
        return (self.gate or {}).get("operating_point")

    @property
    def verdict(self) -> Verdict | None:
        return None if self.gate is None else Verdict.from_json(self.gate)

    def _recorded(self, key: str) -> bool:
        """Whether the gate report holds this field of the verdict record (older ones do not)."""
        return key in (self.gate or {})

    @property
    def skipped(self) -> dict[str, str]:
        return dict((self.gate or {}).get("skipped", {}))

    def not_judged(self) -> dict[str, str]:
        """Per group not judged on eval: why, and (from the record) where it was judged."""
        if not self._recorded("judged"):
            return dict(sorted(self.skipped.items()))
        return self.verdict.not_judged()

    @property
    def failures(self) -> list[dict]:
        return list((self.gate or {}).get("failures", []))

    def failure_texts(self) -> list[str]:
        """Each failed check as the record describes it (components.verdict.Failure)."""
        return [] if self.gate is None else [f.describe() for f in self.verdict.failures]

    def figure(self, name: str) -> dict | None:
        """A headline figure of the record: eval_gap, suite_gap, worst_gap, flip_rate, auc, tpr,
        base_auc; None when absent (an older report, or no suite)."""
        return (self.gate or {}).get("figures", {}).get(name)

    @property
    def suite(self) -> dict | None:
        """The candidate's figures on the identity challenge suite, as its gate recorded them."""
        return (self.gate or {}).get("suite")

    @property
    def has_bias_aucs(self) -> bool:
        """Whether the evaluation computed the bias AUCs (older ones did not)."""
        return BIAS_SCORE_METRIC in self.slices.get(OVERALL, {})

    def bias_aucs(self, slice_name: str) -> dict[str, Value]:
        """Subgroup, BPSN and BNSP AUC of a group, or on "overall" each one's power mean over
        groups; TFMA computed them all on the overall slice (components/bias_auc.py)."""
        if slice_name == OVERALL:
            keys = {kind: power_mean_metric(kind) for kind in BIAS_AUC_KINDS}
        else:
            keys = {kind: bias_auc_metric(kind, slice_name) for kind in BIAS_AUC_KINDS}
        return {kind: self.metric(OVERALL, key) for kind, key in keys.items()}

    def judged_groups(self) -> list[str]:
        """Groups the gate judged on eval, from the record; for an older report: not skipped,
        and (without a gate report) big enough."""
        if self._recorded("judged"):
            judged = self.gate["judged"]
            return [g for g in self.groups if "eval" in judged.get(g, [])]
        minimum = self.policy.min_slice_size if self.policy else 0
        return [
            g
            for g in self.groups
            if g not in self.skipped and (self.metric(g, COUNT).value or 0) >= minimum
        ]

    def worst_group(self, key: str = FPR) -> tuple[str | None, float | None]:
        values = [(self.metric(g, key).value, g) for g in self.judged_groups()]
        values = [(v, g) for v, g in values if v is not None]
        if not values:
            return None, None
        value, group = max(values)
        return group, value

    def largest_gap(self) -> tuple[str | None, float | None]:
        """Largest (group FPR - overall FPR) over judged groups, at the decision threshold: the
        record's eval gap; for an older report, from the slices."""
        if self._recorded("figures"):
            gap = self.figure("eval_gap")
            return (gap["group"], gap["value"]) if gap else (None, None)
        overall = self.metric(OVERALL, FPR).value
        group, worst = self.worst_group(FPR)
        if overall is None or worst is None:
            return None, None
        return group, worst - overall

    def matched_gap(self) -> tuple[str | None, float | None]:
        if self.matched is None:
            return None, None
        overall = self.matched.rates.get(OVERALL, {}).get("fpr")
        values = [
            (rates.get("fpr"), g)
            for g, rates in self.matched.rates.items()
            if g in self.judged_groups() and rates.get("fpr") is not None
        ]
        if overall is None or not values:
            return None, None
        value, group = max(values)
        return group, value - overall

    def summary(self) -> dict:
        group, gap = self.largest_gap()
        worst_group, worst = self.worst_group(FPR)
        worst_fnr_group, worst_fnr = self.worst_group(FNR)
        matched_group, matched_gap = self.matched_gap()
        return {
            "name": self.name,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "eval_rows": self.eval_rows,
            "blessed": self.blessed,
            "auc": self.metric(OVERALL, AUC).value,
            "bias_score": self.metric(OVERALL, BIAS_SCORE_METRIC).value,
            "overall_fpr": self.metric(OVERALL, FPR).value,
            "overall_fnr": self.metric(OVERALL, FNR).value,
            "worst_group_fpr": worst,
            "worst_group": worst_group,
            "worst_group_fnr": worst_fnr,
            "worst_fnr_group": worst_fnr_group,
            "largest_gap": gap,
            "largest_gap_group": group,
            "matched_threshold": self.matched_score_threshold,
            # The same threshold on the `evaluate` signature's scale (0.5 = operating point).
            "matched_threshold_evaluate": self.matched.threshold if self.matched else None,
            "matched_largest_gap": matched_gap,
            "matched_largest_gap_group": matched_group,
            "identity_swap_flip_rate": self.swaps["flip_rate"] if self.swaps else None,
            "eval_gap": self.figure("eval_gap"),
            "suite_gap": self.figure("suite_gap"),
            "worst_gap": self.figure("worst_gap"),
            "flip_rate": self.figure("flip_rate"),
            "base_auc": self.figure("base_auc"),
            "base_model": (self.gate or {}).get("base_model", ""),
            "confidence_intervals": self.confidence_intervals,
            "judged": (self.gate or {}).get("judged"),
            "failures": self.failures,
            "failed_checks": self.failure_texts(),
            "skipped": self.skipped,
            "not_judged": self.not_judged(),
            "selection_dir": self.selection_dir,
            "evaluation_uri": self.evaluation_uri,
            "gate_report_dir": self.gate_report_dir,
            "model_card_dir": self.model_card_dir,
        }
