"""The gate's policy (components/policy.py): recorded with the verdict and read back as itself,
carried bound by bound into the EvalConfig, and read from gate reports written before the
policy record."""

import json

import pytest

from components.policy import CHANGE_BOUNDS, GatePolicy
from components.verdict import Verdict
from pipeline.eval_config import build_eval_config

EVERY_FIELD = GatePolicy(
    max_group_fpr=0.21, max_fpr_gap=0.06, max_fnr_gap=0.16, min_auc=0.71, min_tpr=0.22,
    max_auc_drop=0.03, max_group_fpr_increase=0.04, max_tpr_drop=0.11, min_slice_size=25,
    min_subgroup_auc=0.61, min_bpsn_auc=0.62, min_bnsp_auc=0.63, min_bias_score=0.64,
    groups=("race", "religion"), fairness_thresholds=(0.2, 0.4), max_suite_group_fpr=0.12,
    max_suite_term_fpr=0.23, max_flip_rate=0.07, min_suite_recall=0.24, max_suite_fnr_gap=0.17,
    no_harm=False,
)  # fmt: skip


def test_every_field_differs_from_its_default():
    # Else a field the record dropped would still read back equal.
    default = GatePolicy()
    assert [k for k, v in EVERY_FIELD.to_json().items() if getattr(default, k) == v] == []


@pytest.mark.parametrize("policy", [EVERY_FIELD, GatePolicy(), EVERY_FIELD.without_change_bounds()])
def test_a_policy_round_trips_through_its_json_and_the_verdict_record(policy):
    assert GatePolicy.from_json(json.loads(json.dumps(policy.to_json()))) == policy
    record = json.loads(json.dumps(Verdict(blessed=True, policy=policy).to_json()))
    assert Verdict.from_json(record).policy == policy


def test_an_empty_policy_is_the_default_and_no_policy_is_none():
    # The FairnessGate's parameter defaults to "{}"; a record without policy or bounds has none.
    assert GatePolicy.from_json({}) == GatePolicy()
    assert Verdict.from_json({"blessed": True}).policy is None


def test_without_a_champion_no_change_bound_applies():
    judged = EVERY_FIELD.without_change_bounds()
    assert [getattr(judged, name) for name in CHANGE_BOUNDS] == [None, None, None]
    assert judged.max_fpr_gap == EVERY_FIELD.max_fpr_gap
    drops = [line for line in EVERY_FIELD.lines() if "vs. the last blessed model" in line]
    assert drops == [
        "AUC drop vs. the last blessed model <= 0.03",
        "group FPR rise vs. the last blessed model <= 0.04",
        "recall drop vs. the last blessed model <= 0.11",
    ]
    assert [line for line in judged.lines() if line in drops] == []
    # The EvalConfig of such a policy has no change threshold at all.
    config = build_eval_config(judged)
    for metric in config.metrics_specs[0].metrics:
        assert not any(
            t.threshold.HasField("change_threshold") for t in metric.per_slice_thresholds
        )


def _thresholds(config) -> dict[tuple[str, str], float]:
    """(metric, where) -> bound: each bound the EvalConfig holds, named by its metric class (a
    BiasAUC by the key it bounds) and by whether it is a per-slice floor, ceiling or change bound
    or a cross-slice (overall - group) floor."""
    found = {}
    for metric in config.metrics_specs[0].metrics:
        name = json.loads(metric.config or "{}").get("name", metric.class_name)
        for per_slice in metric.per_slice_thresholds:
            value, change = per_slice.threshold.value_threshold, per_slice.threshold
            if value.HasField("lower_bound"):
                found[name, "floor"] = value.lower_bound.value
            if value.HasField("upper_bound"):
                found[name, "ceiling"] = value.upper_bound.value
            if change.HasField("change_threshold"):
                found[name, "change"] = change.change_threshold.absolute.value
        for cross in metric.cross_slice_thresholds:
            found[name, "cross floor"] = cross.threshold.value_threshold.lower_bound.value
    return found


