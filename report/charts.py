"""The report's charts: one declarative Vega-Lite spec each (altair), rendered to PNG by
vl-convert with no browser, and embedded as interactive charts in the HTML page.

Every per-group chart is the same grouped bar chart: one bar per model and group, TFMA's 95%
confidence intervals as whiskers when the Evaluator computed them, groups the gate did not
judge drawn pale, and the gate's bounds as dashed lines. Each bar's tooltip shows that group's
FPR and FNR together.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import altair as alt

from contract import OVERALL
from report.results import RunResult, shown_policy
from report.values import AUC, COUNT, FNR, FPR, Value

# Chart file -> (width, height) in pixels.
CHARTS = {
    "fpr_by_group.png": (1000, 460),
    "fnr_by_group.png": (1000, 460),
    "auc_overall.png": (1000, 320),
    "gap_vs_tpr.png": (1000, 360),
    "fpr_matched_threshold.png": (1000, 460),
    "fnr_matched_threshold.png": (1000, 460),
}
MATCHED_CHARTS = ("fpr_matched_threshold.png", "fnr_matched_threshold.png")
# Paul Tol's colour-blind safe palette.
COLORS = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB"]
CAP_COLOR = "#CC3311"
BOUND_COLOR = "#333333"
# Tooltip fields and titles: every bar of a per-group chart tells the group's FPR and FNR.
RATE_TIPS = (("fpr", "FPR"), ("fpr_ci", "FPR 95% CI"), ("fnr", "FNR"), ("fnr_ci", "FNR 95% CI"))
AUC_TIPS = (("value", "AUC"), ("value_ci", "AUC 95% CI"), *RATE_TIPS)


@dataclass
class Rule:
    """A dashed horizontal reference line across the plot, named in the legend."""

    y: float
    color: str
    label: str


def categories(runs: list[RunResult]) -> list[str]:
    """Overall, then every group the gate names (present in the eval data or not)."""
    seen = [OVERALL]
    for run in runs:
        for group in (*(run.policy.groups if run.policy else ()), *run.groups):
            if group not in seen:
                seen.append(group)
    return seen


def _notes(runs: list[RunResult], names: list[str]) -> dict[str, str]:
    """Eval examples per slice (the same eval split for every run), and whether judged."""
    notes = {}
    for c in names:
        count = runs[0].metric(c, COUNT).value
        text = "" if count is None else f"n={int(count)}"
        if c != OVERALL and all(c not in r.judged_groups() for r in runs):
            text += ", not judged"
        notes[c] = text
    return notes


def _interval(value: Value) -> str:
    return f"[{value.lower:.3f}, {value.upper:.3f}]" if value.has_interval else "-"


def _row(run: RunResult, model: str, group: str, shown: Value, rates: dict) -> dict:
    """One bar: the value drawn, and what its tooltip tells (FPR and FNR side by side)."""
    fpr, fnr = rates.get("fpr", Value(None)), rates.get("fnr", Value(None))
    count = run.metric(group, COUNT).value
    return {
        "model": model,
        "group": group,
        "value": shown.value,
        "lower": shown.lower,
        "upper": shown.upper,
        "value_ci": _interval(shown),
        "judged": group == OVERALL or group in run.judged_groups(),
        "examples": None if count is None else int(count),
        "fpr": fpr.value,
        "fpr_ci": _interval(fpr),
        "fnr": fnr.value,
        "fnr_ci": _interval(fnr),
    }


def _y_max(rows: list[dict], rules: list[Rule]) -> float:
    highest = max(
        [r["value"] for r in rows if r["value"] is not None]
        + [r["upper"] for r in rows if r["upper"] is not None]
        + [r.y for r in rules]
        + [0.05]
    )
    # Headroom above the highest bar for its value label; a rate's axis stops near 1.
    y_max = math.ceil(highest * 1.12 * 20) / 20
    return min(y_max, 1.05) if highest <= 1.0 else y_max


def _paddings(size: tuple[int, int], labels: dict, models: dict) -> tuple[float, float]:
    """Outer paddings of the group band and of the bars within it, so that bars stay narrow
    (about 60 px) when there are few groups or models; Vega-Lite caps each at 1."""
    plot = size[0] - 80
    outer = 1.0 if len(labels) == 1 else 0.1
    band = plot * 0.8 / (len(labels) - 0.2 + 2 * outer)
    return outer, min(1.0, max(0.0, (band / 60 - len(models)) / 2))


# Legend entries wrap into as many columns as fit the chart's width: one row of entries wider
# than the chart is cut off in the PNG. A label's width is estimated from its length.
LABEL_PX_PER_CHAR = 7
SYMBOL_PX = 40


def legend(title: str, labels: list[str], width: int, orient: str, **style) -> alt.Legend:
    widest = max((len(label) for label in labels), default=1) * LABEL_PX_PER_CHAR + SYMBOL_PX
    columns = max(1, min(len(labels), (width - 20) // widest))
    return alt.Legend(title=title, orient=orient, columns=columns, labelLimit=width - 60,
                      **style)  # fmt: skip


def _bars(x, x_offset, y, models: dict[str, str], tips, width: int) -> alt.Chart:
    """One bar per model and group, pale where the gate did not judge the group; clicking a
    model in the legend highlights its bars."""
    chosen = alt.selection_point(fields=["model"], bind="legend")
    judged = alt.Opacity("shade:Q", scale=None, legend=None)
    return (
        alt.Chart()
        .mark_bar()
        .encode(
            x=x,
            xOffset=x_offset,
            y=y("value:Q"),
            fill=alt.Fill(
                "model:N",
                sort=list(models),
                scale=alt.Scale(domain=list(models), range=list(models.values())),
                # Full colour in the legend whatever the bars' opacity.
                legend=legend("model", list(models), width, "top", symbolOpacity=1),
            ),
            opacity=alt.condition(chosen, judged, alt.value(0.12)),
            tooltip=[
                alt.Tooltip("model:N"),
                alt.Tooltip("group:N"),
                alt.Tooltip("examples:Q"),
                alt.Tooltip("judged:N", title="judged by the gate"),
                *[
                    alt.Tooltip(f"{field}:N", title=title)
                    if field.endswith("_ci")
                    else alt.Tooltip(f"{field}:Q", title=title, format=".3f")
                    for field, title in tips
                ],
            ],
        )
        .add_params(chosen)
    )


def _rule_lines(rules: list[Rule], y, width: int) -> alt.Chart:
    names = [r.label for r in rules]
    # Below the plot: beside the models' legend one row would not fit.
    lines = legend("bounds", names, width, "bottom", symbolType="stroke", symbolStrokeWidth=3,
                   symbolDash=[6, 3])  # fmt: skip
    # 3 px wide so that the line keeps its exact colour on some pixel row after antialiasing.
    return (
        alt.Chart(alt.Data(values=[{"y": r.y, "line": r.label} for r in rules]))
        .mark_rule(strokeDash=[8, 5], strokeWidth=3)
        .encode(
            y=y("y:Q"),
            stroke=alt.Stroke(
                "line:N",
                sort=names,
                scale=alt.Scale(domain=names, range=[r.color for r in rules]),
                legend=lines,
            ),
        )
    )


def _marks_on_bars(x, x_offset, y, y_scale) -> list[alt.Chart]:
    """Whiskers for the intervals, each bar's value above it (or "n/a" for no value)."""
    whiskers = (
        alt.Chart()
        .mark_errorbar(ticks=alt.TickConfig(size=14), color=BOUND_COLOR, thickness=2)
        .encode(x=x, xOffset=x_offset, y=y("lower:Q"), y2="upper:Q")
    )
    values = (
        alt.Chart()
        .transform_filter("isValid(datum.value)")
        .transform_calculate(top="isValid(datum.upper) ? datum.upper : datum.value")
        .encode(x=x, xOffset=x_offset, y=y("top:Q"), text=alt.Text("value:Q", format=".2f"))
    )
    # A white halo under each value label keeps it legible where a bound line crosses it.
    halo = values.mark_text(dy=-8, fontSize=11, stroke="white", strokeWidth=4, strokeJoin="round")
    missing = (
        alt.Chart()
        .transform_filter("!isValid(datum.value)")
        .mark_text(dy=-8, fontSize=11, color="#777777", text="n/a")
        .encode(x=x, xOffset=x_offset, y=alt.Y(datum=0, scale=y_scale))
    )
    return [whiskers, halo, values.mark_text(dy=-8, fontSize=11), missing]


