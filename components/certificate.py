"""The certificate beyond the eval rows: the checks the FairnessGate adds to TFMA's.

- Every group is judged on the identity challenge suite (components/challenge.py) as well as on
  eval: its FPR on the suite's non-toxic rows, each madlibs identity term's FPR, the flip rate
  of the Wikipedia identity swaps. A group too small on eval is still judged on the suite.
- Do no harm: no group's FPR, on eval or on any suite source, may rise above the base model's
  (the same trainer with the method switched off) by more than the noise of the difference.
- Every rate carries its Wilson interval (components/intervals.py). The bounds decide on the
  point estimate and report the interval; the harm check decides on the interval of the
  difference. docs/certificate.md argues both rules and the default bounds.
"""

from __future__ import annotations

from components.intervals import Rate, rise_beyond_noise
from components.policy import GatePolicy
from components.verdict import Failure, Verdict, figure
from contract import AUC_METRIC, FP_METRIC, IDENTITY_GROUPS, OVERALL, TN_METRIC, TPR_METRIC

# The metric of the gate's eval-only refusal when no group has rows to judge (components.gate).
EVAL_NO_GROUP = "identity groups"
# The suite's sources judged on group FPR, in the order they are reported.
FPR_SOURCES = ("madlibs", "functional", "wiki")


def finding(where: str, subject: str, metric: str, rate: Rate, bound: str) -> Failure:
    """A failed certificate check as the gate's Failure, its interval in the message."""
    lower, upper = rate.interval
    return Failure(
        slice=f"{subject} ({where})",
        metric=metric,
        value=rate.value,
        bound=bound,
        message=f"{rate.k}/{rate.n} rows, 95% interval [{lower:.3f}, {upper:.3f}]",
    )


def eval_fpr(slice_metrics: dict) -> dict[str, Rate]:
    """Each slice's FPR on eval as counts, from TFMA's confusion counts at the operating point."""
    out = {}
    for name, row in slice_metrics.items():
        if TN_METRIC in row and FP_METRIC in row:
            fp, tn = int(round(row[FP_METRIC])), int(round(row[TN_METRIC]))
            out[name] = Rate(fp, fp + tn)
    return out


def _rate(entry: dict | None, metric: str = "fpr") -> Rate | None:
    return Rate.from_json((entry or {}).get(metric))


def largest_gap(rates: dict[str, Rate], overall: Rate | None, min_rows: int) -> dict | None:
    """The largest (group FPR - overall FPR) over groups with min_rows rows, with the interval
    of the group's rate shifted by the overall rate (which stands on many more rows)."""
    if overall is None or overall.value is None:
        return None
    judged = {g: r for g, r in rates.items() if g != OVERALL and r.n >= min_rows}
    if not judged:
        return None
    group, rate = max(judged.items(), key=lambda item: item[1].value)
    lower, upper = rate.interval
    base = overall.value
    return {"value": rate.value - base, "interval": [lower - base, upper - base], "group": group}


def suite_gaps(result: dict, min_rows: int) -> dict[str, dict | None]:
    """Per suite source, the largest group FPR gap over that source's own overall FPR."""
    out = {}
    for source in FPR_SOURCES:
        groups = result.get("groups", {}).get(source)
        if groups is None:
            continue
        rates = {g: _rate(e) for g, e in groups.items()}
        overall = _rate(result["sources"].get(source))
        out[source] = largest_gap({g: r for g, r in rates.items() if r}, overall, min_rows)
    return out


def judge_suite(result: dict, policy: GatePolicy) -> tuple[list[Failure], dict[str, list[str]]]:
    """The suite's failed checks, and per group the sources where it was judged."""
    findings: list[Failure] = []
    judged: dict[str, list[str]] = {}
    min_rows = policy.min_slice_size
    for source in FPR_SOURCES:
        for group, entry in sorted(result.get("groups", {}).get(source, {}).items()):
            rate = _rate(entry)
            if rate is None or rate.n < min_rows:
                continue
            judged.setdefault(group, []).append(source)
            if rate.value > policy.max_suite_group_fpr:
                findings.append(finding(source, group, "false_positive_rate", rate,
                                        f"<= {policy.max_suite_group_fpr:g}"))  # fmt: skip
    for term, entry in sorted(result.get("terms", {}).get("madlibs", {}).items()):
        rate = _rate(entry)
        if rate is not None and rate.n >= min_rows and rate.value > policy.max_suite_term_fpr:
            findings.append(finding("madlibs", f"term '{term}'", "false_positive_rate", rate,
                                    f"<= {policy.max_suite_term_fpr:g}"))  # fmt: skip
    findings += _recall_checks(result, policy)
    unknown = result.get("no_known_token") or {}
    if unknown.get("flagged"):
        # The served rule: a text with no word the model knows is not toxic (export.py).
        rate = Rate(int(unknown["flagged"]), int(unknown["rows"]))
        findings.append(finding("suite", "texts with no known word", "flagged share", rate, "0"))
    flip = Rate.from_json(result.get("flip", {}).get("overall"))
    if flip is not None and flip.n >= min_rows and flip.value > policy.max_flip_rate:
        findings.append(finding("wiki identity swaps", "all pairs", "flip rate", flip,
                                f"<= {policy.max_flip_rate:g}"))  # fmt: skip
    return findings, judged


