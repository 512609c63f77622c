"""The gate's verdict: one typed record, computed once by the FairnessGate and read by every
reader (the Selector, the model card, the report, the run summary).

It holds the policy the model was judged by (components/policy.py), TFMA's failed checks on
eval, the groups not judged on eval and why, the challenge suite's figures and failed checks,
the do-no-harm comparison with the base model, where each group was judged, and the headline
figures with their intervals. Nothing downstream recomputes which groups count, the largest gap
or a failure's text: it reads them here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from components.intervals import Rate
from components.policy import GatePolicy

# What the change checks compare with when the champion's push is not known.
CHAMPION = "the champion"


def champion_name(champion: dict) -> str:
    """The champion as every reader names it: its push version, candidate and time."""
    return (
        f"the champion (version {champion['version']}, candidate {champion['candidate']}, "
        f"pushed at {champion['pushed_at']})"
    )


def champion_line(champion: dict | None) -> str:
    """The champion and its own figures on the run's eval rows, or that there is none."""
    if not champion:
        return "no champion: nothing was pushed before this run"
    shown = []
    for name, label in (("auc", "AUC"), ("tpr", "TPR"), ("eval_gap", "eval gap")):
        value = (champion.get("figures", {}).get(name) or {}).get("value")
        if value is not None:
            shown.append(f"{label} {value:.3f}")
    own = f": on this run's eval rows {', '.join(shown)}" if shown else ""
    return f"{champion_name(champion)}{own}"


@dataclass
class Failure:
    slice: str
    metric: str
    value: float | None
    bound: str
    message: str = ""

    def describe(self) -> str:
        value = "not computed" if self.value is None else f"{self.value:.4f}"
        text = f"{self.metric} on {self.slice} = {value}, bound: {self.bound}"
        return f"{text} ({self.message})" if self.message else text


@dataclass
class Verdict:
    blessed: bool
    failures: list[Failure] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # The model's decision threshold and how it was chosen (operating_point.json).
    operating_point: dict | None = None
    # The policy the model was judged by (components/policy.py), its change bounds None when
    # there was no champion to compare with.
    policy: GatePolicy | None = None
    # TFMA's 95% confidence intervals per slice and metric, [lower, upper], when it computed them.
    slice_intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # The challenge suite's figures (components/challenge.py), None when the run had no suite.
    suite: dict | None = None
    # Per identity group, where it was judged: "eval" and the suite's sources.
    judged: dict[str, list[str]] = field(default_factory=dict)
    # The base model the do-no-harm check compared with ("" when the candidate is a base).
    base_model: str = ""
    # Headline figures, each {"value", "interval"} or None: eval_gap, suite_gap, worst_gap,
    # flip_rate, auc, tpr, base_auc (a post-processed candidate's base model's AUC on eval).
    figures: dict[str, dict | None] = field(default_factory=dict)
    # The model the change checks compared with (components.gate.champion_push) and its own
    # figures on the same eval rows; None when nothing had been pushed before the run.
    champion: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Verdict:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["failures"] = [Failure(**f) for f in data.get("failures", [])]
        if data.get("policy"):
            values["policy"] = GatePolicy.from_json(data["policy"])
        elif data.get("bounds"):
            # A report written before the policy record: its bounds under older names.
            values["policy"] = GatePolicy.from_bounds_record(data["bounds"])
        return cls(**values)

    def not_judged(self) -> dict[str, str]:
        """Per group with a rate not judged on eval: why, and where its FPR was judged (eval
        included, when only its FNR lacked rows there)."""
        out = {}
        for group, why in sorted(self.skipped.items()):
            where = self.judged.get(group, [])
            out[group] = f"{why}; " + (
                f"judged on {', '.join(where)}" if where else "judged nowhere"
            )
        return out

    def reasons(self) -> list[str]:
        """One line per failed check and per group not judged on eval, as every reader shows."""
        lines = [f"failed: {f.describe()}" for f in self.failures]
        lines += [f"not judged on eval: {g} ({why})" for g, why in self.not_judged().items()]
        return lines

    def postprocess_note(self) -> str:
        """For a post-processed candidate whose thresholds all stayed at its base model's: that
        its decisions are its base model's. Empty otherwise."""
        point = self.operating_point or {}
        if point.get("postprocess", "none") == "none" or point.get("base_threshold") is None:
            return ""
        base = point["base_threshold"]
        moved = [g for g, t in (point.get("group_thresholds") or {}).items() if t > base]
        if moved or point["threshold"] > base:
            return ""
        return "no group got a threshold of its own: its decisions are its base model's"

    def describe(self) -> str:
        lines = [f"Model {'blessed' if self.blessed else 'not blessed'} by the fairness gate."]
        if self.operating_point:
            lines.append(
                f"Judged at its operating point: threshold {self.operating_point['threshold']:.4f}"
                f" ({self.operating_point.get('source', '')})."
            )
        if self.champion:
            lines.append(f"Compared with {champion_line(self.champion)}")
        for name in ("eval_gap", "suite_gap", "flip_rate"):
            if shown := self.figures.get(name):
                lower, upper = shown["interval"]
                label = name.replace("_", " ")
                lines.append(f"{label}: {shown['value']:.3f} [{lower:.3f}, {upper:.3f}]")
        if self.failures:
            lines.append("Failed checks:")
            lines += [f"  - {f.describe()}" for f in self.failures]
        if self.skipped:
            lines.append("Not judged on eval:")
            lines += [f"  - {g}: {why}" for g, why in self.not_judged().items()]
        return "\n".join(lines)


def figure(rate: Rate | None) -> dict | None:
    """A rate as a headline figure: its value and Wilson interval."""
    if rate is None or rate.value is None:
        return None
    return {"value": rate.value, "interval": list(rate.interval), "k": rate.k, "n": rate.n}
