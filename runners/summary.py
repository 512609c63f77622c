"""The summary `local_runner.py run` prints when the pipeline is done: the shown model's
per-group rates, the Selector's table, the outcome, the cache and the push, from this run's own
outputs in ML Metadata."""

from __future__ import annotations

from contract import AUC_METRIC, COUNT_METRIC, FNR_METRIC, OVERALL
from pipeline import mlmd, nodes


def print_summary(outcome: mlmd.RunOutcome, seconds: float) -> None:
    """The run's own outcome: every candidate's verdict, the selection and the push, cached
    or not."""
    report = outcome.report
    if report:
        shown = outcome.winner or next(iter(outcome.reports))
        print(
            f"\nPer-group metrics of {shown} on the eval split, at its operating point "
            f"({_operating_point_text(report.get('operating_point'))}):"
        )
        print(f"  {'slice':<20} {'examples':>8} {'FPR [95% Wilson]':>22} {'FNR':>7} {'AUC':>7}")
        rows = report.get("slice_metrics", {})
        for name in [OVERALL, *sorted(k for k in rows if k != OVERALL)]:
            row = rows.get(name)
            if row is not None:
                print(_metric_line(name, row))
    from components.verdict import champion_line, champion_name

    # Every candidate was compared with the same champion; the Selector recorded it.
    champion = outcome.selection.get("champion") or next(
        (r.get("champion") for _, r in outcome.reports.values() if r.get("champion")), None
    )
    if outcome.selection:
        from components.selector import CandidateRow, Decision

        decision = Decision(
            rule=outcome.selection["rule"],
            candidates=[CandidateRow(**row) for row in outcome.selection["candidates"]],
            winner=outcome.winner,
            why=outcome.selection["why"],
        )
        print("\nCandidates, each at its own operating point (eval split; gaps: group - overall):")
        print("\n".join("  " + line for line in decision.describe().splitlines()))
    if outcome.reports:
        print(f"Change checks compared with {champion_line(champion)}")
        print(f"\nOutcome: {'blessed' if outcome.blessed else 'not blessed'}")
        for name, (folder, _) in outcome.reports.items():
            print(f"Gate report of {name}: {folder}")
    if outcome.cached_nodes:
        print(f"Reused from the cache: {', '.join(outcome.cached_nodes)}")
    if outcome.pushed:
        again = (
            " (an earlier run's push, reused from the cache)"
            if nodes.PUSHER in outcome.cached_nodes
            else ""
        )
        print(f"Pushed model: {outcome.pushed_destination} ({outcome.winner}){again}")
    elif champion:
        print(f"No model pushed; {champion_name(champion)} stays.")
    else:
        print("No model pushed; there is no champion yet (nothing was pushed before).")
    print(f"Wall time of the pipeline run (excluding data preparation): {seconds:.0f} s")


def _operating_point_text(point: dict | None) -> str:
    if not point:
        return "threshold 0.5: a model without a recorded operating point"
    text = f"threshold {point['threshold']:.4f}"
    if point.get("source") == "override":
        return f"{text}, set by --decision-threshold"
    if point.get("group_thresholds"):
        own = ", ".join(f"{g} {t:.4f}" for g, t in sorted(point["group_thresholds"].items()))
        text = f"threshold {point['threshold']:.4f}, own thresholds: {own}"
    return f"{text}, where the validation FPR is {point['validation_fpr']:.3f}"


def _metric_line(name: str, row: dict) -> str:
    from components.certificate import eval_fpr

    def fmt(key):
        value = row.get(key)
        return f"{value:7.3f}" if isinstance(value, int | float) else f"{'-':>7}"

    count = int(row.get(COUNT_METRIC, 0))
    fpr = eval_fpr({name: row}).get(name)
    shown = (
        f"{fpr.value:.3f} [{fpr.interval[0]:.3f}, {fpr.interval[1]:.3f}]" if fpr and fpr.n else "-"
    )
    return f"  {name:<20} {count:>8} {shown:>22} {fmt(FNR_METRIC)} {fmt(AUC_METRIC)}"
