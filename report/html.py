"""The HTML page, from the Jinja2 template templates/report.html.j2.

The page works offline: the charts are Vega-Lite specs drawn by Vega, whose scripts are inlined
(vl-convert's bundle), and each chart's PNG sits in a <noscript> fallback. It loads nothing
from anywhere else.
"""

from __future__ import annotations

import base64
import datetime
import functools
from pathlib import Path

import jinja2
import markupsafe

from components.certificate import FPR_SOURCES
from contract import BIAS_AUC_KINDS, BIAS_SCORE_METRIC, EXACT_AUC_METRIC, OVERALL
from report import selection
from report.charts import MATCHED_CHARTS, categories, vega_script
from report.results import RunResult, shown_policy
from report.values import ACCURACY, AUC, COUNT, FI_FNR, FI_FPR, FNR, FPR, Value, fmt

CAPTIONS = {
    "fpr_by_group.png": "Per-group FPR at each model's operating point. Red dashed line: the gate's "
    "cap on each group's FPR; coloured dashed lines: each model's overall FPR plus the allowed "
    "gap. Pale bars: groups not judged (too few eval examples).",
    "fnr_by_group.png": "Per-group FNR (missed toxic comments) at each model's operating point, to read "
    "beside the FPR above: a model can lower a group's FPR by missing more of its toxic comments.",
    "auc_overall.png": "Overall AUC against the gate's minimum.",
    "gap_vs_tpr.png": "Each model's largest group FPR gap against its overall recall, both at "
    "its operating point: down is fairer, right catches more toxic comments.",
    "fpr_matched_threshold.png": "Per-group FPR with each model at the threshold that gives "
    "the reference model's overall FPR, so group differences are not differences in how much "
    "a model flags overall.",
    "fnr_matched_threshold.png": "Per-group FNR at the same matched thresholds.",
}


def cell(value: Value | None, digits: int = 3, none: str = "-") -> markupsafe.Markup:
    """A value, with its confidence interval in brackets when there is one."""
    if value is None or value.value is None:
        return markupsafe.Markup.escape(none)
    text = markupsafe.Markup(f"{value.value:.{digits}f}")
    if value.has_interval:
        text += markupsafe.Markup(
            f" <small>[{value.lower:.{digits}f}, {value.upper:.{digits}f}]</small>"
        )
    return text


def suite_cell(rate: dict | None) -> markupsafe.Markup:
    """A challenge-suite rate (components.intervals.Rate JSON): its value, the Wilson interval
    its record holds and k/n."""
    if not rate or not rate.get("n"):
        return markupsafe.Markup("-")
    lower, upper = rate["interval"]
    return markupsafe.Markup(
        f"{rate['value']:.3f} <small>[{lower:.3f}, {upper:.3f}] {rate['k']}/{rate['n']}</small>"
    )


def badge(blessed: bool | None) -> markupsafe.Markup:
    if blessed is None:
        return markupsafe.Markup('<span class="badge none">no gate report</span>')
    if blessed:
        return markupsafe.Markup('<span class="badge pass">blessed</span>')
    return markupsafe.Markup('<span class="badge fail">not blessed</span>')


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(cell=cell, badge=badge, fmt=fmt, suite=suite_cell)
    env.globals.update(
        OVERALL=OVERALL, AUC=AUC, ACCURACY=ACCURACY, FPR=FPR, FNR=FNR, FI_FPR=FI_FPR, FI_FNR=FI_FNR,
        BIAS_KINDS=BIAS_AUC_KINDS, BIAS_SCORE=BIAS_SCORE_METRIC, EXACT_AUC=EXACT_AUC_METRIC,
    )  # fmt: skip
    return env.get_template("report.html.j2")


def _with_group(text: str, group: str | None) -> str:
    return f"{text} ({group})" if group else text


