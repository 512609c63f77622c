"""A fairness report of one or more pipeline runs: HTML, PNG charts, JSON and a ranked table.

Inputs are what the pipeline already records: for each trainer variant, the latest Evaluator
execution in ML Metadata gives the ModelEvaluation (TFMA metrics per slice, the EvalConfig with
the gate's bounds) and the Examples and Model it evaluated; the FairnessGate execution that read
that evaluation gives the gate report (blessing, failed checks, groups not judged).

What the report shows, per run and side by side:
- FPR and FNR per identity group at the decision threshold, with TFMA's 95% confidence
  intervals when the Evaluator computed them (`--confidence-intervals`), the gate's FPR cap and
  each run's "overall FPR + allowed gap" line;
- overall AUC against the gate's minimum;
- the gate's outcome and every failed check with its value and bound;
- the same error rates at a matched threshold (below).

Threshold matching. A model that flags fewer comments has a lower FPR everywhere, so group FPRs
at 0.5 partly compare how much each model flags rather than how fairly. Each model is therefore
also measured at the threshold at which its overall eval FPR equals the reference model's
(baseline when present) overall FPR at the decision threshold. That threshold is computed by
scoring the eval split, the very examples the Evaluator read, with the exported model's
`serving_default` (probability) and `transform_features` (label, identity tags) signatures, as
bench/remediation.py does. TFMA's Fairness Indicators thresholds were not used: they are a
handful of fixed points (0.1, 0.3, ...), and interpolating a rate between two of them is not a
measurement; scoring gives the exact threshold and exact rates. Predictions strictly above the
threshold count as positive, as in TFMA, so the reference model's own rates reproduce TFMA's.

Charts are drawn with Pillow (a dependency of TFMA), so the report needs nothing beyond the
pinned stack. The HTML embeds them as data URIs and has no scripts, fonts or remote resources.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import functools
import html
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contract import (
    ACCURACY_METRIC,
    AUC_METRIC,
    COUNT_METRIC,
    FNR_METRIC,
    FPR_METRIC,
    IDENTITY_GROUP_KEY,
    IDENTITY_GROUPS,
    LABEL_KEY,
    OVERALL,
    group_of_slice,
    identity_feature,
)
from pipeline import config

FPR, FNR, AUC, COUNT, ACCURACY = FPR_METRIC, FNR_METRIC, AUC_METRIC, COUNT_METRIC, ACCURACY_METRIC
FI_FPR = "fairness_indicators_metrics/false_positive_rate@{}"
HTML_FILE = "fairness_report.html"
JSON_FILE = "fairness_report.json"
# Chart file -> (width, height) in pixels.
CHARTS = {
    "fpr_by_group.png": (1000, 460),
    "fnr_by_group.png": (1000, 460),
    "auc_overall.png": (1000, 320),
    "fpr_matched_threshold.png": (1000, 460),
}
# Paul Tol's colour-blind safe palette.
COLORS = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB"]
CAP_COLOR = "#CC3311"
BOUND_COLOR = "#333333"


# ---------------------------------------------------------------- metric values and bounds


@dataclass(frozen=True)
class Value:
    """A metric's point value and, when TFMA computed one, its confidence interval."""

    value: float | None
    lower: float | None = None
    upper: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.lower is not None and self.upper is not None


def _number(raw) -> float | None:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def parse_value(raw) -> Value:
    """One metric as TFMA's EvalResult holds it: a number, {"doubleValue": x}, or, with
    confidence intervals, {"boundedValue": {"value", "lowerBound", "upperBound"}}. TFMA writes
    NaN bounds as the string "NaN" (e.g. FNR on a slice without positives)."""
    if isinstance(raw, dict) and "boundedValue" in raw:
        bounded = raw["boundedValue"]
        lower, upper = _number(bounded.get("lowerBound")), _number(bounded.get("upperBound"))
        if lower is None or upper is None:
            lower = upper = None
        return Value(_number(bounded.get("value")), lower, upper)
    if isinstance(raw, dict):
        return Value(_number(raw.get("doubleValue")))
    return Value(_number(raw))


def parse_row(metrics: dict) -> dict[str, Value]:
    return {name: parse_value(raw) for name, raw in metrics.items()}


@dataclass(frozen=True)
class GateBounds:
    """The gate's bounds as the Evaluator applied them (read back from its EvalConfig)."""

    decision_threshold: float = 0.5
    max_group_fpr: float | None = None
    max_fpr_gap: float | None = None
    min_auc: float | None = None
    # Change thresholds exist only when the Evaluator had a baseline model to compare with.
    max_auc_drop: float | None = None
    max_group_fpr_increase: float | None = None
    min_slice_size: int | None = None
    groups: tuple[str, ...] = ()
    fairness_thresholds: tuple[float, ...] = ()
    confidence_intervals: bool = False

    def lines(self) -> list[str]:
        out = []
        if self.min_auc is not None:
            out.append(f"overall AUC >= {self.min_auc:g}")
        if self.max_group_fpr is not None:
            out.append(
                f"each group's FPR <= {self.max_group_fpr:g} "
                f"(at threshold {self.decision_threshold:g})"
            )
        if self.max_fpr_gap is not None:
            out.append(f"each group's FPR - overall FPR <= {self.max_fpr_gap:g}")
        if self.max_auc_drop is not None:
            out.append(f"AUC drop vs. the last blessed model <= {self.max_auc_drop:g}")
        if self.max_group_fpr_increase is not None:
            out.append(
                f"group FPR rise vs. the last blessed model <= {self.max_group_fpr_increase:g}"
            )
        if self.min_slice_size is not None:
            out.append(f"groups with fewer than {self.min_slice_size} eval examples: not judged")
        return out


def _thresholds_of(metric_config) -> list[float]:
    try:
        parsed = json.loads(metric_config.config or "{}")
    except ValueError:
        return []
    if "thresholds" in parsed:
        return [float(t) for t in parsed["thresholds"]]
    return [float(parsed["threshold"])] if "threshold" in parsed else []