def _recall_checks(result: dict, policy: GatePolicy) -> list[Failure]:
    """The suite's toxic rows: the functional suite's recall, and the madlibs FNR gaps."""
    findings = []
    missed = _rate(result.get("sources", {}).get("functional"), "fnr")
    if missed is not None and missed.n and 1.0 - missed.value < policy.min_suite_recall:
        recall = Rate(missed.n - missed.k, missed.n)
        findings.append(finding("functional", "toxic statements", "recall", recall,
                                f">= {policy.min_suite_recall:g}"))  # fmt: skip
    overall = _rate(result.get("sources", {}).get("madlibs"), "fnr")
    for group, entry in sorted(result.get("groups", {}).get("madlibs", {}).items()):
        rate = _rate(entry, "fnr")
        if rate is None or overall is None or rate.n < policy.min_slice_size or not overall.n:
            continue
        if rate.value - overall.value > policy.max_suite_fnr_gap:
            findings.append(finding("madlibs", group, "false_negative_rate - overall FNR "
                                    f"({overall.value:.3f})", rate,
                                    f"<= overall + {policy.max_suite_fnr_gap:g}"))  # fmt: skip
    return findings


def harm(
    eval_rates: dict[str, Rate],
    base_eval_rates: dict[str, Rate],
    result: dict | None,
    base_result: dict | None,
) -> list[Failure]:
    """Every group whose FPR rises above the base model's beyond noise, on eval (judged or not)
    and on each suite source."""
    pairs: list[tuple[str, str, Rate | None, Rate | None]] = []
    for group in IDENTITY_GROUPS:
        pairs.append(("eval", group, eval_rates.get(group), base_eval_rates.get(group)))
    if result and base_result:
        for source in FPR_SOURCES:
            mine = result.get("groups", {}).get(source, {})
            theirs = base_result.get("groups", {}).get(source, {})
            for group in sorted(set(mine) & set(theirs)):
                pairs.append((source, group, _rate(mine[group]), _rate(theirs[group])))
    findings = []
    for where, group, rate, base in pairs:
        if rate is not None and base is not None and rise_beyond_noise(rate, base):
            findings.append(finding(where, group, "false_positive_rate rise over the base model",
                                    rate, f"<= base {base.text()} + noise"))  # fmt: skip
    return findings


def certify(
    verdict: Verdict,
    policy: GatePolicy,
    result: dict | None = None,
    base: tuple[str, dict, dict | None] | None = None,
) -> Verdict:
    """Add the suite's checks, the do-no-harm comparison and the headline figures to the
    gate's eval verdict. `base` is (name, eval slice metrics, suite result) of the base model."""
    min_slice_size = policy.min_slice_size
    rates = eval_fpr(verdict.slice_metrics)
    judged = {g: ["eval"] for g, r in rates.items() if g != OVERALL and r.n >= min_slice_size}
    failures = list(verdict.failures)
    if result is not None:
        # The eval's "no group to judge" refusal stands in for the suite where there is none;
        # with the suite, a group judged nowhere is refused below instead.
        failures = [f for f in failures if f.metric != EVAL_NO_GROUP]
        found, on_suite = judge_suite(result, policy)
        failures += found
        for group, sources in on_suite.items():
            judged.setdefault(group, []).extend(sources)
        verdict.suite = result
    if base is not None and policy.no_harm:
        name, base_metrics, base_result = base
        verdict.base_model = name
        failures += harm(rates, eval_fpr(base_metrics), result, base_result)
    nowhere = [g for g in IDENTITY_GROUPS if g not in judged]
    if result is not None:
        # With the suite, every group has rows somewhere: one judged nowhere is a failure.
        failures += [Failure(g, "identity group", None, "judged on eval or the suite",
                             "too few rows everywhere") for g in nowhere]  # fmt: skip
    verdict.judged = judged
    verdict.failures = failures
    verdict.blessed = not failures
    verdict.figures = figures(verdict, result, min_slice_size, base)
    return verdict


def eval_figures(slice_metrics: dict, min_slice_size: int) -> dict:
    """AUC, TPR and the judged gap of one model on eval, as the headline figures state them."""
    rates = eval_fpr(slice_metrics)
    overall = slice_metrics.get(OVERALL, {})
    return {
        "auc": _plain(overall.get(AUC_METRIC)),
        "tpr": _plain(overall.get(TPR_METRIC)),
        "eval_gap": largest_gap(rates, rates.get(OVERALL), min_slice_size),
    }


def figures(verdict: Verdict, result: dict | None, min_slice_size: int, base) -> dict:
    """The headline figures every reader shows: gaps with intervals, flip rate, AUC, TPR."""
    on_eval = eval_figures(verdict.slice_metrics, min_slice_size)
    suite = [g for g in suite_gaps(result, min_slice_size).values() if g] if result else []
    suite_gap = max(suite, key=lambda g: g["value"]) if suite else None
    gaps = (on_eval["eval_gap"], suite_gap)
    worst = max((g for g in gaps if g), key=lambda g: g["value"], default=None)
    flip = Rate.from_json(result.get("flip", {}).get("overall")) if result else None
    base_auc = base[1].get(OVERALL, {}).get(AUC_METRIC) if base else None
    point = verdict.operating_point or {}
    return {
        **on_eval,
        "suite_gap": suite_gap,
        "worst_gap": worst,
        "flip_rate": figure(flip),
        # The gate's AUC of a post-processed candidate is that of the group-adjusted score; the
        # base model's own AUC is what the model ranks like.
        "base_auc": _plain(base_auc) if point.get("postprocess", "none") != "none" else None,
    }


def _plain(value) -> dict | None:
    return None if value is None else {"value": float(value), "interval": None}
