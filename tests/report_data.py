"""Hand-made report runs (TFMA-shaped metric dicts, gate reports) for the report tests."""

import struct

import numpy as np

from components.policy import GatePolicy
from report import matching
from report.results import RunResult
from report.values import OVERALL, parse_row

GROUPS = ("gender", "sexual_orientation", "religion", "race", "disability")
POLICY = GatePolicy(
    max_group_fpr=0.2,
    max_fpr_gap=0.05,
    min_auc=0.75,
    min_slice_size=30,
    groups=GROUPS,
    fairness_thresholds=(0.1, 0.5, 0.9),
)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def bounded(value, lower, upper) -> dict:
    return {"boundedValue": {"value": value, "lowerBound": lower, "upperBound": upper}}


def metric_rows(fpr: dict[str, float], bounded_values: bool) -> dict[str, dict]:
    """TFMA-shaped metric dicts per slice: bounded (with CIs) or plain doubleValue."""
    counts = {OVERALL: 500, "gender": 12, **{g: 80 for g in GROUPS if g != "gender"}}
    rows = {}
    for name, rate in fpr.items():

        def wrap(v, spread=0.03):
            if bounded_values:
                return bounded(v, max(0.0, v - spread), min(1.0, v + spread))
            return {"doubleValue": v}

        rows[name] = {
            "example_count": {"doubleValue": float(counts[name])},
            "fall_out": wrap(rate),
            "miss_rate": wrap(0.3),
            "auc": wrap(0.8),
            "binary_accuracy": wrap(0.9),
            **{
                f"fairness_indicators_metrics/false_positive_rate@{t}": wrap(rate)
                for t in (0.1, 0.5, 0.9)
            },
            **{
                f"fairness_indicators_metrics/false_negative_rate@{t}": wrap(0.3)
                for t in (0.1, 0.5, 0.9)
            },
        }
    return rows


def make_run(name, fpr, auc, gate, bounded_values=True) -> RunResult:
    rows = metric_rows(fpr, bounded_values)
    rows[OVERALL]["auc"] = (
        bounded(auc, auc - 0.02, auc + 0.02) if bounded_values else {"doubleValue": auc}
    )
    return RunResult(
        name=name,
        slices={s: parse_row(r) for s, r in rows.items()},
        gate=None if gate is None else {**gate, "policy": POLICY.to_json()},
        confidence_intervals=True,
        pipeline="fair-toxicity",
        evaluation_uri=f"/out/{name}/Evaluator/evaluation/1",
    )


def gate_report(failures=(), skipped=None) -> dict:
    return {
        "blessed": not failures,
        "failures": [
            {"slice": s, "metric": m, "value": v, "bound": b, "message": ""}
            for s, m, v, b in failures
        ],
        "skipped": skipped
        if skipped is not None
        else {"gender": "12 eval examples, fewer than 30"},
        "slice_metrics": {},
    }


BASELINE_FAILURES = [
    ("religion", "false_positive_rate", 0.31, "<= 0.2"),
    ("religion", "false_positive_rate gap (group - overall)", 0.21, "<= 0.05"),
]


SELECTION_DIR = "/out/Selector/selection/9"


def decision(winner: str | None = "min_diff", names=("baseline", "min_diff", "tfco"),
             blessed=("min_diff", "tfco")) -> dict:  # fmt: skip
    """A Selector decision as components/selector.py writes selection.json."""
    why = (
        f"Rule: the smallest worst_gap among the {len(blessed)} blessed candidate(s) (0.030)."
        if winner
        else "No candidate was blessed: nothing is pushed and the champion stays."
    )
    rule = {"primary": "worst_gap", "tie_margin": 0.02, "tiebreak": "auc"}
    rows = [{"name": n, "blessed": n in blessed, "reasons": []} for n in names]
    return {"rule": rule, "candidates": rows, "winner": winner, "why": why}


def sample_runs() -> list[RunResult]:
    """A baseline failing the gate and two fairer models, one without intervals; the three
    were candidates of one Selector decision, which selected min_diff."""
    base_fpr = {OVERALL: 0.10, "gender": 0.40, "sexual_orientation": 0.25, "religion": 0.31,
                "race": 0.12, "disability": 0.09}  # fmt: skip
    fair_fpr = {OVERALL: 0.09, "gender": 0.30, "sexual_orientation": 0.12, "religion": 0.13,
                "race": 0.10, "disability": 0.08}  # fmt: skip
    runs = [
        make_run("baseline", base_fpr, 0.91, gate_report(BASELINE_FAILURES)),
        make_run("min_diff", fair_fpr, 0.88, gate_report(), bounded_values=False),
        make_run("tfco", fair_fpr, 0.86, gate_report()),
    ]
    for run in runs:
        run.selection, run.selection_dir = decision(), SELECTION_DIR
    return runs