def bar_chart(
    title: str,
    rows: list[dict],
    models: dict[str, str],
    labels: dict[str, str],
    rules: list[Rule],
    size: tuple[int, int],
    y_title: str,
    tips=RATE_TIPS,
) -> alt.LayerChart:
    """Grouped bars with whiskers, value labels and reference lines, as one layered spec.
    `models` maps each model to its colour, `labels` each group to its axis label
    ("group|note": the note goes on a second line)."""
    rows = [{**r, "label": labels[r["group"]], "shade": 1 if r["judged"] else 0.35} for r in rows]
    group_padding, bar_padding = _paddings(size, labels, models)
    x = alt.X(
        "label:N",
        sort=list(labels.values()),
        title=None,
        scale=alt.Scale(paddingInner=0.2, paddingOuter=group_padding),
        axis=alt.Axis(labelExpr="split(datum.label, '|')", labelAngle=0, labelFontSize=12),
    )
    x_offset = alt.XOffset("model:N", sort=list(models), scale=alt.Scale(paddingOuter=bar_padding))
    y_scale = alt.Scale(domain=[0, _y_max(rows, rules)], nice=False)

    def y(field: str) -> alt.Y:
        return alt.Y(field, title=y_title, scale=y_scale, axis=alt.Axis(format=".2f"))

    width, height = size
    layers = [_bars(x, x_offset, y, models, tips, width)]
    if rules:
        layers.append(_rule_lines(rules, y, width))
    layers += _marks_on_bars(x, x_offset, y, y_scale)
    # The bar rows sit once at the top of the spec; each layer but the rules reads them.
    return alt.layer(*layers, data=alt.Data(values=rows)).properties(
        title=title,
        width=width,
        height=height,
        autosize=alt.AutoSizeParams(type="fit", contains="padding"),
    )


