"""FairnessGate: turns TFMA's validation result into a blessing and a readable explanation.

TFMA checks the thresholds of the EvalConfig. This component applies the one rule TFMA cannot
express, "groups with fewer than `min_slice_size` eval examples are reported but not judged",
writes a ModelBlessing for the Pusher and the resolver, and writes a report that says which
metric on which slice failed, its value and its bound. It runs as a pipeline step so the
explanation exists on Kubeflow/Vertex runs too.
"""

import datetime
import json
import math
import os

from tfx import v1 as tfx
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types.artifact import Artifact
from tfx.utils import path_utils

from components.certificate import EVAL_NO_GROUP, certify, eval_figures
from components.challenge import ChallengeResult, read_result
from components.intervals import finite
from components.policy import GatePolicy
from components.serving import read_operating_point
from components.verdict import CHAMPION, Failure, Verdict, champion_name
from contract import (
    BIAS_SCORE_METRIC,
    BNSP_AUC,
    BPSN_AUC,
    COUNT_METRIC,
    FN_METRIC,
    FNR_METRIC,
    FP_METRIC,
    FPR_METRIC,
    IDENTITY_GROUP_KEY,
    OVERALL,
    SUBGROUP_AUC,
    TN_METRIC,
    TP_METRIC,
    TPR_METRIC,
    bias_auc_of_metric,
    group_of_slice,
)

# The name TFX's Evaluator gives the model it compares with (our champion) in TFMA's results.
TFMA_BASELINE = "baseline"
REPORT_FILE = "gate_report.json"
TEXT_FILE = "gate_report.txt"


class GateReport(Artifact):
    """A readable verdict of the fairness gate (JSON and text)."""

    # Kubeflow v2 accepts only "<module>.<Class>" and its containers import the class by this
    # name (tensorflow/tfx#6102); `components` re-exports it.
    TYPE_NAME = "components.GateReport"


class ChampionBlessing(tfx.types.standard_artifacts.ModelBlessing):
    """Written by the Pusher for the model it pushed: the champion that later candidates are
    judged against. Its own type, so the champion resolver never sees a candidate's blessing
    (a ModelBlessing subclass, as Kubeflow V2's compiler requires: docs/kubeflow.md). It names
    the push (`pushed_version`, `candidate`), which the gate's change checks cite."""

    TYPE_NAME = "components.ChampionBlessing"


def _slice_name(slice_key_proto) -> str:
    parts = []
    for key in slice_key_proto.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind) if kind else ""
        value = value.decode() if isinstance(value, bytes) else value
        parts.append(str(value) if key.column == IDENTITY_GROUP_KEY else f"{key.column}={value}")
    return ", ".join(parts) or OVERALL


def _bound_text(threshold_proto, flip: bool = False) -> str:
    """The bound as text; `flip` states it for the negated value (a lower bound L on x is an
    upper bound -L on -x)."""
    if threshold_proto.HasField("value_threshold"):
        v = threshold_proto.value_threshold
        parts = []
        if v.HasField("lower_bound"):
            low = v.lower_bound.value
            parts.append(f"<= {-low:g}" if flip else f">= {low:g}")
        if v.HasField("upper_bound"):
            high = v.upper_bound.value
            parts.append(f">= {-high:g}" if flip else f"<= {high:g}")
        return " and ".join(parts)
    c = threshold_proto.change_threshold
    direction = "at most" if c.direction == 1 else "at least"
    return f"change {direction} {c.absolute.value:+g}"


def _failure_slice(validation_for_slice) -> tuple[str, set[str]]:
    """A readable slice name and the identity groups it involves."""
    if validation_for_slice.HasField("cross_slice_key"):
        cross = validation_for_slice.cross_slice_key
        base = _slice_name(cross.baseline_slice_key)
        comparison = _slice_name(cross.comparison_slice_key)
        groups = {comparison} if comparison != OVERALL else set()
        # Every cross slice is overall against one group: named by the group, read as a gap.
        return (comparison if base == OVERALL else f"{base} minus {comparison}"), groups
    name = _slice_name(validation_for_slice.slice_key)
    return name, ({name} if name != OVERALL else set())


METRIC_LABELS = {
    FPR_METRIC: "false_positive_rate",
    FNR_METRIC: "false_negative_rate",
    TPR_METRIC: "true_positive_rate (recall)",
    # Bias AUCs (components/bias_auc.py): keyed "<kind>/<group>", named here by kind.
    SUBGROUP_AUC: "subgroup AUC (the group's rows)",
    BPSN_AUC: "BPSN AUC (toxic rows outside the group against the group's non-toxic rows)",
    BNSP_AUC: "BNSP AUC (non-toxic rows outside the group against the group's toxic rows)",
    BIAS_SCORE_METRIC: "bias score (0.25 x exact AUC + 0.75 x mean of the bias AUC power means)",
}