def scored(scores, labels, groups=None) -> matching.Scored:
    scores, labels = np.asarray(scores, float), np.asarray(labels, float)
    groups = groups or {"religion": np.zeros(len(scores), bool)}
    return matching.Scored(scores, labels, groups)


# ---------------------------------------------------------------- the verdict record


def _suite_rows(gay_flagged: int) -> dict:
    """Challenge-suite rows as components/challenge.py scores them: madlibs templates per group
    (100 'gay', `gay_flagged` of them flagged; 100 'muslim', 5 flagged; 30 of each other
    group's term, none flagged), 40 functional non-toxic rows about sexual orientation (one
    flagged text with markup in it) and 40 Wikipedia religion pairs, 2 of which flip."""
    texts, groups, sources, terms, flagged, pairs = [], [], [], [], [], []

    def add(source, group, term, n, hits, text="a sentence", pair=None, filler="a sentence"):
        for i in range(n):
            texts.append(text if i < hits else filler)
            groups.append([group])
            sources.append(source)
            terms.append(term)
            flagged.append(i < hits)
            pairs.append(-1 if pair is None else pair + i)

    add("madlibs", "sexual_orientation", "gay", 100, gay_flagged)
    add("madlibs", "religion", "muslim", 100, 5)
    for group, term in (("gender", "woman"), ("race", "black"), ("disability", "deaf")):
        add("madlibs", group, term, 30, 0)
    add("functional", "sexual_orientation", "", 40, 1, FLAGGED_TEXT)
    add("wiki", "religion", "", 40, 2, pair=0)
    # The twins' words differ, as a swap makes them: identical pairs cannot flip, and do not count.
    add("wiki_fuzzed", "religion", "", 40, 0, pair=0, filler="a swapped sentence")
    n = len(texts)
    return {
        "decision": np.asarray(flagged, bool),
        "score": np.where(flagged, 0.9, 0.1),
        "label": np.zeros(n, bool),
        "groups": groups,
        "source": np.asarray(sources, dtype=object),
        "term": np.asarray(terms, dtype=object),
        "case": np.asarray([""] * n, dtype=object),
        "text": texts,
        "pair": np.asarray(pairs),
    }


FLAGGED_TEXT = "I am <b>gay</b> & proud."


def _counts(fp: int, tn: int, tp: int = 30, fn: int = 20) -> dict:
    n = fp + tn + tp + fn
    return {"example_count": float(n), "fall_out": fp / (fp + tn), "miss_rate": fn / (tp + fn),
            "recall": tp / (tp + fn), "auc": 0.8, "false_positives": float(fp),
            "true_negatives": float(tn), "true_positives": float(tp),
            "false_negatives": float(fn)}  # fmt: skip


def recorded_gate(gate: dict | None = None, religion_base_fp: int = 2) -> dict:
    """A gate report as the FairnessGate writes it since the verdict record (certify over the
    eval verdict): religion judged on eval (12 of 100 non-toxic rows flagged), sexual_orientation
    too small on eval (20 non-toxic rows) and judged on the suite, where its madlibs FPR and the
    term 'gay' are above their bounds and rose over the base model's; religion's eval FPR rose
    over the base model's too (from `religion_base_fp` of 100)."""
    from components import certificate, challenge
    from components.verdict import Failure, Verdict

    gate = gate or {}
    metrics = gate.get("slice_metrics") or {
        OVERALL: {**_counts(40, 760, 128, 72), "auc": 0.871},
        "religion": _counts(12, 88),
        "sexual_orientation": _counts(2, 18),
        "disability": _counts(0, 12, 6, 2),
    }
    skipped = gate.get("skipped") or {
        "disability": "FPR not judged: 12 non-toxic eval rows, fewer than min_slice_size 30",
        "sexual_orientation": "FPR not judged: 20 non-toxic eval rows, fewer than "
        "min_slice_size 30",
    }
    verdict = Verdict(
        blessed=not gate.get("failures"),
        failures=[Failure(**f) for f in gate.get("failures", [])],
        skipped=skipped,
        slice_metrics=metrics,
        policy=GatePolicy.from_json(gate.get("policy") or {}),
        slice_intervals=gate.get("slice_intervals") or {},
        operating_point=gate.get("operating_point"),
    )
    base_metrics = {**metrics, "religion": _counts(religion_base_fp, 100 - religion_base_fp)}
    base = ("baseline", base_metrics, challenge.suite_metrics(_suite_rows(49)))
    suite = challenge.suite_metrics(_suite_rows(71))
    certificate.certify(verdict, verdict.policy, suite, base)
    return verdict.to_json()