def bounds_from_eval_config(eval_config, min_slice_size: int | None = None) -> GateBounds:
    """The gate's bounds from the EvalConfig stored with an evaluation (see eval_config.py)."""
    found: dict = {"min_slice_size": min_slice_size}
    groups = []
    for spec in eval_config.slicing_specs:
        group = spec.feature_values.get(IDENTITY_GROUP_KEY)
        if group:
            groups.append(group)
    found["groups"] = tuple(groups)
    options = eval_config.options
    found["confidence_intervals"] = bool(
        options.HasField("compute_confidence_intervals")
        and options.compute_confidence_intervals.value
    )
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.class_name == "FallOut":
                thresholds = _thresholds_of(metric)
                if thresholds:
                    found["decision_threshold"] = thresholds[0]
                for per_slice in metric.per_slice_thresholds:
                    threshold = per_slice.threshold
                    if threshold.value_threshold.HasField("upper_bound"):
                        found["max_group_fpr"] = threshold.value_threshold.upper_bound.value
                    if threshold.HasField("change_threshold"):
                        found["max_group_fpr_increase"] = threshold.change_threshold.absolute.value
                for cross in metric.cross_slice_thresholds:
                    if cross.threshold.value_threshold.HasField("lower_bound"):
                        # Stored as overall - group >= -gap.
                        found["max_fpr_gap"] = -cross.threshold.value_threshold.lower_bound.value
            elif metric.class_name == "AUC":
                for per_slice in metric.per_slice_thresholds:
                    threshold = per_slice.threshold
                    if threshold.value_threshold.HasField("lower_bound"):
                        found["min_auc"] = threshold.value_threshold.lower_bound.value
                    if threshold.HasField("change_threshold"):
                        found["max_auc_drop"] = -threshold.change_threshold.absolute.value
            elif metric.class_name == "FairnessIndicators":
                found["fairness_thresholds"] = tuple(_thresholds_of(metric))
    return GateBounds(**found)


# ---------------------------------------------------------------- runs


@dataclass
class Matched:
    """Error rates at the threshold where overall FPR equals the reference's overall FPR."""

    reference: str
    target_fpr: float
    threshold: float
    rates: dict[str, dict[str, float | int | None]]


@dataclass
class RunResult:
    name: str
    slices: dict[str, dict[str, Value]]
    bounds: GateBounds = field(default_factory=GateBounds)
    gate: dict | None = None
    pipeline: str = ""
    evaluation_uri: str = ""
    model_uri: str = ""
    examples_uri: str = ""
    gate_report_dir: str = ""
    evaluated_at: str = ""
    matched: Matched | None = None

    def metric(self, slice_name: str, key: str) -> Value:
        return self.slices.get(slice_name, {}).get(key, Value(None))

    @property
    def blessed(self) -> bool | None:
        return None if self.gate is None else bool(self.gate.get("blessed"))

    @property
    def groups(self) -> list[str]:
        known = [g for g in self.bounds.groups or IDENTITY_GROUPS if g in self.slices]
        return known + sorted(s for s in self.slices if s != OVERALL and s not in known)

    @property
    def skipped(self) -> dict[str, str]:
        return dict((self.gate or {}).get("skipped", {}))

    @property
    def failures(self) -> list[dict]:
        return list((self.gate or {}).get("failures", []))

    def judged_groups(self) -> list[str]:
        """Groups the gate judged: not skipped, and (without a gate report) big enough."""
        minimum = self.bounds.min_slice_size or 0
        return [
            g
            for g in self.groups
            if g not in self.skipped and (self.metric(g, COUNT).value or 0) >= minimum
        ]

    def worst_group(self, key: str = FPR) -> tuple[str | None, float | None]:
        values = [(self.metric(g, key).value, g) for g in self.judged_groups()]
        values = [(v, g) for v, g in values if v is not None]
        if not values:
            return None, None
        value, group = max(values)
        return group, value

    def largest_gap(self) -> tuple[str | None, float | None]:
        """Largest (group FPR - overall FPR) over judged groups, at the decision threshold."""
        overall = self.metric(OVERALL, FPR).value
        group, worst = self.worst_group(FPR)
        if overall is None or worst is None:
            return None, None
        return group, worst - overall

    def matched_gap(self) -> tuple[str | None, float | None]:
        if self.matched is None:
            return None, None
        overall = self.matched.rates.get(OVERALL, {}).get("fpr")
        values = [
            (rates.get("fpr"), g)
            for g, rates in self.matched.rates.items()
            if g in self.judged_groups() and rates.get("fpr") is not None
        ]
        if overall is None or not values:
            return None, None
        value, group = max(values)
        return group, value - overall

    def summary(self) -> dict:
        group, gap = self.largest_gap()
        worst_group, worst = self.worst_group(FPR)
        matched_group, matched_gap = self.matched_gap()
        return {
            "name": self.name,
            "pipeline": self.pipeline,
            "blessed": self.blessed,
            "auc": self.metric(OVERALL, AUC).value,
            "overall_fpr": self.metric(OVERALL, FPR).value,
            "overall_fnr": self.metric(OVERALL, FNR).value,
            "worst_group_fpr": worst,
            "worst_group": worst_group,
            "largest_gap": gap,
            "largest_gap_group": group,
            "matched_threshold": self.matched.threshold if self.matched else None,
            "matched_largest_gap": matched_gap,
            "matched_largest_gap_group": matched_group,
            "failures": self.failures,
            "skipped": self.skipped,
            "evaluation_uri": self.evaluation_uri,
            "gate_report_dir": self.gate_report_dir,
        }


def slice_rows(slicing_metrics) -> dict[str, dict[str, Value]]:
    """TFMA EvalResult.slicing_metrics -> Value rows for "overall" and each group. The
    cross-slice rows (overall - group) are left out: the report computes the same gap from
    the two slices, for groups TFMA had no cross slice for too."""
    from tensorflow_model_analysis.slicer import slicer_lib

    slices: dict[str, dict[str, Value]] = {}
    for slice_key, by_output in slicing_metrics:
        if slicer_lib.is_cross_slice_key(slice_key):
            continue
        row = parse_row((by_output or {}).get("", {}).get("", {}))
        if not slice_key:
            slices[OVERALL] = row
        elif (group := group_of_slice(slice_key)) is not None:
            slices[group] = row
    return slices


# ---------------------------------------------------------------- ML Metadata


