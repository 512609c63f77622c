"""Selector: picks the candidate to push among the blessed ones, by a rule kept as data.

Each candidate has its own Trainer, Evaluator and FairnessGate; the Selector reads every gate's
blessing and report, ranks the blessed candidates by `SelectionPolicy` (pipeline/config.py),
and writes a readable decision: every candidate, blessed or not and why, and the winner. It
copies the winner's SavedModel into its own Model output and blesses that copy, so one Pusher
(ours, or TFX's Vertex Pusher) pushes whichever candidate won.

The number of candidates is a pipeline setting, and Kubeflow V2 compiles only single-channel
inputs (no `union`), so the component's inputs are named per candidate (`report_<name>`,
`blessing_<name>`) on a spec built for the candidate list; the selection is plain functions.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from components.gate import GateReport, read_report, row_counts, rows_by_kind
from components.verdict import Verdict, champion_name
from contract import AUC_METRIC, FNR_METRIC, FPR_METRIC, OVERALL, TPR_METRIC

DECISION_FILE = "selection.json"
DECISION_TEXT = "selection.txt"
SOURCE_MODEL_ID = "source_model_id"


def report_key(name: str) -> str:
    """The Selector's input key of a candidate's gate report."""
    return f"report_{name}"


def blessing_key(name: str) -> str:
    """The Selector's input key of a candidate's gate blessing."""
    return f"blessing_{name}"


class SelectionReport(Artifact):
    """The Selector's decision: every candidate, blessed or not and why, and the winner."""

    TYPE_NAME = "components.SelectionReport"


@dataclass
class CandidateRow:
    name: str
    blessed: bool
    auc: float | None = None
    tpr: float | None = None
    max_group_fpr_gap: float | None = None
    max_group_fnr_gap: float | None = None
    # Groups with enough rows for each rate, as the gate judged them.
    judged_groups: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # From the gate's verdict record (components/verdict.py): the eval gap, the suite's gap and
    # the worse of the two, each {"value", "interval", "group"}; the flip rate; and for a
    # post-processed candidate its base model's AUC (its own is the group-adjusted score's).
    eval_gap: dict | None = None
    suite_gap: dict | None = None
    worst_gap: float | None = None
    flip_rate: dict | None = None
    base_auc: float | None = None
    # Said under the row: e.g. a post-processed candidate with no threshold of its own.
    note: str = ""


@dataclass
class Decision:
    rule: dict
    candidates: list[CandidateRow]
    winner: str | None = None
    why: str = ""
    # The champion every candidate was compared with (the gates' verdict records), or None.
    champion: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        lines = [
            f"{'candidate':<28} {'gate':<8} {'AUC':>6} {'base AUC':>8} {'TPR':>6} "
            f"{'eval gap [95%]':>22} {'suite gap [95%]':>22} {'flips':>6}"
        ]
        for row in self.candidates:
            mark = "*" if row.name == self.winner else " "
            flips = (row.flip_rate or {}).get("value")
            lines.append(
                f"{mark}{row.name:<27} {'blessed' if row.blessed else 'refused':<8} "
                f"{_fmt(row.auc)} {_fmt(row.base_auc, 8)} {_fmt(row.tpr)} "
                f"{_gap(row.eval_gap):>22} {_gap(row.suite_gap):>22} {_fmt(flips)}"
            )
            lines += [f"    note: {row.note}"] if row.note else []
            lines += [f"    {reason}" for reason in row.reasons]
        lines.append(self.decision_line())
        return "\n".join(lines)

    def decision_line(self) -> str:
        return f"Selected: {self.winner}. {self.why}" if self.winner else self.why


def _fmt(value: float | None, width: int = 6) -> str:
    return f"{value:{width}.3f}" if value is not None else f"{'-':>{width}}"


def _gap(gap: dict | None) -> str:
    if not gap:
        return "-"
    lower, upper = gap["interval"]
    return f"{gap['value']:.3f} [{lower:.3f}, {upper:.3f}]"


def _max_gap(rows: dict, metric: str, groups: list[str]) -> float | None:
    overall = rows.get(OVERALL, {}).get(metric)
    gaps = [rows[g][metric] - overall for g in groups if metric in rows[g]]
    return max(gaps) if gaps and overall is not None else None


def _value(figure: dict | None) -> float | None:
    return None if not figure else figure.get("value")


def candidate_row(name: str, report: dict, blessed: bool) -> CandidateRow:
    """One candidate's figures at its operating point, read from its gate's verdict record
    (which groups count by the policy it records)."""
    verdict = Verdict.from_json(report)
    min_slice_size = verdict.policy.min_slice_size
    rows = verdict.slice_metrics
    overall = rows.get(OVERALL, {})
    # As the gate counts them: a slice without confusion counts stands on its examples.
    counts = {g: rows_by_kind(row_counts(r)) for g, r in rows.items() if g != OVERALL}
    fpr_groups = sorted(g for g, c in counts.items() if c["negatives"] >= min_slice_size)
    fnr_groups = sorted(g for g, c in counts.items() if c["positives"] >= min_slice_size)
    figures = verdict.figures
    return CandidateRow(
        name=name,
        blessed=blessed,
        auc=overall.get(AUC_METRIC),
        tpr=overall.get(TPR_METRIC),
        max_group_fpr_gap=_max_gap(rows, FPR_METRIC, fpr_groups),
        max_group_fnr_gap=_max_gap(rows, FNR_METRIC, fnr_groups),
        judged_groups=fpr_groups,
        reasons=verdict.reasons(),
        eval_gap=figures.get("eval_gap"),
        suite_gap=figures.get("suite_gap"),
        worst_gap=_value(figures.get("worst_gap")),
        flip_rate=figures.get("flip_rate"),
        base_auc=_value(figures.get("base_auc")),
        note=verdict.postprocess_note(),
    )


