"""BiasAUC: the threshold-free bias AUCs of Borkan et al. 2019 as a TFMA metric.

Per identity group: the subgroup AUC (rows mentioning the group), the BPSN AUC (toxic rows not
mentioning it with non-toxic rows mentioning it) and the BNSP AUC (non-toxic rows not mentioning
it with toxic rows mentioning it); per kind, the generalised mean over groups with p = -5; and
the final Jigsaw score, 0.25 * overall AUC + 0.75 * the mean of the three power means.

A slice's rows are all its combiner sees, so the values are read on the overall slice (TFMA
computes them on the group slices too, where the background is the rest of that group's rows).
The AUCs are exact (`rates.auc`): one combiner collects every row's score, label and groups and
ranks them, ties averaged as scikit-learn does, instead of TFMA's thresholded histogram. A set
without toxic or without non-toxic rows has no AUC: its value is NaN, and a power mean skips it.

TFMA applies a MetricConfig's thresholds to the key named like the metric, so each bounded key
is one BiasAUC with that `name`; every instance with the same groups shares one combiner (TFMA
de-duplicates equal computations) and emits every key.
"""

from __future__ import annotations

import functools
import math

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

import rates
from contract import (
    BIAS_AUC_KINDS,
    BIAS_AUC_POWER,
    BIAS_SCORE_METRIC,
    BNSP_AUC,
    BPSN_AUC,
    EXACT_AUC_METRIC,
    IDENTITY_GROUP_KEY,
    IDENTITY_GROUPS,
    SUBGROUP_AUC,
    bias_auc_metric,
    power_mean_metric,
)

# The overall AUC's weight in the final score (the three power means share the rest).
OVERALL_WEIGHT = 0.25


def group_aucs(scores, labels, inside) -> dict[str, float | None]:
    """The three bias AUCs of one group (None where a set lacks toxic or non-toxic rows);
    `labels` marks the toxic rows, `inside` the rows that mention the group."""
    scores, labels, inside = np.asarray(scores), np.asarray(labels, bool), np.asarray(inside, bool)
    bpsn = (labels & ~inside) | (~labels & inside)
    bnsp = (~labels & ~inside) | (labels & inside)
    return {
        SUBGROUP_AUC: rates.auc(scores[inside], labels[inside], missing=None),
        BPSN_AUC: rates.auc(scores[bpsn], labels[bpsn], missing=None),
        BNSP_AUC: rates.auc(scores[bnsp], labels[bnsp], missing=None),
    }


def power_mean(values, power: float = BIAS_AUC_POWER) -> float | None:
    """(mean of m^p)^(1/p) over the values there are; None when there is none."""
    present = np.asarray([v for v in values if v is not None], np.float64)
    if present.size == 0:
        return None
    if power < 0 and np.any(present == 0):
        return 0.0  # m^p is infinite: the mean's 1/p-th power goes to 0
    return float(np.mean(present**power) ** (1.0 / power))


def bias_values(scores, labels, members: dict, power: float = BIAS_AUC_POWER) -> dict:
    """Every value by metric name (None where there is none), from each row's score, label
    (toxic or not) and, per group, whether the row mentions it."""
    values: dict[str, float | None] = {}
    for group, inside in members.items():
        for kind, auc in group_aucs(scores, labels, inside).items():
            values[bias_auc_metric(kind, group)] = auc
    means = []
    for kind in BIAS_AUC_KINDS:
        mean = power_mean([values[bias_auc_metric(kind, g)] for g in members], power)
        values[power_mean_metric(kind)] = mean
        means.append(mean)
    overall = rates.auc(scores, np.asarray(labels, bool), missing=None)
    values[EXACT_AUC_METRIC] = overall
    values[BIAS_SCORE_METRIC] = (
        None
        if overall is None or None in means
        else OVERALL_WEIGHT * overall + (1 - OVERALL_WEIGHT) * float(np.mean(means))
    )
    return values


def metric_names(groups) -> list[str]:
    names = [bias_auc_metric(kind, g) for kind in BIAS_AUC_KINDS for g in groups]
    return [*names, *map(power_mean_metric, BIAS_AUC_KINDS), EXACT_AUC_METRIC, BIAS_SCORE_METRIC]


class BiasAUC(metric_types.Metric):
    """The bias AUCs; `name` is the key a MetricConfig's thresholds apply to."""

    def __init__(
        self,
        name: str = BIAS_SCORE_METRIC,
        groups=IDENTITY_GROUPS,
        group_key: str = IDENTITY_GROUP_KEY,
        power: float = BIAS_AUC_POWER,
    ):
        groups = list(groups)
        if name not in metric_names(groups):
            raise ValueError(
                f"BiasAUC name {name!r} is none of its keys; use one of {metric_names(groups)}"
            )
        super().__init__(
            _bias_auc_computations, name=name, groups=groups, group_key=group_key, power=power
        )


def _bias_auc_computations(
    name: str,
    groups: list[str],
    group_key: str,
    power: float,
    eval_config=None,
    model_names=None,
    output_names=None,
    sub_keys=None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    del name  # every instance emits every key; the name only selects thresholds
    if example_weighted:
        raise ValueError("BiasAUC is unweighted: give its MetricsSpec no example weights")
    shared_name = f"_bias_auc:{power:g}:{group_key}:{','.join(groups)}"
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            for sub_key in sub_keys or [None]:
                key = functools.partial(
                    metric_types.MetricKey,
                    model_name=model_name,
                    output_name=output_name,
                    sub_key=sub_key,
                    example_weighted=example_weighted,
                )
                shared = key(shared_name)
                combiner = _BiasAUCCombiner(
                    shared, groups, group_key, power, eval_config, model_name, output_name, sub_key
                )
                # With a baseline model, transformed features sit under each model's name.
                preprocessor = metric_types.CombinedFeaturePreprocessor(
                    feature_keys=[group_key], model_names=[model_name] if model_name else None
                )
                public = {metric: key(metric) for metric in metric_names(groups)}
                computations += [
                    metric_types.MetricComputation([shared], [preprocessor], combiner),
                    metric_types.DerivedMetricComputation(
                        list(public.values()), _PublicValues(shared, public)
                    ),
                ]
    return computations


class _Rows:
    """Every row of a slice: score, toxic or not, and its groups as a bit mask."""

    __slots__ = ("scores", "labels", "masks")

    def __init__(self):
        self.scores: list[float] = []
        self.labels: list[bool] = []
        self.masks: list[int] = []


def _values_of(feature) -> list:
    """The strings of one row's (possibly sparse) multi-valued feature."""
    if feature is None:
        return []
    values = getattr(feature, "values", feature)
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(values)]


class _BiasAUCCombiner(beam.CombineFn):
    def __init__(
        self, key, groups, group_key, power, eval_config, model_name, output_name, sub_key
    ):
        self._key = key
        self._bits = {group: 1 << i for i, group in enumerate(groups)}
        self._group_key = group_key
        self._power = power
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name
        self._sub_key = sub_key

    def create_accumulator(self) -> _Rows:
        return _Rows()

    def add_input(self, rows: _Rows, element: metric_types.StandardMetricInputs) -> _Rows:
        features = element.get_combined_features(self._model_name)
        mask = 0
        for group in _values_of(features.get(self._group_key)):
            mask |= self._bits.get(group, 0)
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=self._model_name,
            output_name=self._output_name,
            sub_key=self._sub_key,
        ):
            rows.scores.append(float(np.ravel(prediction)[0]))
            # Toxic as the Transform labels it: a toxicity of at least 0.5.
            rows.labels.append(float(np.ravel(label)[0]) >= 0.5)
            rows.masks.append(mask)
        return rows

    def merge_accumulators(self, accumulators) -> _Rows:
        merged = _Rows()
        for rows in accumulators:
            merged.scores += rows.scores
            merged.labels += rows.labels
            merged.masks += rows.masks
        return merged

    def extract_output(self, rows: _Rows) -> dict:
        masks = np.asarray(rows.masks, np.int64)
        members = {group: (masks & bit) != 0 for group, bit in self._bits.items()}
        values = bias_values(
            np.asarray(rows.scores, np.float64), np.asarray(rows.labels, bool), members, self._power
        )
        return {self._key: values}


class _PublicValues:
    """Derived computation: the shared combiner's values under their own keys, NaN for none."""

    def __init__(self, shared_key, public_keys: dict):
        self._shared_key = shared_key
        self._public_keys = public_keys

    def __call__(self, metrics: dict) -> dict:
        values = metrics[self._shared_key]
        return {
            key: math.nan if values[name] is None else values[name]
            for name, key in self._public_keys.items()
        }