@dataclass
class EvaluationRef:
    """Where one Evaluator execution's inputs and outputs are, and its gate report."""

    pipeline: str
    execution_id: int
    evaluation_uri: str
    examples_uri: str = ""
    eval_split: str = "eval"
    model_uri: str = ""
    gate_report_dir: str = ""
    min_slice_size: int | None = None
    finished_ms: int = 0


def _connection(connection):
    from tfx.orchestration import metadata

    if isinstance(connection, str | os.PathLike):
        path = os.fspath(connection)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no ML Metadata database at {path}")
        return metadata.sqlite_metadata_connection_config(path)
    return connection


def _events_by_key(store, execution_id: int, event_type) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type == event_type and event.path.steps:
            out.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
    return out


def _int_property(execution, name: str) -> int | None:
    for props in (execution.properties, execution.custom_properties):
        if name in props:
            value = props[name]
            kind = value.WhichOneof("value")
            if kind == "int_value":
                return value.int_value
            if kind == "string_value" and value.string_value.lstrip("-").isdigit():
                return int(value.string_value)
    return None


def latest_evaluation(
    connection, pipeline_name: str, run_id: str | None = None
) -> EvaluationRef | None:
    """The newest finished (run or cached) Evaluator execution of a pipeline, or of one run
    of it when `run_id` is given, with its examples, candidate model and the FairnessGate
    report written from its evaluation."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata

    from runners.mlmd import RUN_CONTEXT

    done = {metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED}
    with metadata.Metadata(_connection(connection)) as m:
        store = m.store
        evaluator = store.get_context_by_type_and_name("node", f"{pipeline_name}.Evaluator")
        if evaluator is None:
            return None
        executions = [
            e for e in store.get_executions_by_context(evaluator.id) if e.last_known_state in done
        ]
        if run_id is not None:
            run = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
            in_run = {e.id for e in store.get_executions_by_context(run.id)} if run else set()
            executions = [e for e in executions if e.id in in_run]
        if not executions:
            return None
        execution = max(executions, key=lambda e: e.id)
        outputs = _events_by_key(store, execution.id, metadata_store_pb2.Event.OUTPUT)
        inputs = _events_by_key(store, execution.id, metadata_store_pb2.Event.INPUT)
        evaluation_ids = outputs.get("evaluation", [])
        if not evaluation_ids:
            return None
        wanted = evaluation_ids + inputs.get("examples", []) + inputs.get("model", [])
        artifacts = {a.id: a for a in store.get_artifacts_by_id(wanted)}
        ref = EvaluationRef(
            pipeline=pipeline_name,
            execution_id=execution.id,
            evaluation_uri=artifacts[evaluation_ids[0]].uri,
            finished_ms=execution.last_update_time_since_epoch,
        )
        if inputs.get("examples"):
            examples = artifacts[inputs["examples"][0]]
            ref.examples_uri = examples.uri
            splits = examples.properties.get("split_names")
            names = json.loads(splits.string_value) if splits is not None else []
            ref.eval_split = "eval" if "eval" in names or not names else names[-1]
        if inputs.get("model"):
            ref.model_uri = artifacts[inputs["model"][0]].uri
        _attach_gate_report(store, ref, evaluation_ids[0], pipeline_name, done)
    return ref


def _attach_gate_report(store, ref, evaluation_id, pipeline_name, done) -> None:
    from ml_metadata.proto import metadata_store_pb2

    gate = store.get_context_by_type_and_name("node", f"{pipeline_name}.FairnessGate")
    if gate is None:
        return
    readers = {
        e.execution_id
        for e in store.get_events_by_artifact_ids([evaluation_id])
        if e.type == metadata_store_pb2.Event.INPUT
    }
    candidates = [
        e
        for e in store.get_executions_by_context(gate.id)
        if e.id in readers and e.last_known_state in done
    ]
    if not candidates:
        return
    execution = max(candidates, key=lambda e: e.id)
    ref.min_slice_size = _int_property(execution, "min_slice_size")
    outputs = _events_by_key(store, execution.id, metadata_store_pb2.Event.OUTPUT)
    if outputs.get("report"):
        [report] = store.get_artifacts_by_id(outputs["report"][:1])
        ref.gate_report_dir = report.uri


def find_evaluations(connection, trainers, run_ids=None) -> dict[str, EvaluationRef]:
    """Each trainer variant's evaluation, of the run named in `run_ids` or else the latest;
    variants never run are left out."""
    refs = {}
    for trainer in trainers:
        run_id = (run_ids or {}).get(trainer)
        ref = latest_evaluation(connection, config.pipeline_name(trainer), run_id)
        if ref is not None:
            refs[trainer] = ref
    return refs


def load_run(name: str, ref: EvaluationRef) -> RunResult:
    import tensorflow_model_analysis as tfma

    from components.gate import read_report

    result = tfma.load_eval_result(ref.evaluation_uri)
    slices = slice_rows(result.slicing_metrics)
    gate = None
    if ref.gate_report_dir and os.path.exists(ref.gate_report_dir):
        gate = read_report(ref.gate_report_dir)
    min_slice = ref.min_slice_size
    return RunResult(
        name=name,
        slices=slices,
        bounds=bounds_from_eval_config(result.config, min_slice),
        gate=gate,
        pipeline=ref.pipeline,
        evaluation_uri=ref.evaluation_uri,
        model_uri=ref.model_uri,
        examples_uri=ref.examples_uri,
        gate_report_dir=ref.gate_report_dir,
        evaluated_at=_timestamp(ref.finished_ms),
    )


def _timestamp(ms: int) -> str:
    if not ms:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------- threshold matching


@dataclass
class Scored:
    scores: np.ndarray
    labels: np.ndarray
    groups: dict[str, np.ndarray]


def score_eval_split(model_uri: str, examples_uri: str, split: str = "eval") -> Scored:
    """Scores, labels and identity tags of every example of a split, through the exported
    model's `serving_default` and `transform_features` signatures."""
    import tensorflow as tf

    model_dir = os.path.join(model_uri, "Format-Serving")
    model = tf.saved_model.load(model_dir if os.path.isdir(model_dir) else model_uri)
    folder = os.path.join(examples_uri, f"Split-{split}")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    scores, labels, tags = [], [], {g: [] for g in IDENTITY_GROUPS}
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(512)
    for batch in dataset:
        output = model.signatures["serving_default"](examples=batch)
        scores.append(next(iter(output.values())).numpy().reshape(-1))
        transformed = model.signatures["transform_features"](examples=batch)
        labels.append(transformed[LABEL_KEY].numpy().reshape(-1))
        for g in IDENTITY_GROUPS:
            tags[g].append(transformed[identity_feature(g)].numpy().reshape(-1))
    return Scored(
        np.concatenate(scores).astype(float),
        np.concatenate(labels).astype(float),
        {g: np.concatenate(v) > 0 for g, v in tags.items()},
    )


