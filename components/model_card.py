"""The model card that travels with every push: `model_card.md` and `model_card.html`.

Written by hand rather than with model-card-toolkit, whose 2.0 release cannot be installed beside
TFMA 0.47 and protobuf 4.25. Both files are rendered with Jinja2 from `templates/` out of what
the push already has: the FairnessGate's verdict record (components/verdict.py: rates, confusion
counts, the policy it judged by, failed checks, where each group was judged, the challenge
suite's figures, the headline figures with their intervals) and the files the Trainer wrote
beside the model (`operating_point.json`, `trainer.json`). The card renders the record and
recomputes none of its judgements. The functions take plain dicts, so tests call them with
constructed inputs.
"""

from __future__ import annotations

import json
import os

from components.certificate import FPR_SOURCES
from components.intervals import finite, wilson
from components.model_card_render import fmt, render
from components.verdict import Verdict
from contract import (
    AUC_METRIC,
    COUNT_METRIC,
    FN_METRIC,
    FNR_METRIC,
    FP_METRIC,
    FPR_METRIC,
    IDENTITY_KEYWORDS,
    OPERATING_POINT_FILE,
    OVERALL,
    TN_METRIC,
    TP_METRIC,
    TPR_METRIC,
    TRAINER_RECORD_FILE,
    TRAINERS,
)

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
ENCODER_TEXT = (
    "; the model reads the frozen all-MiniLM-L6-v2 sentence encoding of each comment beside "
    "its tokens"
)
# Shown for a trainer that remediates target groups (contract.TrainerInfo.target_groups).
TARGET_GROUP_SETTINGS = ("target_groups", "target_group_min_rows")


def _count(row: dict, key: str) -> int | None:
    value = finite(row.get(key))
    return None if value is None else int(round(value))


def _rate(row: dict, intervals: dict, metric: str, errors: str, correct: str) -> dict:
    """A rate at the operating point with its errors, rows and interval (TFMA's, else Wilson's
    from the counts)."""
    wrong, right = _count(row, errors), _count(row, correct)
    rows = None if wrong is None or right is None else wrong + right
    value = finite(row.get(metric))
    if value is None and rows:
        value = wrong / rows
    rate = {"value": value, "errors": wrong, "rows": rows, "lower": None, "upper": None}
    rate["method"] = None
    if metric in intervals:
        rate["lower"], rate["upper"] = intervals[metric]
        rate["method"] = "tfma"
    elif rows:
        rate["lower"], rate["upper"] = wilson(wrong, rows)
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


def _judged_text(gate: dict, verdict: Verdict, group: str) -> str:
    """Where the gate judged a group, as its record says: the places it was judged and why it
    was not judged on eval. A report written before the record had `judged` says only why."""
    if "judged" not in gate:
        return verdict.skipped.get(group, "judged")
    parts = []
    if verdict.judged.get(group):
        parts.append(f"judged on {', '.join(verdict.judged[group])}")
    if group in verdict.skipped:
        parts.append(verdict.skipped[group])
    return "; ".join(parts) or "judged nowhere"


def _performance(gate: dict, verdict: Verdict | None) -> dict:
    metrics, intervals = gate.get("slice_metrics") or {}, gate.get("slice_intervals") or {}
    overall = metrics.get(OVERALL, {})
    overall_rates = _slice_rates(OVERALL, overall, intervals.get(OVERALL, {}))
    groups = []
    for name in sorted(g for g in metrics if g != OVERALL):
        rates = _slice_rates(name, metrics[name], intervals.get(name, {}))
        fpr, base = rates["fpr"]["value"], overall_rates["fpr"]["value"]
        rates["fpr_gap"] = None if fpr is None or base is None else fpr - base
        rates["judged"] = _judged_text(gate, verdict, name) if verdict else "-"
        groups.append(rates)
    note, mark = _interval_note([overall_rates, *groups])
    auc_interval = intervals.get(OVERALL, {}).get(AUC_METRIC)
    return {
        "overall": overall_rates,
        "auc": finite(overall.get(AUC_METRIC)),
        "auc_interval": auc_interval,
        "tpr": finite(overall.get(TPR_METRIC)),
        "groups": groups,
        "interval_note": note,
        "mixed_mark": mark,
    }


def _remediation(trainer: dict, point: dict) -> dict:
    name = trainer.get("trainer") or "unknown"
    # None for a record of a trainer no longer registered: its name stands for its text.
    known = TRAINERS.get(name)
    settings = trainer.get("settings") or {}
    own = {k: v for k, v in settings.items() if known and k.startswith(known.settings_prefix)}
    if known and known.target_groups:
        own.update({k: settings[k] for k in TARGET_GROUP_SETTINGS if k in settings})
    postprocess = point.get("postprocess") or settings.get("postprocess") or "none"
    if postprocess != "none" and "postprocess_min_rows" in settings:
        own["postprocess_min_rows"] = settings["postprocess_min_rows"]
    return {
        "trainer": name,
        "text": (known.text if known else name)
        + (ENCODER_TEXT if settings.get("use_sentence_encoding") else ""),
        "settings": [(k, _setting(v)) for k, v in sorted(own.items())],
        "groups": list(trainer.get("remediated_groups") or []),
        "postprocess": postprocess,
    }


def _threshold_rows(point: dict) -> list[tuple[str, float, str]]:
    """(group, threshold, how it was set) per group; records older than the Trainer's notes
    say only whether the group was fitted."""
    notes, fitted = point.get("threshold_notes") or {}, point.get("fitted_groups") or []
    older = {
        True: "fitted on validation",
        False: "the base threshold (too few non-toxic validation rows for its own)",
    }
    return [
        (g, t, notes.get(g) or older[g in fitted])
        for g, t in sorted((point.get("group_thresholds") or {}).items())
    ]


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