def _summary_rows(runs: list[RunResult]) -> list[dict]:
    """The models in the Selector's recorded order, with the record's figures."""
    shared = selection.recorded(runs)
    rows = []
    for run in selection.order(runs):
        s = run.summary()
        rows.append(
            {
                "run": run,
                "s": s,
                "selector": selection.selector_word(run, shared),
                "worst_fpr": _with_group(fmt(s["worst_group_fpr"]), s["worst_group"]),
                "worst_fnr": _with_group(fmt(s["worst_group_fnr"]), s["worst_fnr_group"]),
                "gap": selection.eval_gap_text(run),
                "suite_gap": selection.figure_text(s["suite_gap"]),
                "flip": selection.figure_text(s["flip_rate"], signed=False),
                "matched_gap": _with_group(
                    fmt(s["matched_largest_gap"], signed=True), s["matched_largest_gap_group"]
                ),
            }
        )
    return rows


def suite_table(run: RunResult) -> dict | None:
    """One model's suite figures by group: its FPR on each source's non-toxic rows and its flip
    rate, with where the gate judged the group; None without suite figures."""
    suite = run.suite
    if suite is None:
        return None
    by_source = suite.get("groups", {})
    sources = [s for s in FPR_SOURCES if s in by_source]
    flips = suite.get("flip", {})
    judged = (run.gate or {}).get("judged", {})
    groups = sorted({g for s in sources for g in by_source[s]} | set(flips.get("groups", {})))
    rows = [{"group": "all rows", "judged": "",
             "fpr": [suite.get("sources", {}).get(s, {}).get("fpr") for s in sources],
             "flip": flips.get("overall")}]  # fmt: skip
    for group in groups:
        rows.append(
            {"group": group, "judged": ", ".join(judged.get(group, [])) or "nowhere",
             "fpr": [by_source[s].get(group, {}).get("fpr") for s in sources],
             "flip": flips.get("groups", {}).get(group)}
        )  # fmt: skip
    return {"sources": sources, "rows": rows}


def _slice_rows(run: RunResult, names: list[str]) -> list[dict]:
    overall_fpr = run.metric(OVERALL, FPR).value
    rows = []
    for c in names:
        count, fpr = run.metric(c, COUNT).value, run.metric(c, FPR).value
        gap = None if c == OVERALL or fpr is None or overall_fpr is None else fpr - overall_fpr
        rows.append(
            {
                "name": c,
                "missing": c not in run.slices,
                "count": "-" if count is None else int(count),
                "gap": fmt(gap, signed=True),
                "matched": run.matched.rates.get(c, {}) if run.matched else {},
                "bias": run.bias_aucs(c),
            }
        )
    return rows


def render_html(
    runs: list[RunResult],
    charts: dict,
    generated: str = "",
    pngs: dict[str, bytes] | None = None,
    model_cards: dict[str, str] | None = None,
    covers: str = "",
) -> str:
    """The page; `charts` are the specs by file name, `pngs` their PNGs for the fallbacks,
    `model_cards` each pushed model's card (a file beside the page) by run name."""
    names = categories(runs)
    policy = shown_policy(runs)
    figures = [
        {
            "id": "chart-" + name.removesuffix(".png"),
            "caption": CAPTIONS.get(name, ""),
            "matched": name in MATCHED_CHARTS,
            "png": base64.b64encode(pngs[name]).decode("ascii") if name in (pngs or {}) else "",
        }
        for name in charts
    ]
    return _template().render(
        names=", ".join(r.name for r in runs),
        generated=generated,
        covers=covers,
        bounds=policy.lines() if policy else [],
        ci=any(r.confidence_intervals for r in runs),
        recommendation=selection.recommendation(runs).splitlines(),
        summary=_summary_rows(runs),
        reference=next((r.matched for r in runs if r.matched), None),
        charts=figures,
        swaps=[r.swaps for r in runs if r.swaps],
        sections=[
            {
                "run": run,
                "rows": _slice_rows(run, names),
                # The columns after "slice", for a group without eval examples.
                "span": 6 + 3 * run.has_bias_aucs + 2 * bool(run.matched),
                "card": (model_cards or {}).get(run.name),
                "suite": suite_table(run),
            }
            for run in selection.order(runs)
        ],
        vega_script=markupsafe.Markup(vega_script()),
        specs={f["id"]: chart.to_dict() for f, chart in zip(figures, charts.values(), strict=True)},
    )


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