def rates_at(scored: Scored, threshold: float) -> dict[str, dict[str, float | int | None]]:
    """FPR and FNR overall and per group; positive means score > threshold (TFMA's rule)."""
    predicted = scored.scores > threshold
    positive = scored.labels >= 0.5
    everyone = np.ones_like(positive, dtype=bool)
    out = {}
    for name, mask in [(OVERALL, everyone), *scored.groups.items()]:
        negatives, positives = mask & ~positive, mask & positive
        n_neg, n_pos = int(negatives.sum()), int(positives.sum())
        out[name] = {
            "count": int(mask.sum()),
            "negatives": n_neg,
            "positives": n_pos,
            "fpr": float(predicted[negatives].mean()) if n_neg else None,
            "fnr": float((~predicted[positives]).mean()) if n_pos else None,
        }
    return out


def fpr_matching_threshold(scores, labels, target_fpr: float) -> float:
    """The threshold t at which mean(score > t) over negatives is the largest value not above
    `target_fpr`: t is the (k+1)-th highest negative score, k = floor(target * negatives)."""
    negatives = np.sort(np.asarray(scores, dtype=float)[np.asarray(labels) < 0.5])[::-1]
    if negatives.size == 0:
        return 0.5
    k = int(math.floor(target_fpr * negatives.size + 1e-9))
    if k >= negatives.size:
        return float(max(0.0, np.nextafter(negatives[-1], -np.inf)))
    threshold = negatives[k]
    # Ties at the threshold fall below it, so FPR can only be lower than the target there.
    return float(threshold)


def match_thresholds(
    runs: list[RunResult], scored: dict[str, Scored], reference: str | None = None
) -> str | None:
    """Sets `matched` on each scored run; returns the reference run's name."""
    names = [r.name for r in runs if r.name in scored]
    if not names:
        return None
    reference = (
        reference if reference in names else ("baseline" if "baseline" in names else names[0])
    )
    by_name = {r.name: r for r in runs}
    decision = by_name[reference].bounds.decision_threshold
    target = rates_at(scored[reference], decision)[OVERALL]["fpr"] or 0.0
    for name in names:
        run = by_name[name]
        if name == reference:
            threshold = decision
        else:
            threshold = fpr_matching_threshold(scored[name].scores, scored[name].labels, target)
        run.matched = Matched(reference, target, threshold, rates_at(scored[name], threshold))
    return reference


# ---------------------------------------------------------------- ranking


def rank(runs: list[RunResult]) -> list[RunResult]:
    """Blessed runs first, then by overall AUC (best first); runs without AUC last."""

    def key(run):
        auc = run.metric(OVERALL, AUC).value
        return (run.blessed is not True, auc is None, -(auc or 0.0), run.name)

    return sorted(runs, key=key)


def describe_failure(failure: dict) -> str:
    value = failure.get("value")
    shown = "not computed" if value is None else f"{value:.4f}"
    return f"{failure['metric']} on {failure['slice']} = {shown} (bound {failure['bound']})"


def recommendation(runs: list[RunResult]) -> str:
    ranked = rank(runs)
    if not ranked:
        return "No evaluations found."
    best = ranked[0]
    if best.blessed:
        auc = best.metric(OVERALL, AUC).value
        auc_text = "n/a" if auc is None else f"{auc:.3f}"
        return f"Recommended: {best.name} - passes the gate with the best AUC ({auc_text})."
    lines = ["No model passes the gate."]
    for run in ranked:
        if run.gate is None:
            lines.append(f"  {run.name}: no gate report")
            continue
        missed = "; ".join(describe_failure(f) for f in run.failures) or "no failed check recorded"
        lines.append(f"  {run.name} missed: {missed}")
    return "\n".join(lines)