def select(rows: list[CandidateRow], rule: dict, champion: dict | None = None) -> Decision:
    """The blessed candidate with the smallest `rule["primary"]` gap; those within
    `tie_margin` of it form one tier, won by the highest `rule["tiebreak"]`."""
    decision = Decision(rule=rule, candidates=rows, champion=champion)
    blessed = [r for r in rows if r.blessed]
    if not blessed:
        decision.why = "No candidate was blessed: nothing is pushed" + (
            f" and {champion_name(champion)} stays."
            if champion
            else "; there is no champion (nothing was pushed before)."
        )
        return decision
    primary, tiebreak = rule["primary"], rule["tiebreak"]

    def gap(row):
        # A blessed candidate always has a judged group (the gate refuses one without).
        value = getattr(row, primary)
        if value is None and primary == "worst_gap":
            # A run without the challenge suite: the eval gap is the worst one known.
            value = row.max_group_fpr_gap
        return float("inf") if value is None else value

    best = min(gap(r) for r in blessed)
    tier = [r for r in blessed if gap(r) <= best + rule["tie_margin"]]
    winner = max(tier, key=lambda r: (getattr(r, tiebreak) or 0.0, -gap(r)))
    decision.winner = winner.name
    others = [r.name for r in tier if r is not winner]
    decision.why = (
        f"Rule: the smallest {primary} among the {len(blessed)} blessed candidate(s) "
        f"({best:.3f}); within {rule['tie_margin']} of it, the highest {tiebreak}"
        + (f" (ahead of {', '.join(others)})." if others else ".")
    )
    return decision


def _copy_model(source_uri: str, target: Artifact) -> None:
    source = path_utils.serving_model_path(source_uri)
    io_utils.copy_dir(source, path_utils.serving_model_dir(target.uri))


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:
        rule = json.loads(exec_properties["rule"])
        # In the pipeline's candidate order.
        names = json.loads(exec_properties["candidates"])
        blessings = {n: input_dict[blessing_key(n)][0] for n in names}
        rows, champion = [], None
        for name in names:
            report = read_report(input_dict[report_key(name)][0].uri)
            blessed = blessings[name].get_int_custom_property("blessed") == 1
            rows.append(candidate_row(name, report, blessed))
            champion = champion or report.get("champion")
        decision = select(rows, rule, champion)
        write_decision(decision, output_dict["selection"][0].uri)

        model, blessing = output_dict["model"][0], output_dict["blessing"][0]
        if decision.winner:
            chosen = blessings[decision.winner]
            _copy_model(chosen.get_string_custom_property("current_model"), model)
            model.set_string_custom_property("candidate", decision.winner)
            # The champion is the candidate's own Trainer model, not this copy: a rerun with
            # the same inputs then resolves the same champion and is a cache hit throughout.
            model.set_int_custom_property(
                SOURCE_MODEL_ID, chosen.get_int_custom_property("current_model_id")
            )
        else:
            fileio.makedirs(model.uri)
        # The winner's gate report, for the model card the Pusher writes.
        report_out = output_dict["report"][0]
        if decision.winner:
            io_utils.copy_dir(input_dict[report_key(decision.winner)][0].uri, report_out.uri)
        else:
            fileio.makedirs(report_out.uri)
        # Only a winner is blessed; the Pusher reads this blessing and the copied model.
        blessing.set_int_custom_property("blessed", int(decision.winner is not None))
        blessing.set_string_custom_property("candidate", decision.winner or "")
        fileio.makedirs(blessing.uri)
        # One line: the table is in selection.txt and in the run summary, printed once there.
        print(decision.decision_line())


def write_decision(decision: Decision, directory: str) -> None:
    fileio.makedirs(directory)
    with fileio.open(os.path.join(directory, DECISION_FILE), "w") as f:
        f.write(json.dumps(decision.to_json(), indent=2, sort_keys=True))
    with fileio.open(os.path.join(directory, DECISION_TEXT), "w") as f:
        f.write(decision.describe() + "\n")


def read_decision(directory: str) -> dict:
    with fileio.open(os.path.join(directory, DECISION_FILE)) as f:
        return json.loads(f.read())


def make_selector(candidate_names, reports: dict, blessings: dict, rule: dict):
    """A Selector instance for these candidates; `reports` and `blessings` map each name to
    its FairnessGate's output channels."""

    class SelectorSpec(types.ComponentSpec):
        PARAMETERS = {
            "rule": ExecutionParameter(type=str),
            "candidates": ExecutionParameter(type=str),
        }
        INPUTS = {
            **{report_key(n): ChannelParameter(type=GateReport) for n in candidate_names},
            **{
                blessing_key(n): ChannelParameter(type=standard_artifacts.ModelBlessing)
                for n in candidate_names
            },
        }
        OUTPUTS = {
            "model": ChannelParameter(type=standard_artifacts.Model),
            "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
            "selection": ChannelParameter(type=SelectionReport),
            "report": ChannelParameter(type=GateReport),
        }

    class Selector(base_component.BaseComponent):
        SPEC_CLASS = SelectorSpec
        EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

        def __init__(self):
            super().__init__(
                spec=SelectorSpec(
                    rule=json.dumps(rule, sort_keys=True),
                    candidates=json.dumps(list(candidate_names)),
                    **{report_key(n): reports[n] for n in candidate_names},
                    **{blessing_key(n): blessings[n] for n in candidate_names},
                    model=types.Channel(type=standard_artifacts.Model),
                    blessing=types.Channel(type=standard_artifacts.ModelBlessing),
                    selection=types.Channel(type=SelectionReport),
                    report=types.Channel(type=GateReport),
                )
            )

    return Selector()