def _metric_label(metric_key_proto, cross: bool, champion: str) -> str:
    bias = bias_auc_of_metric(metric_key_proto.name)
    name = METRIC_LABELS.get(bias[0] if bias else metric_key_proto.name, metric_key_proto.name)
    if metric_key_proto.is_diff:
        # TFMA's "baseline model" is the champion here, not the candidate named baseline.
        name += f" (change vs. {champion})"
    if cross:
        name += " gap (group - overall)"
    return name


# Which rows a metric on a group stands on, for min_slice_size; a bias AUC's group part is the
# group's non-toxic rows (BPSN), its toxic rows (BNSP) or both (subgroup AUC).
ROWS_OF_METRIC = {
    FPR_METRIC: ("negatives",),
    FNR_METRIC: ("positives",),
    TPR_METRIC: ("positives",),
    SUBGROUP_AUC: ("negatives", "positives"),
    BPSN_AUC: ("negatives",),
    BNSP_AUC: ("positives",),
}
ROW_WORDS = {"negatives": "non-toxic", "positives": "toxic", "examples": ""}


def rows_by_kind(count) -> dict[str, int]:
    """{"examples", "negatives", "positives"} from a count dict, or an int for all three."""
    if isinstance(count, dict):
        examples = int(count.get("examples", 0))
        return {k: int(count.get(k, examples)) for k in ("examples", "negatives", "positives")}
    return {"examples": int(count), "negatives": int(count), "positives": int(count)}


def _too_small(slice_counts, min_slice_size: int) -> dict[str, dict[str, int]]:
    """Group -> {row kind: count} for each kind of rows below min_slice_size."""
    small = {}
    for group, count in slice_counts.items():
        if group == OVERALL:
            continue
        rows = rows_by_kind(count)
        low = {kind: n for kind, n in rows.items() if n < min_slice_size}
        if low:
            small[group] = low
    return small


def _skip_reason(low: dict[str, int], min_slice_size: int) -> str:
    parts = []
    for kind, metric in (("negatives", "FPR"), ("positives", "FNR")):
        if kind in low:
            parts.append(f"{metric} not judged: {low[kind]} {ROW_WORDS[kind]} eval rows")
    if "examples" in low:
        parts = [f"{low['examples']} eval examples"]
    return f"{'; '.join(parts)}, fewer than min_slice_size {min_slice_size}"


def _rows_too_few(metric_name: str, groups: set[str], small: dict, absent: set[str]) -> bool:
    """True when every group of a failure lacks the rows its metric stands on."""
    if not groups:
        return False
    kinds = {"examples", *ROWS_OF_METRIC.get(metric_name, ())}
    return all(g in absent or kinds & set(small.get(g, {})) for g in groups)


def judge(
    validation_result,
    slice_counts: dict,
    min_slice_size: int,
    computed_cross_groups: set[str] = frozenset(),
    champion: str = CHAMPION,
) -> Verdict:
    """Bless when every TFMA failure concerns a group too small (or absent) to judge on the
    metric that failed.

    `slice_counts` maps "overall" and group names to eval row counts: an int, or a dict with
    "examples", "negatives" (FPR stands on these) and "positives" (FNR stands on these);
    `computed_cross_groups` names the groups whose cross-slice metrics TFMA computed.
    """
    small = _too_small(slice_counts, min_slice_size)
    skipped = {g: _skip_reason(low, min_slice_size) for g, low in small.items()}
    absent: set[str] = set()
    failures = []
    for missing in validation_result.missing_slices:
        group = group_of_slice(tuple((k, v) for k, v in missing.feature_values.items()))
        if group is not None:
            skipped.setdefault(group, "no eval examples")
            absent.add(group)
        else:
            failures.append(Failure(str(missing), "slice", None, "present", "slice missing"))
    for per_slice in validation_result.metric_validations_per_slice:
        slice_name, groups = _failure_slice(per_slice)
        cross = per_slice.HasField("cross_slice_key")
        for failure in per_slice.failures:
            name, where, involved = failure.metric_key.name, slice_name, groups
            if bias := bias_auc_of_metric(name):
                # Computed on the overall slice, about one group: judged by that group's rows.
                name, where, involved = bias[0], bias[1], {bias[1]}
            if _rows_too_few(name, involved, small, absent):
                continue
            failures.append(_failure(failure, where, cross, champion))
    failures += _missing_cross_slices(validation_result, computed_cross_groups, skipped)
    judged = [
        g
        for g in slice_counts
        if g != OVERALL
        and g not in absent
        and not {"negatives", "examples"} & set(small.get(g, {}))
    ]
    if slice_counts and not judged and OVERALL in slice_counts:
        # Nothing to judge fairness on: say so rather than bless silently.
        failures.append(
            Failure(
                OVERALL,
                EVAL_NO_GROUP,
                0,
                f">= 1 group with {min_slice_size}+ non-toxic eval rows",
            )
        )
    return Verdict(blessed=not failures, failures=failures, skipped=skipped)


def _missing_cross_slices(validation_result, computed_cross_groups, skipped) -> list[Failure]:
    # TFMA 0.47 reports every cross-slicing spec with a threshold as missing, even when it
    # computed and checked it (its missing-slice check reads only single-slice details), so a
    # cross slice counts as missing only when no cross-slice metrics exist for its group.
    missing = []
    for spec in validation_result.missing_cross_slices:
        for comparison in spec.slicing_specs:
            group = comparison.feature_values.get(IDENTITY_GROUP_KEY)
            if group is None or (group not in computed_cross_groups and group not in skipped):
                missing.append(
                    Failure(group, "gap (group - overall)", None, "present", "no eval data")
                )
    return missing


def _failure(failure, slice_name: str, cross: bool, champion: str = CHAMPION) -> Failure:
    value = failure.metric_value.double_value.value if failure.HasField("metric_value") else None
    if value is not None and math.isnan(value):
        value = None
    message = failure.message.strip()
    if value is None and not message and bias_auc_of_metric(failure.metric_key.name):
        message = "no value: its rows lack toxic or non-toxic examples"
    if cross and value is not None:
        # TFMA checks overall - group >= -gap; people read group - overall <= gap, as the
        # tables print it.
        value = -value
    return Failure(
        slice=slice_name,
        metric=_metric_label(failure.metric_key, cross, champion),
        value=value,
        bound=_bound_text(failure.metric_threshold, flip=cross),
        message=message,
    )


def _metric_row(values: dict) -> dict[str, float]:
    row = {}
    for key, metric in values.items():
        if isinstance(metric, dict) and "doubleValue" in metric:
            row[key] = metric["doubleValue"]
        elif isinstance(metric, dict) and "boundedValue" in metric:
            row[key] = metric["boundedValue"].get("value")
    return row


def _interval_row(values: dict) -> dict[str, list[float]]:
    """[lower, upper] of each metric TFMA gave a confidence interval (NaN bounds left out)."""
    row = {}
    for key, metric in values.items():
        bounded = metric.get("boundedValue") if isinstance(metric, dict) else None
        if bounded:
            lower, upper = finite(bounded.get("lowerBound")), finite(bounded.get("upperBound"))
            if lower is not None and upper is not None:
                row[key] = [lower, upper]
    return row


def _slice_intervals(eval_result) -> dict[str, dict[str, list[float]]]:
    from tensorflow_model_analysis.slicer import slicer_lib

    out = {}
    for slice_key, by_output in eval_result.slicing_metrics:
        if slicer_lib.is_cross_slice_key(slice_key):
            continue
        name = OVERALL if not slice_key else group_of_slice(slice_key)
        row = _interval_row((by_output or {}).get("", {}).get("", {}))
        if name is not None and row:
            out[name] = row
    return out


def load_eval_metrics(evaluation_uri: str, eval_result=None):
    """Per slice ("overall" or a group) metrics, and per group the cross-slice differences
    (overall minus group) that TFMA computed."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib

    slices: dict[str, dict[str, float]] = {}
    cross: dict[str, dict[str, float]] = {}
    eval_result = eval_result or tfma.load_eval_result(evaluation_uri)
    for slice_key, by_output in eval_result.slicing_metrics:
        row = _metric_row(by_output.get("", {}).get("", {}))
        if slicer_lib.is_cross_slice_key(slice_key):
            baseline, comparison = slice_key
            group = group_of_slice(comparison)
            if not baseline and group is not None:
                cross[group] = row
        elif not slice_key:
            slices[OVERALL] = row
        elif (group := group_of_slice(slice_key)) is not None:
            slices[group] = row
    return slices, cross


def row_counts(row: dict) -> dict[str, int]:
    """Examples, non-toxic rows and toxic rows of one slice, from its TFMA metrics."""
    examples = int(row.get(COUNT_METRIC, 0))
    counts = {"examples": examples}
    if TN_METRIC in row and FP_METRIC in row:
        counts["negatives"] = int(row[TN_METRIC] + row[FP_METRIC])
    if TP_METRIC in row and FN_METRIC in row:
        counts["positives"] = int(row[TP_METRIC] + row[FN_METRIC])
    return counts


def gate_from_evaluation(
    evaluation_uri: str, policy: GatePolicy, champion: dict | None = None
) -> Verdict:
    """The verdict on eval, judged by `policy` (the one the Evaluator's EvalConfig was built
    from). `champion` (champion_push) names the model the change checks compared with; its own
    figures on these eval rows are added to it."""
    import tensorflow_model_analysis as tfma

    min_slice_size = policy.min_slice_size
    eval_result = tfma.load_eval_result(evaluation_uri)
    slice_metrics, cross_metrics = load_eval_metrics(evaluation_uri, eval_result)
    counts = {name: row_counts(row) for name, row in slice_metrics.items()}
    verdict = judge(
        tfma.load_validation_result(evaluation_uri), counts, min_slice_size, set(cross_metrics),
        champion=champion_name(champion) if champion else CHAMPION,
    )  # fmt: skip
    if champion is not None:
        own = tfma.load_eval_result(evaluation_uri, model_name=TFMA_BASELINE)
        metrics, _ = load_eval_metrics(evaluation_uri, own)
        verdict.champion = {**champion, "figures": eval_figures(metrics, min_slice_size)}
    verdict.slice_metrics = slice_metrics
    verdict.slice_intervals = _slice_intervals(eval_result)
    verdict.policy = policy if champion is not None else policy.without_change_bounds()
    return verdict


def write_report(verdict: Verdict, directory: str) -> None:
    fileio.makedirs(directory)
    with fileio.open(os.path.join(directory, REPORT_FILE), "w") as f:
        f.write(json.dumps(verdict.to_json(), indent=2, sort_keys=True))
    with fileio.open(os.path.join(directory, TEXT_FILE), "w") as f:
        f.write(verdict.describe() + "\n")


def read_report(directory: str) -> dict:
    with fileio.open(os.path.join(directory, REPORT_FILE)) as f:
        return json.loads(f.read())


def champion_push(champion: Artifact | None) -> dict | None:
    """The champion's push as its ChampionBlessing records it (None when nothing was pushed
    before this run); a push older than these properties is "unknown"."""
    if champion is None:
        return None

    def text(key: str) -> str:
        value = champion.get_string_custom_property(key)
        return value or "unknown"

    version = text("pushed_version")
    pushed_at = (
        datetime.datetime.fromtimestamp(int(version), datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if version.isdigit()
        else "unknown"
    )
    return {
        "version": version,
        "candidate": text("candidate"),
        "pushed_at": pushed_at,
        "model_id": champion.get_int_custom_property("current_model_id"),
    }


@component
def FairnessGate(
    evaluation: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelEvaluation],
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    report: tfx.dsl.components.OutputArtifact[GateReport],
    challenge: tfx.dsl.components.InputArtifact[ChallengeResult] = None,
    base_evaluation: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.ModelEvaluation
    ] = None,
    base_challenge: tfx.dsl.components.InputArtifact[ChallengeResult] = None,
    policy: tfx.dsl.components.Parameter[str] = "{}",
    base_model: tfx.dsl.components.Parameter[str] = "",
    champion: tfx.dsl.components.InputArtifact[ChampionBlessing] = None,
):
    # The GatePolicy as JSON (GatePolicy.to_json); "{}" is the default policy.
    judged_by = GatePolicy.from_json(json.loads(policy))
    verdict = gate_from_evaluation(evaluation.uri, judged_by, champion_push(champion))
    verdict.operating_point = read_operating_point(path_utils.serving_model_path(model.uri))
    result = read_result(challenge.uri) if challenge is not None else None
    base = None
    if base_evaluation is not None:
        base_metrics, _ = load_eval_metrics(base_evaluation.uri)
        base_result = read_result(base_challenge.uri) if base_challenge is not None else None
        base = (base_model, base_metrics, base_result)
    certify(verdict, judged_by, result, base)
    write_report(verdict, report.uri)
    # The properties the Pusher and LatestBlessedModelStrategy read.
    blessing.set_int_custom_property("blessed", int(verdict.blessed))
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
    fileio.makedirs(blessing.uri)
    marker = os.path.join(blessing.uri, "BLESSED" if verdict.blessed else "NOT_BLESSED")
    with fileio.open(marker, "w") as f:
        f.write("")  # a write creates the file on every filesystem; an open alone may not
    print(verdict.describe())