def _fmt(value, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def ranked_table(runs: list[RunResult]) -> str:
    rows = [
        [
            "rank",
            "model",
            "gate",
            "AUC",
            "FPR",
            "FNR",
            "worst group FPR",
            "max gap",
            "matched thr",
            "gap@matched",
        ]
    ]
    for position, run in enumerate(rank(runs), 1):
        s = run.summary()
        worst = "-"
        if s["worst_group_fpr"] is not None:
            worst = f"{s['worst_group_fpr']:.3f} ({s['worst_group']})"
        rows.append(
            [
                str(position),
                run.name,
                {True: "passes", False: "fails", None: "no report"}[s["blessed"]],
                _fmt(s["auc"]),
                _fmt(s["overall_fpr"]),
                _fmt(s["overall_fnr"]),
                worst,
                _fmt(s["largest_gap"], signed=True),
                _fmt(s["matched_threshold"]),
                _fmt(s["matched_largest_gap"], signed=True),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    # Text columns left-aligned, numbers right-aligned.
    left = {1, 2}
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )


# ---------------------------------------------------------------- charts (Pillow)


@functools.cache
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        # Pillow without FreeType: the fixed bitmap font, still legible.
        return ImageFont.load_default()


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


def _lighter(color: str, amount: float = 0.6) -> tuple[int, int, int]:
    return tuple(round(c + (255 - c) * amount) for c in _rgb(color))


def _text_width(draw, text: str, font) -> float:
    return draw.textlength(text, font=font)


def _dashed(draw, x0, x1, y, color, width=2, dash=9, gap=6) -> None:
    x = x0
    while x < x1:
        draw.line([(x, y), (min(x + dash, x1), y)], fill=color, width=width)
        x += dash + gap


@dataclass
class Series:
    name: str
    color: str
    values: list[Value | None]
    faded: list[bool] = field(default_factory=list)


@dataclass
class Rule:
    """A horizontal reference line drawn across the plot."""

    y: float
    color: str
    label: str
    dashed: bool = True


def bar_chart(
    title: str,
    categories: list[str],
    series: list[Series],
    rules: list[Rule],
    size: tuple[int, int],
    notes: list[str] | None = None,
) -> bytes:
    """A grouped bar chart with confidence-interval whiskers and reference lines, as PNG."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    title_font, font, small = _font(17), _font(13), _font(11)
    draw.text((16, 10), title, fill="black", font=title_font)

    # Legend: series swatches, then reference lines, wrapped to the chart width.
    entries = [("box", s.color, s.name) for s in series]
    entries += [("dash" if r.dashed else "line", r.color, r.label) for r in rules]
    x, y = 16, 38
    for kind, color, label in entries:
        needed = 30 + _text_width(draw, label, small) + 18
        if x + needed > width - 16:
            x, y = 16, y + 18
        if kind == "box":
            draw.rectangle([x, y + 2, x + 18, y + 12], fill=color)
        elif kind == "dash":
            _dashed(draw, x, x + 22, y + 7, color, dash=6, gap=3)
        else:
            draw.line([(x, y + 7), (x + 22, y + 7)], fill=color, width=2)
        draw.text((x + 28, y), label, fill="black", font=small)
        x += needed
    top = y + 28
    left, right, bottom = 62, width - 20, height - (58 if notes else 40)

    values = [v for s in series for v in s.values if v is not None]
    highest = max(
        [v.value for v in values if v.value is not None]
        + [v.upper for v in values if v.has_interval]
        + [r.y for r in rules]
        + [0.05]
    )
    # Headroom above the highest bar for its value label; ticks stop at 1 for rates.
    y_max = math.ceil(highest * 1.12 * 20) / 20
    y_max = min(y_max, 1.1) if highest <= 1.0 else y_max
    tick_max = min(y_max, 1.0) if highest <= 1.0 else y_max
    step = 0.05 if y_max <= 0.3 else (0.1 if y_max <= 0.6 else 0.2)

    def to_y(v: float) -> float:
        v = max(0.0, min(v, y_max))
        return bottom - (bottom - top) * v / y_max

    tick = 0.0
    while tick <= tick_max + 1e-9:
        ty = to_y(tick)
        draw.line([(left, ty), (right, ty)], fill=(232, 232, 232), width=1)
        label = f"{tick:.2f}"
        draw.text(
            (left - 8 - _text_width(draw, label, small), ty - 7), label, fill="black", font=small
        )
        tick += step
    draw.line([(left, top), (left, bottom)], fill="black", width=1)
    draw.line([(left, bottom), (right, bottom)], fill="black", width=1)

    n_cat, n_series = max(1, len(categories)), max(1, len(series))
    slot = (right - left) / n_cat
    bar = min(56.0, slot * 0.8 / n_series)
    for i, category in enumerate(categories):
        center = left + slot * (i + 0.5)
        start = center - bar * n_series / 2
        for j, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else None
            x0, x1 = start + j * bar + 2, start + (j + 1) * bar - 2
            if v is None or v.value is None:
                draw.text((x0 + 2, bottom - 16), "n/a", fill=(120, 120, 120), font=small)
                continue
            faded = i < len(s.faded) and s.faded[i]
            draw.rectangle(
                [x0, to_y(v.value), x1, bottom],
                fill=_lighter(s.color) if faded else s.color,
                outline=s.color,
            )
            if v.has_interval:
                cx, lo, hi = (x0 + x1) / 2, to_y(v.lower), to_y(v.upper)
                draw.line([(cx, lo), (cx, hi)], fill=BOUND_COLOR, width=2)
                draw.line([(cx - 5, lo), (cx + 5, lo)], fill=BOUND_COLOR, width=2)
                draw.line([(cx - 5, hi), (cx + 5, hi)], fill=BOUND_COLOR, width=2)
            label = f"{v.value:.2f}"
            label_y = min(to_y(v.value), to_y(v.upper) if v.has_interval else bottom) - 15
            lx = (x0 + x1) / 2 - _text_width(draw, label, small) / 2
            draw.text((lx, max(top - 2, label_y)), label, fill="black", font=small)
        label_width = _text_width(draw, category, font)
        draw.text((center - label_width / 2, bottom + 6), category, fill="black", font=font)
        if notes and i < len(notes) and notes[i]:
            note_width = _text_width(draw, notes[i], small)
            draw.text(
                (center - note_width / 2, bottom + 24), notes[i], fill=(90, 90, 90), font=small
            )
    for rule in rules:
        ry = to_y(rule.y)
        if rule.dashed:
            _dashed(draw, left, right, ry, rule.color)
        else:
            draw.line([(left, ry), (right, ry)], fill=rule.color, width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _categories(runs: list[RunResult]) -> list[str]:
    """Overall, then every group the gate names (present in the eval data or not)."""
    seen = [OVERALL]
    for run in runs:
        for group in (*run.bounds.groups, *run.groups):
            if group not in seen:
                seen.append(group)
    return seen


def _notes(runs: list[RunResult], categories: list[str]) -> list[str]:
    """Eval examples per slice (the same eval split for every run), and whether judged."""
    first = runs[0]
    notes = []
    for c in categories:
        count = first.metric(c, COUNT).value
        text = "" if count is None else f"n={int(count)}"
        if c != OVERALL and all(c not in r.judged_groups() for r in runs):
            text += ", not judged"
        notes.append(text)
    return notes


def _faded(run: RunResult, categories: list[str]) -> list[bool]:
    judged = set(run.judged_groups())
    return [c != OVERALL and c not in judged for c in categories]


def render_charts(runs: list[RunResult]) -> dict[str, bytes]:
    """Chart file name -> PNG bytes (the matched-threshold chart only when matched)."""
    categories = _categories(runs)
    notes = _notes(runs, categories)
    bounds = runs[0].bounds
    threshold = bounds.decision_threshold
    charts = {}

    rules = []
    if bounds.max_group_fpr is not None:
        rules.append(
            Rule(bounds.max_group_fpr, CAP_COLOR, f"group FPR cap {bounds.max_group_fpr:g}")
        )
    if bounds.max_fpr_gap is not None:
        for i, run in enumerate(runs):
            overall = run.metric(OVERALL, FPR).value
            if overall is not None:
                rules.append(
                    Rule(
                        overall + bounds.max_fpr_gap,
                        COLORS[i % len(COLORS)],
                        f"{run.name}: overall FPR + gap {bounds.max_fpr_gap:g} "
                        f"= {overall + bounds.max_fpr_gap:.3f}",
                    )
                )

    def series_of(metric):
        return [
            Series(
                run.name,
                COLORS[i % len(COLORS)],
                [run.metric(c, metric) for c in categories],
                _faded(run, categories),
            )
            for i, run in enumerate(runs)
        ]

    charts["fpr_by_group.png"] = bar_chart(
        f"False positive rate by identity group at threshold {threshold:g}",
        categories,
        series_of(FPR),
        rules,
        CHARTS["fpr_by_group.png"],
        notes,
    )
    charts["fnr_by_group.png"] = bar_chart(
        f"False negative rate by identity group at threshold {threshold:g}",
        categories,
        series_of(FNR),
        [],
        CHARTS["fnr_by_group.png"],
        notes,
    )
    auc_rules = []
    if bounds.min_auc is not None:
        auc_rules.append(Rule(bounds.min_auc, CAP_COLOR, f"minimum AUC {bounds.min_auc:g}"))
    series = [
        Series(run.name, COLORS[i % len(COLORS)], [run.metric(OVERALL, AUC)])
        for i, run in enumerate(runs)
    ]
    charts["auc_overall.png"] = bar_chart(
        "Overall AUC", ["overall"], series, auc_rules, CHARTS["auc_overall.png"]
    )
    matched = [r for r in runs if r.matched is not None]
    if matched:
        reference = matched[0].matched
        series = [
            Series(
                f"{run.name} (t={run.matched.threshold:.3f})",
                COLORS[runs.index(run) % len(COLORS)],
                [Value(run.matched.rates.get(c, {}).get("fpr")) for c in categories],
                _faded(run, categories),
            )
            for run in matched
        ]
        charts["fpr_matched_threshold.png"] = bar_chart(
            f"False positive rate by group at matched thresholds "
            f"(overall FPR = {reference.reference}'s {reference.target_fpr:.3f})",
            categories,
            series,
            [Rule(reference.target_fpr, BOUND_COLOR, "reference overall FPR")],
            CHARTS["fpr_matched_threshold.png"],
            notes,
        )
    return charts


# ---------------------------------------------------------------- HTML

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px;
       color: #222; max-width: 1180px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
.badge { white-space: nowrap; padding: 2px 8px; border-radius: 10px; color: white; font-size: 13px; }
.pass { background: #228833; } .fail { background: #CC3311; } .none { background: #888; }
.meta { color: #555; font-size: 14px; } .rec { font-size: 16px; font-weight: 600; }
figure { margin: 12px 0; } img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 8px; white-space: pre-wrap; }
.failed { color: #CC3311; }
"""


def _e(text) -> str:
    return html.escape(str(text))


def _cell(value: Value | None, digits: int = 3) -> str:
    if value is None or value.value is None:
        return "-"
    text = f"{value.value:.{digits}f}"
    if value.has_interval:
        text += f" <small>[{value.lower:.{digits}f}, {value.upper:.{digits}f}]</small>"
    return text


def _badge(blessed: bool | None) -> str:
    if blessed is None:
        return '<span class="badge none">no gate report</span>'
    if blessed:
        return '<span class="badge pass">blessed</span>'
    return '<span class="badge fail">not blessed</span>'


def _summary_table(runs: list[RunResult]) -> str:
    rows = [
        "<table><tr><th>rank</th><th class=name>model</th><th>gate</th><th>overall AUC</th>"
        "<th>overall FPR</th><th>overall FNR</th><th>worst judged group FPR</th>"
        "<th>largest gap (group - overall FPR)</th><th>matched threshold</th>"
        "<th>largest gap at matched threshold</th><th>failed checks</th></tr>"
    ]
    for position, run in enumerate(rank(runs), 1):
        s = run.summary()
        worst = "-"
        if s["worst_group_fpr"] is not None:
            worst = f"{s['worst_group_fpr']:.3f} ({_e(s['worst_group'])})"
        gap = _fmt(s["largest_gap"], signed=True)
        if s["largest_gap_group"]:
            gap += f" ({_e(s['largest_gap_group'])})"
        matched_gap = _fmt(s["matched_largest_gap"], signed=True)
        if s["matched_largest_gap_group"]:
            matched_gap += f" ({_e(s['matched_largest_gap_group'])})"
        rows.append(
            f"<tr><td>{position}</td><td class=name>{_e(run.name)}</td><td>{_badge(run.blessed)}</td>"
            f"<td>{_cell(run.metric(OVERALL, AUC))}</td><td>{_cell(run.metric(OVERALL, FPR))}</td>"
            f"<td>{_cell(run.metric(OVERALL, FNR))}</td><td>{worst}</td><td>{gap}</td>"
            f"<td>{_fmt(s['matched_threshold'])}</td><td>{matched_gap}</td>"
            f"<td>{len(run.failures)}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _run_section(run: RunResult, categories: list[str]) -> str:
    parts = [f"<h3 id='run-{_e(run.name)}'>{_e(run.name)} {_badge(run.blessed)}</h3>"]
    parts.append(
        f"<p class=meta>pipeline {_e(run.pipeline) or '-'}; evaluated {_e(run.evaluated_at) or '-'}"
        f"; evaluation <code>{_e(run.evaluation_uri)}</code></p>"
    )
    if run.failures:
        parts.append(
            "<table><tr><th class=name>failed check</th><th class=name>slice</th><th>value</th>"
            "<th class=name>bound</th><th class=name>detail</th></tr>"
        )
        for f in run.failures:
            value = "not computed" if f.get("value") is None else f"{f['value']:.4f}"
            parts.append(
                f"<tr class=failed><td class=name>{_e(f['metric'])}</td>"
                f"<td class=name>{_e(f['slice'])}</td><td>{value}</td>"
                f"<td class=name>{_e(f['bound'])}</td><td class=name>{_e(f.get('message', ''))}</td></tr>"
            )
        parts.append("</table>")
    elif run.gate is not None:
        parts.append("<p>Every gate check passed.</p>")
    if run.skipped:
        items = "".join(f"<li>{_e(g)}: {_e(why)}</li>" for g, why in sorted(run.skipped.items()))
        parts.append(f"<p>Not judged:</p><ul>{items}</ul>")
    matched = run.matched
    header = (
        "<table><tr><th class=name>slice</th><th>examples</th><th>AUC</th><th>accuracy</th>"
        "<th>FPR</th><th>FNR</th><th>FPR - overall FPR</th>"
    )
    if matched:
        header += (
            f"<th>FPR at t={matched.threshold:.3f}</th><th>FNR at t={matched.threshold:.3f}</th>"
        )
    parts.append(header + "</tr>")
    overall_fpr = run.metric(OVERALL, FPR).value
    for c in categories:
        if c not in run.slices:
            parts.append(f"<tr><td class=name>{_e(c)}</td><td colspan=6>no eval examples</td></tr>")
            continue
        count = run.metric(c, COUNT).value
        fpr = run.metric(c, FPR).value
        gap = (
            "-"
            if c == OVERALL or fpr is None or overall_fpr is None
            else f"{fpr - overall_fpr:+.3f}"
        )
        row = (
            f"<tr><td class=name>{_e(c)}</td><td>{'-' if count is None else int(count)}</td>"
            f"<td>{_cell(run.metric(c, AUC))}</td><td>{_cell(run.metric(c, ACCURACY))}</td>"
            f"<td>{_cell(run.metric(c, FPR))}</td><td>{_cell(run.metric(c, FNR))}</td><td>{gap}</td>"
        )
        if matched:
            rates = matched.rates.get(c, {})
            row += f"<td>{_fmt(rates.get('fpr'))}</td><td>{_fmt(rates.get('fnr'))}</td>"
        parts.append(row + "</tr>")
    parts.append("</table>")
    thresholds = run.bounds.fairness_thresholds
    if thresholds:
        parts.append(
            "<p class=meta>Fairness Indicators: FPR at each threshold</p><table><tr>"
            "<th class=name>slice</th>" + "".join(f"<th>@{t:g}</th>" for t in thresholds) + "</tr>"
        )
        for c in categories:
            if c in run.slices:
                cells = "".join(
                    f"<td>{_cell(run.metric(c, FI_FPR.format(t)))}</td>" for t in thresholds
                )
                parts.append(f"<tr><td class=name>{_e(c)}</td>{cells}</tr>")
        parts.append("</table>")
    return "\n".join(parts)


def render_html(runs: list[RunResult], charts: dict[str, bytes], generated: str = "") -> str:
    categories = _categories(runs)
    bounds = runs[0].bounds
    reference = next((r.matched for r in runs if r.matched), None)
    ci = any(r.bounds.confidence_intervals for r in runs)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Fairness report: {_e(', '.join(r.name for r in runs))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Fairness report</h1>",
        f"<p class=meta>Models: {_e(', '.join(r.name for r in runs))}. "
        f"Generated {_e(generated)}. Decision threshold {bounds.decision_threshold:g}. "
        + (
            "Intervals in brackets and whiskers on the charts are TFMA's 95% confidence "
            "intervals."
            if ci
            else "Confidence intervals were not computed (run with --confidence-intervals)."
        )
        + "</p>",
        "<h2 id=summary>Summary</h2>",
        f"<p class=rec>{'<br>'.join(_e(line) for line in recommendation(runs).splitlines())}</p>",
        _summary_table(runs),
        "<h2 id=bounds>Gate bounds</h2><ul>",
        *[f"<li>{_e(line)}</li>" for line in bounds.lines()],
        "</ul>",
        "<h2 id=charts>Charts</h2>",
    ]
    captions = {
        "fpr_by_group.png": "Per-group FPR at the decision threshold. Red dashed line: the gate's "
        "cap on each group's FPR; coloured dashed lines: each model's overall FPR plus the allowed "
        "gap. Pale bars: groups not judged (too few eval examples).",
        "fnr_by_group.png": "Per-group FNR (missed toxic comments) at the decision threshold.",
        "auc_overall.png": "Overall AUC against the gate's minimum.",
        "fpr_matched_threshold.png": "Per-group FPR with each model at the threshold that gives "
        "the reference model's overall FPR, so group differences are not differences in how much "
        "a model flags overall.",
    }
    for name, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{_e(captions.get(name, name))}'>"
            f"<figcaption>{_e(captions.get(name, ''))}</figcaption></figure>"
        )
    if reference is not None:
        parts.append(
            "<h2 id=matching>Threshold matching</h2>"
            f"<p>Reference: {_e(reference.reference)}, overall FPR "
            f"{reference.target_fpr:.3f} at threshold {bounds.decision_threshold:g}. Each model is "
            "also measured at the threshold where its own overall eval FPR is at most that value "
            "(computed by scoring the eval split with the exported model).</p>"
        )
    parts.append("<h2 id=runs>Models</h2>")
    for run in runs:
        parts.append(_run_section(run, categories))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(runs: list[RunResult], directory: str | os.PathLike) -> Path:
    """Writes the HTML, the PNG charts and a JSON summary; returns the HTML path."""
    if not runs:
        raise ValueError("no runs to report")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    generated = _now()
    charts = render_charts(runs)
    for name, png in charts.items():
        (folder / name).write_bytes(png)
    stale = set(CHARTS) - set(charts)
    for name in stale:
        (folder / name).unlink(missing_ok=True)
    page = folder / HTML_FILE
    page.write_text(render_html(runs, charts, generated), encoding="utf-8")
    summary = {
        "generated": generated,
        "ranking": [r.name for r in rank(runs)],
        "recommendation": recommendation(runs),
        "bounds": dataclasses.asdict(runs[0].bounds),
        "charts": sorted(charts),
        "runs": [r.summary() for r in runs],
    }
    (folder / JSON_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return page


def build_runs(connection, trainers, match: bool = True, run_ids=None) -> list[RunResult]:
    """Loads each trainer's evaluation (of the run in `run_ids`, else the latest) and, with
    `match`, the matched-threshold rates."""
    refs = find_evaluations(connection, trainers, run_ids)
    runs = [load_run(name, ref) for name, ref in refs.items()]
    if match and runs:
        scored = {}
        for run in runs:
            if run.model_uri and run.examples_uri:
                scored[run.name] = score_eval_split(
                    run.model_uri, run.examples_uri, refs[run.name].eval_split
                )
        match_thresholds(runs, scored)
    return runs


# ---------------------------------------------------------------- notebook


def ui_slicing_metrics(slicing_metrics) -> list[dict]:
    """EvalResult.slicing_metrics in the form the Fairness Indicators widget reads: one dict per
    slice with 'sliceValue', 'slice' and 'metrics'; cross slices are joined by '__XX__'."""
    from tensorflow_model_analysis.slicer import slicer_lib

    def value_of(key):
        if not key:
            return "Overall"
        return "_X_".join(v.decode() if isinstance(v, bytes) else str(v) for _, v in key)

    data = []
    for slice_key, by_output in slicing_metrics:
        metrics = (by_output or {}).get("", {}).get("")
        if metrics is None:
            continue
        if slicer_lib.is_cross_slice_key(slice_key):
            baseline, comparison = slice_key
            data.append(
                {
                    "sliceValue": f"{value_of(baseline)}__XX__{value_of(comparison)}",
                    "slice": f"{slicer_lib.stringify_slice_key(baseline)}__XX__"
                    f"{slicer_lib.stringify_slice_key(comparison)}",
                    "metrics": metrics,
                }
            )
        else:
            data.append(
                {
                    "sliceValue": value_of(slice_key),
                    "slice": slicer_lib.stringify_slice_key(slice_key),
                    "metrics": metrics,
                }
            )
    return data


@functools.cache
def _viewer_class():
    """TFMA's Fairness Indicators widget. TFMA 0.47 dropped its Python side
    (tensorflow_model_analysis.addons.fairness) but still ships the notebook extension with the
    FairnessIndicatorModel/View, so the widget is declared here as the older TFMA did."""
    try:
        from tensorflow_model_analysis.addons.fairness.notebook.jupyter.widget import (
            FairnessIndicatorViewer,
        )

        return FairnessIndicatorViewer
    except ImportError:
        pass
    import ipywidgets as widgets
    import traitlets
    from tensorflow_model_analysis.version import VERSION

    @widgets.register
    class FairnessIndicatorViewer(widgets.DOMWidget):
        _view_name = traitlets.Unicode("FairnessIndicatorView").tag(sync=True)
        _model_name = traitlets.Unicode("FairnessIndicatorModel").tag(sync=True)
        _view_module = traitlets.Unicode("tensorflow_model_analysis").tag(sync=True)
        _model_module = traitlets.Unicode("tensorflow_model_analysis").tag(sync=True)
        _view_module_version = traitlets.Unicode(VERSION).tag(sync=True)
        _model_module_version = traitlets.Unicode(VERSION).tag(sync=True)
        slicingMetrics = traitlets.List().tag(sync=True)
        slicingMetricsCompare = traitlets.List().tag(sync=True)
        evalName = traitlets.Unicode().tag(sync=True)
        evalNameCompare = traitlets.Unicode().tag(sync=True)
        js_events = traitlets.List([]).tag(sync=True)

    return FairnessIndicatorViewer


def render_fairness_indicator(eval_result=None, multi_eval_results: dict | None = None):
    """TFMA's `widget_view.render_fairness_indicator` for the installed TFMA: one EvalResult,
    or `multi_eval_results={name: EvalResult}` with exactly two entries (the widget compares
    two evaluations)."""
    if (eval_result is None) == (multi_eval_results is None):
        raise ValueError('give exactly one of "eval_result" and "multi_eval_results"')
    view = _viewer_class()()
    if eval_result is not None:
        view.slicingMetrics = ui_slicing_metrics(eval_result.slicing_metrics)
        return view
    if len(multi_eval_results) != 2:
        raise ValueError("multi_eval_results takes exactly two evaluations")
    (name, result), (name_compare, result_compare) = multi_eval_results.items()
    view.slicingMetrics = ui_slicing_metrics(result.slicing_metrics)
    view.slicingMetricsCompare = ui_slicing_metrics(result_compare.slicing_metrics)
    view.evalName, view.evalNameCompare = name, name_compare
    return view


def notebook_view(output, trainers=config.TRAINERS, metadata: str | None = None):
    """The Fairness Indicators widget for the latest evaluations of `trainers` under `output`.

    One trainer: its evaluation. Two: one side-by-side comparison. More: a column of
    comparisons of the first (the reference, e.g. baseline) with each other one.
    """
    import ipywidgets as widgets
    import tensorflow_model_analysis as tfma

    connection = metadata or os.path.join(output, "metadata.sqlite")
    refs = find_evaluations(connection, trainers)
    if not refs:
        raise LookupError(f"no evaluations of {list(trainers)} in {connection}")
    results = {name: tfma.load_eval_result(ref.evaluation_uri) for name, ref in refs.items()}
    names = list(results)
    if len(names) == 1:
        return render_fairness_indicator(results[names[0]])
    first = names[0]
    views = [
        render_fairness_indicator(multi_eval_results={first: results[first], other: results[other]})
        for other in names[1:]
    ]
    return views[0] if len(views) == 1 else widgets.VBox(views)


def notebook_report(output, trainers=config.TRAINERS, metadata: str | None = None, match=True):
    """The HTML report inline in any notebook front end (JupyterLab included). It sits in an
    iframe so that its style sheet does not restyle the notebook."""
    from IPython.display import HTML

    runs = build_runs(metadata or os.path.join(output, "metadata.sqlite"), trainers, match)
    if not runs:
        raise LookupError(f"no evaluations of {list(trainers)} under {output}")
    page = render_html(runs, render_charts(runs), _now())
    return HTML(
        f'<iframe srcdoc="{html.escape(page, quote=True)}" '
        'style="width: 100%; height: 1400px; border: 0"></iframe>'
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def report_command(connection, trainers, directory, match: bool = True, stream=None, run_ids=None):
    """`local_runner.py report`/`compare`: writes the report and prints the ranked table and
    the recommendation. Returns the runs found (empty when no trainer has an evaluation)."""
    import sys

    stream = stream or sys.stdout
    runs = build_runs(connection, trainers, match, run_ids)
    found = {r.name for r in runs}
    for name in trainers:
        if name not in found:
            print(f"No evaluation of {name} ({config.pipeline_name(name)}) found.", file=stream)
    if runs:
        page = write_report(runs, directory)
        print("", ranked_table(runs), "", recommendation(runs), "", sep="\n", file=stream)
        print(f"Report: {page}", file=stream, flush=True)
    return runs
