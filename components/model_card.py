"""The model card that travels with every push: `model_card.md` and `model_card.html`.

Written by hand rather than with model-card-toolkit, whose 2.0 release cannot be installed beside
TFMA 0.47 and protobuf 4.25. Both files are rendered with Jinja2 from `templates/` out of what
the push already has: the FairnessGate's report (rates, confusion counts, bounds, verdict, groups
not judged) and the files the Trainer wrote beside the model (`operating_point.json`,
`trainer.json`). The functions take plain dicts, so tests call them with constructed inputs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from pathlib import Path

import jinja2

from components.bounds import GateBounds
from contract import (
    AUC_METRIC,
    COUNT_METRIC,
    FN_METRIC,
    FNR_METRIC,
    FP_METRIC,
    FPR_METRIC,
    IDENTITY_KEYWORDS,
    MODEL_CARD_HTML,
    MODEL_CARD_MD,
    OPERATING_POINT_FILE,
    OVERALL,
    TN_METRIC,
    TP_METRIC,
    TPR_METRIC,
    TRAINER_RECORD_FILE,
)

TEMPLATES = Path(__file__).parent / "templates"
# z of a two-sided 95% interval, the level of TFMA's intervals too.
Z95 = 1.959963984540054
TFMA_NOTE = (
    "Intervals: TFMA's 95% confidence intervals (the Evaluator ran with "
    "--confidence-intervals; TFMA's default jackknife method)."
)
WILSON_NOTE = (
    "Intervals: 95% Wilson score intervals computed here from the confusion counts at the "
    "operating point (FPR: false positives of the non-toxic rows; FNR: false negatives of the "
    "toxic rows); TFMA's own intervals were not computed (run with --confidence-intervals)."
)
MIXED_MARK = "†"
TRAINER_TEXT = {
    "baseline": "none: the baseline trainer (binary cross-entropy only)",
    "min_diff": "MinDiff: an MMD penalty between the score distributions of the target groups' "
    "non-toxic comments and the other non-toxic comments",
    "tfco": "TFCO: constrained training, each target group's FPR at most the overall FPR plus "
    "epsilon at the operating point",
}
SHARED_REMEDIATION_SETTINGS = ("target_groups", "target_group_min_rows")


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(row: dict, key: str) -> int | None:
    value = _number(row.get(key))
    return None if value is None else int(round(value))


def _rate(row: dict, intervals: dict, metric: str, errors: str, correct: str) -> dict:
    """A rate at the operating point with its errors, rows and interval (TFMA's, else Wilson's
    from the counts)."""
    wrong, right = _count(row, errors), _count(row, correct)
    rows = None if wrong is None or right is None else wrong + right
    value = _number(row.get(metric))
    if value is None and rows:
        value = wrong / rows
    rate = {"value": value, "errors": wrong, "rows": rows, "lower": None, "upper": None}
    rate["method"] = None
    if metric in intervals:
        rate["lower"], rate["upper"] = intervals[metric]
        rate["method"] = "tfma"
    elif rows:
        rate["lower"], rate["upper"] = wilson_interval(wrong, rows)
        rate["method"] = "wilson"
    return rate


def _slice_rates(name: str, row: dict, intervals: dict) -> dict:
    return {
        "name": name,
        "examples": _count(row, COUNT_METRIC),
        "fpr": _rate(row, intervals, FPR_METRIC, FP_METRIC, TN_METRIC),
        "fnr": _rate(row, intervals, FNR_METRIC, FN_METRIC, TP_METRIC),
    }


def _interval_note(slices: list[dict]) -> tuple[str, str]:
    """The note saying which intervals the card shows, and the mark of Wilson cells when both
    kinds appear."""
    methods = {s[k]["method"] for s in slices for k in ("fpr", "fnr")} - {None}
    if methods == {"tfma"}:
        return TFMA_NOTE, ""
    if methods == {"wilson"}:
        return WILSON_NOTE, ""
    if not methods:
        return "No intervals: the gate report has neither TFMA intervals nor confusion counts.", ""
    return (
        f"{TFMA_NOTE} Where TFMA gave none, the {MIXED_MARK} marks a 95% Wilson score interval "
        "from the confusion counts.",
        MIXED_MARK,
    )


def _performance(gate: dict) -> dict:
    metrics, intervals = gate.get("slice_metrics") or {}, gate.get("slice_intervals") or {}
    skipped = gate.get("skipped") or {}
    overall = metrics.get(OVERALL, {})
    overall_rates = _slice_rates(OVERALL, overall, intervals.get(OVERALL, {}))
    groups = []
    for name in sorted(g for g in metrics if g != OVERALL):
        rates = _slice_rates(name, metrics[name], intervals.get(name, {}))
        fpr, base = rates["fpr"]["value"], overall_rates["fpr"]["value"]
        rates["fpr_gap"] = None if fpr is None or base is None else fpr - base
        rates["judged"] = skipped.get(name, "judged")
        groups.append(rates)
    note, mark = _interval_note([overall_rates, *groups])
    auc_interval = intervals.get(OVERALL, {}).get(AUC_METRIC)
    return {
        "overall": overall_rates,
        "auc": _number(overall.get(AUC_METRIC)),
        "auc_interval": auc_interval,
        "tpr": _number(overall.get(TPR_METRIC)),
        "groups": groups,
        "interval_note": note,
        "mixed_mark": mark,
    }


def _remediation(trainer: dict, point: dict) -> dict:
    name = trainer.get("trainer") or "unknown"
    settings = trainer.get("settings") or {}
    own = {k: v for k, v in settings.items() if k.startswith(f"{name}_")}
    if own:
        own.update({k: settings[k] for k in SHARED_REMEDIATION_SETTINGS if k in settings})
    postprocess = point.get("postprocess") or settings.get("postprocess") or "none"
    if postprocess != "none" and "postprocess_min_rows" in settings:
        own["postprocess_min_rows"] = settings["postprocess_min_rows"]
    return {
        "trainer": name,
        "text": TRAINER_TEXT.get(name, name),
        "settings": [(k, _setting(v)) for k, v in sorted(own.items())],
        "groups": list(trainer.get("remediated_groups") or []),
        "postprocess": postprocess,
    }


def _setting(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "(all with enough rows)"
    return str(value)


def _data(trainer: dict, gate: dict, data_location: str) -> dict:
    settings = trainer.get("settings") or {}
    overall = (gate.get("slice_metrics") or {}).get(OVERALL, {})
    carved = bool(settings.get("validation_from_train"))
    rows = [
        ("train", trainer.get("train_examples"), "training rows"),
        (
            "validation",
            trainer.get("validation_examples"),
            "the hash-held-out tenth of train" if carved else "its own split",
        ),
        ("eval", _count(overall, COUNT_METRIC), "judged by the gate"),
    ]
    return {"location": data_location or "not recorded", "rows": rows}


def _gate(gate: dict | None) -> dict:
    if gate is None:
        return {"available": False}
    # Keys of a newer or older GateBounds are left out rather than break the card.
    known = {f.name for f in dataclasses.fields(GateBounds)}
    bounds = {k: v for k, v in (gate.get("bounds") or {}).items() if k in known}
    lines = GateBounds(**bounds).lines() if bounds else []
    failures = [
        f"{f['metric']} on {f['slice']} = "
        f"{'not computed' if f.get('value') is None else format(f['value'], '.4f')}, "
        f"bound {f['bound']}" + (f" ({f['message']})" if f.get("message") else "")
        for f in gate.get("failures") or []
    ]
    return {
        "available": True,
        "blessed": bool(gate.get("blessed")),
        "bounds": lines,
        "failures": failures,
        "skipped": sorted((gate.get("skipped") or {}).items()),
    }


def _limits(gate: dict | None, remediation: dict) -> list[str]:
    examples = "; ".join(
        f"{g}: {', '.join(words[:4])}, ..." for g, words in IDENTITY_KEYWORDS.items()
    )
    limits = [
        "Identity groups are tagged by keyword matching, not annotated: a comment belongs to a "
        f"group when it contains one of the group's words ({examples}). Mentions without a "
        'listed word are missed and a word used in another sense ("white", "straight") '
        "tags the comment anyway, so each group's rates are rates on keyword-tagged comments.",
        "Rates are measured on the eval split of the training data; comments from another "
        "source, platform or time may see other error rates.",
    ]
    if remediation["postprocess"] != "none":
        limits.append(
            "The per-group thresholds apply by the same keyword tags at serving time: a comment "
            "about a group without one of its words gets the common threshold."
        )
    for group, why in (gate or {}).get("skipped", {}).items():
        limits.append(f"Too small to judge: {group} ({why}).")
    return limits


def card_context(
    gate_report: dict | None,
    operating_point: dict | None,
    trainer_record: dict | None,
    *,
    data_location: str = "",
    model_source: str = "",
    model_id: int | None = None,
) -> dict:
    """Everything the templates show, from the gate report and the Trainer's two files."""
    gate, point, trainer = gate_report or {}, operating_point or {}, trainer_record or {}
    remediation = _remediation(trainer, point)
    group_thresholds = point.get("group_thresholds") or {}
    return {
        "title": f"Toxicity classifier ({remediation['trainer']})",
        "model_source": model_source,
        "model_id": model_id,
        "data": _data(trainer, gate, data_location),
        "point": point,
        "group_thresholds": sorted(group_thresholds.items()),
        "remediation": remediation,
        "performance": _performance(gate),
        "gate": _gate(gate_report),
        "limits": _limits(gate_report, remediation),
        "missing": [
            name
            for name, value in (
                ("the gate report", gate_report),
                (OPERATING_POINT_FILE, operating_point),
                (TRAINER_RECORD_FILE, trainer_record),
            )
            if value is None
        ],
    }


