"""The pipeline Selector's decision as it recorded it (`selection.json`), and the report's summary
built on it: the order of the models, the recommendation and the table of candidates.

The report does not rank the models again. It shows the decision of the Selector that read
every shown model's gate report; models that were never candidates of one decision (evaluated
in different runs, or with no Selector) are shown side by side, and the report says that no
decision compares them instead of making one up.
"""

from __future__ import annotations

from dataclasses import dataclass

from report.results import RunResult
from report.values import AUC, FNR, FPR, OVERALL, fmt


@dataclass
class Recorded:
    """The one Selector decision every shown model was a candidate of (None when there is
    none), and a line that says what it covers or why there is none."""

    decision: dict | None
    note: str = ""

    @property
    def winner(self) -> str | None:
        return (self.decision or {}).get("winner")


def _among(decision: dict) -> list[str]:
    return [row["name"] for row in decision.get("candidates", [])]


def recorded(runs: list[RunResult]) -> Recorded:
    """The shared decision of these runs, read from what their Selector wrote."""
    folders = {run.selection_dir for run in runs}
    if runs and len(folders) == 1 and runs[0].selection is not None:
        decision = runs[0].selection
        hidden = [name for name in _among(decision) if name not in {r.name for r in runs}]
        note = f"The decision also judged {', '.join(hidden)}, not shown here." if hidden else ""
        return Recorded(decision, note)
    # The runs of each decision together, in the order they were found.
    by_folder: dict[str, list[RunResult]] = {}
    for run in runs:
        by_folder.setdefault(run.selection_dir if run.selection else "", []).append(run)
    parts = []
    for folder, members in by_folder.items():
        names = ", ".join(r.name for r in members)
        if not folder:
            parts.append(f"{names}: no Selector decision recorded")
        else:
            decision = members[0].selection
            parts.append(
                f"{names}: a decision among {', '.join(_among(decision))} "
                f"(selected: {decision.get('winner') or 'none'})"
            )
    return Recorded(
        None,
        "No Selector decision judged these models together, so the report does not rank "
        f"them ({'; '.join(parts)}).",
    )


def order(runs: list[RunResult]) -> list[RunResult]:
    """The Selector's winner first, then the decision's candidate order; without a shared
    decision, the order the runs were found in."""
    shared = recorded(runs)
    if shared.decision is None:
        return list(runs)
    among = _among(shared.decision)

    def key(run: RunResult):
        position = among.index(run.name) if run.name in among else len(among)
        return (run.name != shared.winner, position)

    return sorted(runs, key=key)


def selector_word(run: RunResult, shared: Recorded) -> str:
    """The Selector's word on one model: selected, not selected, or no shared decision."""
    if shared.decision is None:
        return "-"
    return "selected" if run.name == shared.winner else "not selected"


def recommendation(runs: list[RunResult]) -> str:
    """What the Selector decided (its own words), and why each model not selected was refused,
    in the words of its gate's record."""
    if not runs:
        return "No evaluations found."
    shared = recorded(runs)
    lines = []
    if shared.decision is not None:
        why = shared.decision.get("why", "")
        head = f"Selected by the pipeline's Selector: {shared.winner}." if shared.winner else ""
        lines.append(" ".join(part for part in (head, why) if part))
    if shared.note:
        lines.append(shared.note)
    for run in order(runs):
        if run.gate is None:
            lines.append(f"  {run.name}: no gate report")
        elif not run.blessed:
            lines.append(f"  {run.name} missed:")
            lines += [
                f"    - {text}" for text in run.failure_texts() or ["no failed check recorded"]
            ]
        elif shared.decision is None:
            lines.append(f"  {run.name}: blessed")
    return "\n".join(lines)


def figure_text(figure: dict | None, signed: bool = True) -> str:
    """A headline figure of the record: "+0.070 [+0.020, +0.148] (religion)"; "-" if none."""
    if not figure or figure.get("value") is None:
        return "-"
    text = fmt(figure["value"], signed=signed)
    if figure.get("interval"):
        lower, upper = figure["interval"]
        text += f" [{fmt(lower, signed=signed)}, {fmt(upper, signed=signed)}]"
    return text + (f" ({figure['group']})" if figure.get("group") else "")


def eval_gap_text(run: RunResult) -> str:
    """The record's eval gap with its interval; an older report's gap from the slices."""
    if run.figure("eval_gap") is not None:
        return figure_text(run.figure("eval_gap"))
    group, gap = run.largest_gap()
    return fmt(gap, signed=True) + (f" ({group})" if group else "")


def _worst(value, group) -> str:
    return "-" if value is None else f"{value:.3f} ({group})"


TABLE_HEADER = ["model", "Selector", "gate", "AUC", "FPR", "FNR", "worst group FPR",
                "worst group FNR", "eval gap [95%]", "suite gap [95%]", "flip rate [95%]",
                "matched thr", "gap@matched"]  # fmt: skip
GATE_WORDS = {True: "passes", False: "fails", None: "no report"}


def candidates_table(runs: list[RunResult]) -> str:
    """The models in the Selector's order, with the record's figures, as printed text."""
    shared = recorded(runs)
    rows = [TABLE_HEADER]
    for run in order(runs):
        s = run.summary()
        rows.append(
            [run.label or run.name, selector_word(run, shared), GATE_WORDS[s["blessed"]],
             fmt(run.metric(OVERALL, AUC).value), fmt(run.metric(OVERALL, FPR).value),
             fmt(run.metric(OVERALL, FNR).value),
             _worst(s["worst_group_fpr"], s["worst_group"]),
             _worst(s["worst_group_fnr"], s["worst_fnr_group"]),
             eval_gap_text(run), figure_text(s["suite_gap"]),
             figure_text(s["flip_rate"], signed=False), fmt(s["matched_threshold"]),
             fmt(s["matched_largest_gap"], signed=True)]
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    # Text columns left-aligned, numbers right-aligned.
    left = {0, 1, 2}
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )
