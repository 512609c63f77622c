"""The gate's bounds as the Evaluator applied them, read back from the EvalConfig stored with
each evaluation (see pipeline/eval_config.py). The FairnessGate records them in its report, so
the model card and the fairness report show the bounds a model was judged by rather than
today's defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass

from contract import BIAS_SCORE_METRIC, IDENTITY_GROUP_KEY, bias_auc_of_metric


@dataclass(frozen=True)
class GateBounds:
    """The gate's bounds as the Evaluator applied them (read back from its EvalConfig)."""

    decision_threshold: float = 0.5
    max_group_fpr: float | None = None
    max_fpr_gap: float | None = None
    max_fnr_gap: float | None = None
    min_auc: float | None = None
    min_tpr: float | None = None
    max_tpr_drop: float | None = None
    # Change thresholds exist only when the Evaluator had a baseline model to compare with.
    max_auc_drop: float | None = None
    max_group_fpr_increase: float | None = None
    min_slice_size: int | None = None
    groups: tuple[str, ...] = ()
    fairness_thresholds: tuple[float, ...] = ()
    confidence_intervals: bool = False
    # Floors on the threshold-free bias AUCs (docs/bias_auc.md), when the run set them.
    min_subgroup_auc: float | None = None
    min_bpsn_auc: float | None = None
    min_bnsp_auc: float | None = None
    min_bias_score: float | None = None

    def lines(self) -> list[str]:
        out = []
        out.append("every rate at each model's own operating point")
        if self.min_auc is not None:
            out.append(f"overall AUC >= {self.min_auc:g}")
        if self.min_tpr is not None:
            out.append(f"overall recall (TPR) >= {self.min_tpr:g}")
        if self.max_group_fpr is not None:
            out.append(f"each group's FPR <= {self.max_group_fpr:g}")
        if self.max_fpr_gap is not None:
            out.append(f"each group's FPR - overall FPR <= {self.max_fpr_gap:g}")
        if self.max_fnr_gap is not None:
            out.append(f"each group's FNR - overall FNR <= {self.max_fnr_gap:g}")
        if self.max_auc_drop is not None:
            out.append(f"AUC drop vs. the last blessed model <= {self.max_auc_drop:g}")
        if self.max_group_fpr_increase is not None:
            out.append(
                f"group FPR rise vs. the last blessed model <= {self.max_group_fpr_increase:g}"
            )
        if self.max_tpr_drop is not None:
            out.append(f"recall drop vs. the last blessed model <= {self.max_tpr_drop:g}")
        for name, what in (
            ("min_subgroup_auc", "each group's subgroup AUC"),
            ("min_bpsn_auc", "each group's BPSN AUC"),
            ("min_bnsp_auc", "each group's BNSP AUC"),
            ("min_bias_score", "the bias score"),
        ):
            if getattr(self, name) is not None:
                out.append(f"{what} >= {getattr(self, name):g} (threshold-free)")
        if self.min_slice_size is not None:
            out.append(
                f"a group's FPR on fewer than {self.min_slice_size} non-toxic eval rows, or its "
                "FNR on fewer toxic rows: not judged"
            )
        return out


def _thresholds_of(metric_config) -> list[float]:
    try:
        parsed = json.loads(metric_config.config or "{}")
    except ValueError:
        return []
    if "thresholds" in parsed:
        return [float(t) for t in parsed["thresholds"]]
    return [float(parsed["threshold"])] if "threshold" in parsed else []


def _fall_out_bounds(metric, found: dict) -> None:
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


def _floor_and_drop(metric, found: dict, floor: str, drop: str) -> None:
    """An overall floor and its change bound against the champion (AUC, recall)."""
    for per_slice in metric.per_slice_thresholds:
        threshold = per_slice.threshold
        if threshold.value_threshold.HasField("lower_bound"):
            found[floor] = threshold.value_threshold.lower_bound.value
        if threshold.HasField("change_threshold"):
            found[drop] = -threshold.change_threshold.absolute.value


def _bias_auc_bounds(metric, found: dict) -> None:
    """A BiasAUC config's floor: on the key it names ("bpsn_auc/race" or "bias_score")."""
    name = json.loads(metric.config or "{}").get("name", BIAS_SCORE_METRIC)
    bias = bias_auc_of_metric(name)
    field = f"min_{bias[0]}" if bias else "min_bias_score" if name == BIAS_SCORE_METRIC else None
    for per_slice in metric.per_slice_thresholds:
        if field and per_slice.threshold.value_threshold.HasField("lower_bound"):
            found[field] = per_slice.threshold.value_threshold.lower_bound.value


def bounds_from_eval_config(eval_config, min_slice_size: int | None = None) -> GateBounds:
    """The gate's bounds from the EvalConfig stored with an evaluation (see eval_config.py)."""
    found: dict = {"min_slice_size": min_slice_size}
    found["groups"] = tuple(
        group
        for spec in eval_config.slicing_specs
        if (group := spec.feature_values.get(IDENTITY_GROUP_KEY))
    )
    options = eval_config.options
    found["confidence_intervals"] = bool(
        options.HasField("compute_confidence_intervals")
        and options.compute_confidence_intervals.value
    )
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.class_name == "FallOut":
                _fall_out_bounds(metric, found)
            elif metric.class_name == "AUC":
                _floor_and_drop(metric, found, "min_auc", "max_auc_drop")
            elif metric.class_name == "Recall":
                _floor_and_drop(metric, found, "min_tpr", "max_tpr_drop")
            elif metric.class_name == "MissRate":
                for cross in metric.cross_slice_thresholds:
                    if cross.threshold.value_threshold.HasField("lower_bound"):
                        found["max_fnr_gap"] = -cross.threshold.value_threshold.lower_bound.value
            elif metric.class_name == "FairnessIndicators":
                found["fairness_thresholds"] = tuple(_thresholds_of(metric))
            elif metric.class_name == "BiasAUC":
                _bias_auc_bounds(metric, found)
    return GateBounds(**found)