def _fpr_rules(runs: list[RunResult]) -> list[Rule]:
    """The gate's cap on each group's FPR, and each model's overall FPR + the allowed gap."""
    policy = shown_policy(runs)
    if policy is None:
        return []
    rules = [Rule(policy.max_group_fpr, CAP_COLOR, f"group FPR cap {policy.max_group_fpr:g}")]
    for i, run in enumerate(runs):
        overall = run.metric(OVERALL, FPR).value
        if overall is not None:
            line = overall + policy.max_fpr_gap
            rules.append(
                Rule(
                    line,
                    COLORS[i % len(COLORS)],
                    f"{run.name}: overall FPR + gap {policy.max_fpr_gap:g} = {line:.3f}",
                )
            )
    return rules


def _rates(run: RunResult, group: str) -> dict[str, Value]:
    return {"fpr": run.metric(group, FPR), "fnr": run.metric(group, FNR)}


def _decision_rows(runs: list[RunResult], names: list[str], metric: str) -> list[dict]:
    rows = []
    for run in runs:
        for c in names:
            rows.append(_row(run, run.name, c, run.metric(c, metric), _rates(run, c)))
    return rows


def _matched_rows(runs: list[RunResult], names: list[str], key: str) -> list[dict]:
    rows = []
    for run in runs:
        model = f"{run.name} (t={run.matched_score_threshold:.3f})"
        for c in names:
            rates = {k: Value(run.matched.rates.get(c, {}).get(k)) for k in ("fpr", "fnr")}
            rows.append(_row(run, model, c, rates[key], rates))
    return rows


def _matched_charts(runs, names, labels, colors) -> dict[str, alt.LayerChart]:
    """FPR and FNR per group with each model at its matched threshold."""
    matched = [r for r in runs if r.matched is not None]
    if not matched:
        return {}
    reference = matched[0].matched
    models = {f"{r.name} (t={r.matched_score_threshold:.3f})": colors[r.name] for r in matched}
    target = Rule(reference.target_fpr, BOUND_COLOR, "reference overall FPR")
    charts = {}
    for name, key, title, rules in [
        ("fpr_matched_threshold.png", "fpr", "False positive rate", [target]),
        ("fnr_matched_threshold.png", "fnr", "False negative rate", []),
    ]:
        charts[name] = bar_chart(
            f"{title} by group at matched thresholds "
            f"(overall FPR = {reference.reference}'s {reference.target_fpr:.3f})",
            _matched_rows(matched, names, key),
            models,
            labels,
            rules,
            CHARTS[name],
            title.lower(),
        )
    return charts


def chart_specs(runs: list[RunResult]) -> dict[str, alt.LayerChart]:
    """Chart file name -> its spec (the matched-threshold charts only when matched)."""
    names = categories(runs)
    notes = _notes(runs, names)
    labels = {c: f"{c}|{notes[c]}" for c in names}
    policy = shown_policy(runs)
    at = "at each model's operating point"
    colors = {r.name: COLORS[i % len(COLORS)] for i, r in enumerate(runs)}
    charts = {}
    for name, metric, title, rules in [
        ("fpr_by_group.png", FPR, "False positive rate", _fpr_rules(runs)),
        ("fnr_by_group.png", FNR, "False negative rate (missed toxic comments)", []),
    ]:
        charts[name] = bar_chart(
            f"{title} by identity group {at}",
            _decision_rows(runs, names, metric),
            colors,
            labels,
            rules,
            CHARTS[name],
            title.split(" (")[0].lower(),
        )
    auc_rules = []
    if policy is not None:
        auc_rules.append(Rule(policy.min_auc, CAP_COLOR, f"minimum AUC {policy.min_auc:g}"))
    auc_rows = [
        _row(run, run.name, OVERALL, run.metric(OVERALL, AUC), _rates(run, OVERALL)) for run in runs
    ]
    charts["auc_overall.png"] = bar_chart(
        "Overall AUC",
        auc_rows,
        colors,
        {OVERALL: OVERALL},
        auc_rules,
        CHARTS["auc_overall.png"],
        "AUC",
        AUC_TIPS,
    )
    tradeoff = tradeoff_chart(runs, colors)
    if tradeoff is not None:
        charts["gap_vs_tpr.png"] = tradeoff
    charts.update(_matched_charts(runs, names, labels, colors))
    return charts


def tradeoff_chart(runs: list[RunResult], colors: dict[str, str]) -> alt.Chart | None:
    """Each model's largest group FPR gap against its overall TPR, at its operating point:
    what a remediation buys and what it costs."""
    rows = []
    for run in runs:
        group, gap = run.largest_gap()
        fnr = run.metric(OVERALL, FNR).value
        if gap is None or fnr is None:
            continue
        rows.append({"model": run.name, "TPR": 1.0 - fnr, "gap": gap, "group": group or ""})
    if not rows:
        return None
    width, height = CHARTS["gap_vs_tpr.png"]
    return (
        alt.Chart(alt.Data(values=rows), title="Largest group FPR gap against recall (TPR)")
        .mark_point(filled=True, size=160)
        .encode(
            x=alt.X("TPR:Q", scale=alt.Scale(domain=[0, 1]), title="overall TPR (recall)"),
            y=alt.Y("gap:Q", title="largest group FPR - overall FPR"),
            color=alt.Color(
                "model:N",
                scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                legend=legend("model", list(colors), width, "top"),
            ),
            tooltip=[
                "model:N",
                alt.Tooltip("TPR:Q", format=".3f"),
                alt.Tooltip("gap:Q", format=".3f"),
                "group:N",
            ],  # fmt: skip
        )
        .properties(
            width=width,
            height=height,
            autosize=alt.AutoSizeParams(type="fit", contains="padding"),
        )
    )


def to_png(chart: alt.TopLevelMixin) -> bytes:
    buffer = io.BytesIO()
    chart.save(buffer, format="png")
    return buffer.getvalue()


def render_charts(runs: list[RunResult]) -> dict[str, bytes]:
    """Chart file name -> PNG bytes (the matched-threshold charts only when matched)."""
    return {name: to_png(chart) for name, chart in chart_specs(runs).items()}


@functools.cache
def vega_script() -> str:
    """Vega, Vega-Lite and vega-embed as one script, for pages that must work offline."""
    import vl_convert

    # vl-convert names Vega-Lite versions "v6_4"; altair's specs say which one they are for.
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return vl_convert.javascript_bundle(vl_version=f"v{major}_{minor}")