def _not_judged(gate: dict, verdict: Verdict) -> dict[str, str]:
    """Per group not judged on eval, the record's text (why, and where it was judged instead);
    a report written before the record had `judged` knows only why."""
    return verdict.not_judged() if "judged" in gate else dict(sorted(verdict.skipped.items()))


# The headline figures of the record (components/certificate.py figures), in the card's order.
FIGURES = (
    ("eval_gap", "Largest group FPR gap on eval (group FPR - overall FPR)"),
    ("suite_gap", "Largest group FPR gap on the challenge suite (group FPR - its source's FPR)"),
    ("worst_gap", "Worst of the two, the gap the Selector ranks by"),
    ("flip_rate", "Decisions that flip under identity swaps (Wikipedia pairs)"),
    ("base_auc", "Base model's AUC on eval (the AUC above is the group-adjusted score's)"),
)


def _figure_text(figure: dict) -> str:
    """ "+0.070 [+0.031, +0.121] (religion)": a gap is signed, a rate shows its k of n."""
    gap = "group" in figure
    text = fmt(figure.get("value"), signed=gap)
    if figure.get("interval"):
        lower, upper = figure["interval"]
        text += f" [{fmt(lower, signed=gap)}, {fmt(upper, signed=gap)}]"
    if figure.get("group"):
        text += f" ({figure['group']})"
    if figure.get("n"):
        text += f", {figure['k']} of {figure['n']}"
    return text


def _figures(verdict: Verdict) -> list[tuple[str, str]]:
    return [
        (label, _figure_text(verdict.figures[name]))
        for name, label in FIGURES
        if verdict.figures.get(name)
    ]


def _gate(gate: dict | None, verdict: Verdict | None) -> dict:
    if gate is None or verdict is None:
        return {"available": False}
    return {
        "available": True,
        "blessed": verdict.blessed,
        "bounds": verdict.policy.lines() if verdict.policy else [],
        "failures": [f.describe() for f in verdict.failures],
        "skipped": list(_not_judged(gate, verdict).items()),
        "figures": _figures(verdict),
        "base_model": verdict.base_model,
    }


# What each source of the challenge suite is (docs/challenge_suite.md).
SOURCE_TEXT = {
    "madlibs": "madlibs: template sentences, each with one identity term",
    "functional": "functional: hand-written cases (ingest/functional_suite.csv)",
    "wiki": "wiki: the Wikipedia identity test set",
}
# Madlibs terms shown when none is above the term bound: the worst few.
TERMS_SHOWN = 5


def _fpr(entry: dict) -> float:
    return ((entry or {}).get("fpr") or {}).get("value") or 0.0


def _suite(verdict: Verdict | None) -> dict | None:
    """The challenge suite's figures as the record holds them, for the card's tables."""
    suite = None if verdict is None else verdict.suite
    if suite is None:
        return None
    sources = [
        {"text": SOURCE_TEXT[name], "overall": suite.get("sources", {}).get(name, {}),
         "groups": sorted(groups.items())}
        for name in FPR_SOURCES
        if (groups := suite.get("groups", {}).get(name)) is not None
    ]  # fmt: skip
    terms = sorted(suite.get("terms", {}).get("madlibs", {}).items(), key=lambda t: -_fpr(t[1]))
    policy = verdict.policy
    above = [t for t in terms if policy is not None and _fpr(t[1]) > policy.max_suite_term_fpr]
    flip = suite.get("flip") or {}
    return {
        "sources": sources,
        "bounds": policy.suite_lines() if policy else [],
        "terms": above or terms[:TERMS_SHOWN],
        "term_bound": policy.max_suite_term_fpr if policy else None,
        "terms_above": bool(above),
        "flip": flip.get("overall"),
        "flip_groups": sorted((flip.get("groups") or {}).items()),
        "no_known_token": suite.get("no_known_token"),
        "examples": sorted((suite.get("flagged_examples") or {}).items()),
    }


def _limits(gate: dict | None, verdict: Verdict | None, remediation: dict) -> list[str]:
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
            "about a group without one of its words gets the threshold of the rows tagged with "
            "no group."
        )
    if gate is not None and verdict is not None:
        for group, why in _not_judged(gate, verdict).items():
            limits.append(f"Too small to judge on eval: {group} ({why}).")
    return limits


def card_context(
    gate_report: dict | None,
    operating_point: dict | None,
    trainer_record: dict | None,
    *,
    data_location: str = "",
    model_source: str = "",
    model_id: int | None = None,
    candidate: str = "",
) -> dict:
    """Everything the templates show, from the gate report and the Trainer's two files."""
    gate, point, trainer = gate_report or {}, operating_point or {}, trainer_record or {}
    verdict = Verdict.from_json(gate_report) if gate_report is not None else None
    remediation = _remediation(trainer, point)
    return {
        "title": f"Toxicity classifier ({candidate or remediation['trainer']})",
        "candidate": candidate or remediation["trainer"],
        "postprocess_note": verdict.postprocess_note() if verdict else "",
        "model_source": model_source,
        "model_id": model_id,
        "data": _data(trainer, gate, data_location),
        "point": point,
        "group_thresholds": _threshold_rows(point),
        "remediation": remediation,
        "performance": _performance(gate, verdict),
        "gate": _gate(gate_report, verdict),
        "suite": _suite(verdict),
        "limits": _limits(gate_report, verdict, remediation),
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
    candidate: str = "",
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
        candidate=candidate,
    )
    return render(context)
