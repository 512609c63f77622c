"""The bias AUCs (components/bias_auc.py) as TFMA computes them inside an evaluation: equal to
scikit-learn's roc_auc_score on the same rows, no value where a set lacks a class, and a BPSN
floor that the gate explains."""

import argparse
import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import roc_auc_score

import rates
from components.bias_auc import BiasAUC, bias_values, power_mean
from components.gate import gate_from_evaluation
from components.policy import GatePolicy
from components.verdict import Verdict
from contract import (
    BIAS_AUC_KINDS,
    BIAS_SCORE_METRIC,
    BPSN_AUC,
    EXACT_AUC_METRIC,
    IDENTITY_GROUP_KEY,
    IDENTITY_GROUPS,
    LABEL_KEY,
    bias_auc_metric,
    power_mean_metric,
)
from pipeline.eval_config import build_eval_config
from runners import cli

SCORE_KEY = "score"
# Disability rows are all non-toxic (no subgroup or BNSP AUC); sexual_orientation is absent.
PRESENT = ("gender", "religion", "race", "disability")
POLICY = GatePolicy(
    min_auc=0.0, min_tpr=0.0, max_group_fpr=1.0, max_fpr_gap=1.0, max_fnr_gap=1.0,
    min_bpsn_auc=0.7, min_bnsp_auc=0.5, min_slice_size=30,
)  # fmt: skip


def make_rows(n: int = 2000, seed: int = 0):
    """Scores, labels and group masks: religion's non-toxic comments score high (a low BPSN
    AUC); scores are rounded to 0.01 so that many tie."""
    rng = np.random.default_rng(seed)
    members = {g: rng.random(n) < (0.1 if g == "disability" else 0.2) for g in PRESENT}
    labels = (rng.random(n) < 0.3) & ~members["disability"]
    scores = rng.normal(0.3 + 0.4 * labels, 0.15) + 0.3 * (members["religion"] & ~labels)
    return np.round(np.clip(scores, 0, 1), 2), labels, members


def write_examples(path, scores, labels, members) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, score in enumerate(scores):
            groups = [g.encode() for g in PRESENT if members[g][i]]
            feature = {
                LABEL_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[labels[i]])),
                SCORE_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[score])),
                IDENTITY_GROUP_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=groups)),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The project's EvalConfig run by TFMA on scored examples (no model: the score is a
    feature), as the Evaluator runs it."""
    folder = tmp_path_factory.mktemp("bias-auc")
    rows = make_rows()
    write_examples(folder / "eval.tfrecord", *rows)
    config = build_eval_config(POLICY)
    del config.model_specs[:]
    # A first run: no baseline model, so no change thresholds (the Evaluator rubber-stamps).
    for metric in config.metrics_specs[0].metrics:
        for per_slice in metric.per_slice_thresholds:
            per_slice.threshold.ClearField("change_threshold")
    config.model_specs.add(label_key=LABEL_KEY, prediction_key=SCORE_KEY)
    output = folder / "evaluation"
    tfma.run_model_analysis(
        eval_config=config, data_location=str(folder / "eval.tfrecord"), output_path=str(output)
    )
    overall = next(m for key, m in tfma.load_eval_result(str(output)).slicing_metrics if key == ())[
        ""
    ][""]
    values = {name: float(v["doubleValue"]) for name, v in overall.items() if "doubleValue" in v}
    return {"rows": rows, "overall": values, "output": str(output)}


def test_bias_aucs_agree_with_scikit_learn(evaluated):
    scores, labels, members = evaluated["rows"]
    overall = evaluated["overall"]
    expected = {}
    for group in ("gender", "religion", "race"):
        inside = members[group]
        sets = {
            "subgroup_auc": inside,
            "bpsn_auc": (labels & ~inside) | (~labels & inside),
            "bnsp_auc": (~labels & ~inside) | (labels & inside),
        }
        for kind, rows in sets.items():
            expected[bias_auc_metric(kind, group)] = roc_auc_score(labels[rows], scores[rows])
    disability = members["disability"]
    bpsn = (labels & ~disability) | disability
    expected[bias_auc_metric(BPSN_AUC, "disability")] = roc_auc_score(labels[bpsn], scores[bpsn])
    for name, value in expected.items():
        assert overall[name] == pytest.approx(value, abs=1e-6), name
    assert overall[EXACT_AUC_METRIC] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
    means = []
    for kind in BIAS_AUC_KINDS:
        aucs = np.array([v for k, v in expected.items() if k.startswith(kind + "/")])
        means.append(np.mean(aucs**-5) ** (1 / -5))
        assert overall[power_mean_metric(kind)] == pytest.approx(means[-1], abs=1e-6), kind
    score = 0.25 * roc_auc_score(labels, scores) + 0.75 * np.mean(means)
    assert overall[BIAS_SCORE_METRIC] == pytest.approx(score, abs=1e-6)
    # Religion's non-toxic comments score like toxic ones: its BPSN AUC is the lowest.
    others = ("gender", "race", "disability")
    assert overall["bpsn_auc/religion"] < 0.7 < min(overall[f"bpsn_auc/{g}"] for g in others)


def test_a_set_without_toxic_or_non_toxic_rows_has_no_value(evaluated):
    overall = evaluated["overall"]
    assert math.isnan(overall["subgroup_auc/disability"])
    assert math.isnan(overall["bnsp_auc/disability"])
    assert not math.isnan(overall["bpsn_auc/disability"])
    for kind in BIAS_AUC_KINDS:
        assert math.isnan(overall[bias_auc_metric(kind, "sexual_orientation")])
    assert (
        rates.auc([0.1, 0.9], np.zeros(2, bool), missing=None) is None
        and power_mean([None, None]) is None
    )
    no_toxic = bias_values(np.array([0.2, 0.4]), np.array([False, False]), {"race": [True, False]})
    assert set(no_toxic.values()) == {None}


def test_the_combiner_collects_rows_without_positives_without_failing():
    """TFMA's own computations on in-memory extracts: the shared combiner, then the derived
    values; a slice without toxic rows gives NaN, not an error."""
    spec = tfma.ModelSpec(label_key=LABEL_KEY, prediction_key=SCORE_KEY)
    computations = BiasAUC(groups=["religion", "race"]).computations(
        eval_config=tfma.EvalConfig(model_specs=[spec]), model_names=[""], output_names=[""]
    )
    shared, derived = computations
    accumulator = shared.combiner.create_accumulator()
    for score, groups in ((0.2, [b"religion"]), (0.7, []), (0.4, [b"race", b"religion"])):
        inputs = tfma.metrics.StandardMetricInputs(
            labels=np.array([0.0]),
            predictions=np.array([score]),
            features={IDENTITY_GROUP_KEY: np.array(groups, dtype=object)},
        )
        accumulator = shared.combiner.add_input(accumulator, inputs)
    merged = shared.combiner.merge_accumulators([accumulator, shared.combiner.create_accumulator()])
    values = {k.name: v for k, v in derived.result(shared.combiner.extract_output(merged)).items()}
    assert len(values) == 3 * 2 + 3 + 2 and all(math.isnan(v) for v in values.values())


def test_a_bpsn_floor_fails_with_a_readable_message(evaluated):
    verdict = gate_from_evaluation(evaluated["output"], POLICY)
    # Judged without a champion: the record keeps the policy but its change bounds.
    assert verdict.policy == POLICY.without_change_bounds()
    assert not verdict.blessed
    [failure] = verdict.failures
    assert failure.slice == "religion" and failure.bound == ">= 0.7"
    assert failure.value == pytest.approx(evaluated["overall"]["bpsn_auc/religion"])
    assert failure.metric.startswith("BPSN AUC (toxic rows outside the group")
    text = verdict.describe()
    assert f"BPSN AUC (toxic rows outside the group against the group's non-toxic rows) on religion = {failure.value:.4f}, bound: >= 0.7" in text  # fmt: skip
    # Disability has no toxic rows: its BNSP floor is not judged rather than failed.
    assert "FNR not judged: 0 toxic eval rows" in verdict.skipped["disability"]
    assert verdict.skipped["sexual_orientation"] == "no eval examples"


def test_floors_are_off_by_default_and_each_bounds_every_judged_group():
    def bias_configs(policy):
        metrics = build_eval_config(policy).metrics_specs[0].metrics
        return [m for m in metrics if m.class_name == "BiasAUC"]

    [plain] = bias_configs(GatePolicy())
    assert not plain.per_slice_thresholds
    assert json.loads(plain.config) == {"name": BIAS_SCORE_METRIC, "groups": list(IDENTITY_GROUPS)}
    bounded = bias_configs(GatePolicy(min_bpsn_auc=0.8, groups=("race", "religion")))
    names = [json.loads(m.config)["name"] for m in bounded]
    assert names == [BIAS_SCORE_METRIC, "bpsn_auc/race", "bpsn_auc/religion"]
    [floor] = bounded[1].per_slice_thresholds
    assert list(floor.slicing_specs) == [tfma.SlicingSpec()]  # on overall, where it is computed
    assert floor.threshold.value_threshold.lower_bound.value == 0.8
    with pytest.raises(ValueError, match="min_bpsn_auc must be between 0 and 1"):
        GatePolicy(min_bpsn_auc=1.5)


def _recorded(policy: GatePolicy) -> GatePolicy:
    """The policy as a gate report's reader gets it back from the verdict record's JSON."""
    record = json.loads(json.dumps(Verdict(blessed=True, policy=policy).to_json()))
    return Verdict.from_json(record).policy


def test_the_floors_are_read_back_from_the_verdict_record():
    policy = GatePolicy(min_bpsn_auc=0.8, min_bias_score=0.7)
    bounds = _recorded(policy)
    assert (bounds.min_bpsn_auc, bounds.min_bias_score) == (0.8, 0.7)
    assert (bounds.min_subgroup_auc, bounds.min_bnsp_auc) == (None, None)
    assert "each group's BPSN AUC >= 0.8 (threshold-free)" in bounds.lines()
    assert "the bias score >= 0.7 (threshold-free)" in bounds.lines()
    plain = _recorded(GatePolicy())
    assert plain.min_bpsn_auc is None and plain.min_bias_score is None


def test_the_command_line_sets_the_floors():
    parser = argparse.ArgumentParser()
    cli.add_gate_and_training_arguments(parser)
    defaults = parser.parse_args([])
    assert (defaults.min_subgroup_auc, defaults.min_bpsn_auc, defaults.min_bnsp_auc) == (None,) * 3
    assert defaults.min_bias_score is None
    args = parser.parse_args(["--min-bpsn-auc", "0.7", "--min-bias-score", "0.8"])
    assert (args.min_bpsn_auc, args.min_bias_score) == (0.7, 0.8)
    with pytest.raises(SystemExit):
        parser.parse_args(["--min-bnsp-auc", "2"])


def test_an_unknown_metric_name_is_refused():
    with pytest.raises(ValueError, match="BiasAUC name 'bpsn_auc/martians' is none of its keys"):
        BiasAUC(name="bpsn_auc/martians")


def test_the_report_shows_them_per_group_beside_the_rates(evaluated):
    from report.html import render_html
    from report.results import RunResult
    from report.values import slice_rows

    slices = slice_rows(tfma.load_eval_result(evaluated["output"]).slicing_metrics)
    run = RunResult(name="candidate", slices=slices)
    assert run.bias_aucs("religion")[BPSN_AUC].value == pytest.approx(
        evaluated["overall"]["bpsn_auc/religion"]
    )
    page = render_html([run], {}, "now")
    assert (
        "<th>FPR - overall FPR</th><th>subgroup AUC</th><th>BPSN AUC</th><th>BNSP AUC</th>" in page
    )
    religion = re.search(r"<tr><td class=name>religion</td>.*?</tr>", page).group(0)
    assert f"<td>{evaluated['overall']['bpsn_auc/religion']:.3f}</td>" in religion
    disability = re.search(r"<tr><td class=name>disability</td>.*?</tr>", page).group(0)
    assert disability.count("<td>no value</td>") == 2  # no toxic rows: no subgroup or BNSP AUC
    assert f"Bias score {evaluated['overall'][BIAS_SCORE_METRIC]:.3f} = 0.25" in page
    assert run.summary()["bias_score"] == pytest.approx(evaluated["overall"][BIAS_SCORE_METRIC])