def _fmt(value, digits: int = 3, signed: bool = False) -> str:
    number = _number(value)
    if number is None:
        return "-"
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def _rate_text(rate: dict, mark: str = "") -> str:
    """ "0.050 [0.031, 0.080]", the interval's mark after Wilson intervals in a mixed card."""
    text = _fmt(rate["value"])
    if rate["lower"] is not None and rate["upper"] is not None:
        text += f" [{_fmt(rate['lower'])}, {_fmt(rate['upper'])}]"
        if mark and rate["method"] == "wilson":
            text += mark
    return text


def _counts_text(rate: dict) -> str:
    if rate["rows"] is None:
        return "-"
    return f"{rate['errors']} of {rate['rows']}"


@functools.cache
def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(fmt=_fmt, rate=_rate_text, counts=_counts_text)
    return env


def render(context: dict) -> dict[str, str]:
    """The card's files by name: Markdown and HTML (HTML-escaped) from the same context."""
    return {
        MODEL_CARD_MD: _environment(False).get_template("model_card.md.j2").render(**context),
        MODEL_CARD_HTML: _environment(True).get_template("model_card.html.j2").render(**context),
    }


def _read_json(path: str) -> dict | None:
    from tfx.dsl.io import fileio

    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return json.loads(f.read())


def model_card_files(
    model_dir: str,
    gate_report_dir: str | None = None,
    *,
    data_location: str = "",
    model_id: int | None = None,
) -> dict[str, str]:
    """The card of the model in `model_dir`, judged in the gate report in `gate_report_dir`
    (None: the card says there was none)."""
    from components.gate import REPORT_FILE

    gate = _read_json(os.path.join(gate_report_dir, REPORT_FILE)) if gate_report_dir else None
    context = card_context(
        gate,
        _read_json(os.path.join(model_dir, OPERATING_POINT_FILE)),
        _read_json(os.path.join(model_dir, TRAINER_RECORD_FILE)),
        data_location=data_location,
        model_source=model_dir,
        model_id=model_id,
    )
    return render(context)