def test_the_eval_config_carries_every_bound_of_the_policy():
    config = build_eval_config(EVERY_FIELD, compute_confidence_intervals=True)
    assert _thresholds(config) == pytest.approx({
        ("FallOut", "ceiling"): 0.21, ("FallOut", "change"): 0.04,
        # Checked as overall - group >= -gap.
        ("FallOut", "cross floor"): -0.06, ("MissRate", "cross floor"): -0.16,
        ("AUC", "floor"): 0.71, ("AUC", "change"): -0.03,
        ("Recall", "floor"): 0.22, ("Recall", "change"): -0.11,
        ("bias_score", "floor"): 0.64,
        **{(f"{kind}/{group}", "floor"): floor
           for kind, floor in (("subgroup_auc", 0.61), ("bpsn_auc", 0.62), ("bnsp_auc", 0.63))
           for group in ("race", "religion")},
    })  # fmt: skip
    metrics = {m.class_name: m for m in config.metrics_specs[0].metrics}
    # Every rate at the operating point: the evaluation signature's score crosses 0.5 there.
    assert json.loads(metrics["FallOut"].config) == {"thresholds": [0.5]}
    assert json.loads(metrics["FairnessIndicators"].config)["thresholds"] == [0.2, 0.4]
    groups = [s.feature_values["identity_group"] for s in config.slicing_specs[1:]]
    assert groups == ["race", "religion"]
    assert config.options.compute_confidence_intervals.value is True
    assert build_eval_config(GatePolicy()).options.compute_confidence_intervals.value is False


def test_a_gate_report_before_the_policy_record_reads_its_bounds():
    # Written before the policy record, without a champion: the bounds read back from the
    # EvalConfig (change bounds left out), the suite's under their own names.
    bounds = {
        "decision_threshold": 0.5, "max_group_fpr": 0.21, "max_fpr_gap": 0.06,
        "max_fnr_gap": 0.16, "min_auc": 0.71, "min_tpr": 0.22, "max_tpr_drop": None,
        "max_auc_drop": None, "max_group_fpr_increase": None, "min_slice_size": 25,
        "groups": ["race", "religion"], "fairness_thresholds": [0.2, 0.4],
        "confidence_intervals": True, "min_subgroup_auc": 0.61, "min_bpsn_auc": 0.62,
        "min_bnsp_auc": 0.63, "min_bias_score": 0.64,
        "suite": {"max_group_fpr": 0.12, "max_term_fpr": 0.23, "max_flip_rate": 0.07,
                  "min_recall": 0.24, "max_fnr_gap": 0.17, "min_rows": 25, "no_harm": False},
    }  # fmt: skip
    policy = Verdict.from_json({"blessed": True, "bounds": bounds}).policy
    assert policy == EVERY_FIELD.without_change_bounds()


def test_a_bound_outside_0_1_and_an_unknown_group_are_refused():
    with pytest.raises(ValueError, match="max_fpr_gap must be between 0 and 1, got 2"):
        GatePolicy(max_fpr_gap=2)
    with pytest.raises(ValueError, match="max_tpr_drop must be between 0 and 1, got -0.1"):
        GatePolicy(max_tpr_drop=-0.1)
    with pytest.raises(ValueError, match="min_slice_size must be at least 1, got 0"):
        GatePolicy(min_slice_size=0)
    with pytest.raises(ValueError, match=r"unknown identity group\(s\) \['martians'\]"):
        GatePolicy(groups=("martians",))


def test_the_suite_lines_name_the_suite_bounds():
    assert EVERY_FIELD.suite_lines() == [
        "on the challenge suite, each group's FPR <= 0.12 (madlibs, functional, Wikipedia "
        "identity set; 25+ non-toxic rows)",
        "each madlibs identity term's FPR <= 0.23",
        "flip rate under identity swaps <= 0.07",
        "recall on the functional suite's toxic statements >= 0.24",
        "each group's FNR - overall FNR on the madlibs toxic templates <= 0.17",
    ]
    assert GatePolicy().suite_lines()[-1] == (
        "no group's FPR, on eval or the suite, above the base model's beyond noise"
    )
