"""The Selector: the rule picks among blessed candidates only, and only the winner is copied
and blessed for the Pusher."""

import json
import os

import pytest
from tfx.types import standard_artifacts

from components import gate, selector
from components.policy import GatePolicy
from components.selector import CandidateRow, select
from pipeline.config import SelectionPolicy

RULE = SelectionPolicy().to_json()


def row(name, blessed, gap, auc):
    return CandidateRow(name=name, blessed=blessed, auc=auc, tpr=0.5, max_group_fpr_gap=gap)


def test_a_refused_candidate_is_never_selected_even_with_the_best_figures():
    rows = [row("baseline", False, 0.0, 0.99), row("tfco", True, 0.04, 0.80)]
    decision = select(rows, RULE)
    assert decision.winner == "tfco"
    assert "among the 1 blessed candidate(s)" in decision.why


def test_gaps_within_the_tie_margin_are_decided_by_auc():
    rows = [row("a", True, 0.010, 0.80), row("b", True, 0.025, 0.86), row("c", True, 0.05, 0.95)]
    decision = select(rows, {**RULE, "tie_margin": 0.02})
    # c has the best AUC but its gap is outside the margin of the smallest (0.010).
    assert decision.winner == "b" and "ahead of a" in decision.why
    assert select(rows, {**RULE, "tie_margin": 0.0}).winner == "a"


def test_with_no_blessed_candidate_there_is_no_winner():
    decision = select([row("a", False, 0.0, 0.9)], RULE)
    assert decision.winner is None
    # With nothing pushed before, no champion "stays".
    assert decision.describe().endswith(
        "No candidate was blessed: nothing is pushed; there is no champion (nothing was pushed "
        "before)."
    )
    push = {"version": "17", "candidate": "tfco", "pushed_at": "1970-01-01 00:00 UTC"}
    kept = select([row("a", False, 0.0, 0.9)], RULE, champion=push)
    assert kept.why == (
        "No candidate was blessed: nothing is pushed and the champion (version 17, candidate "
        "tfco, pushed at 1970-01-01 00:00 UTC) stays."
    )


def gate_report(fpr_by_group, negatives_by_group, blessed=True):
    slices = {"overall": {"fall_out": 0.05, "miss_rate": 0.3, "auc": 0.9, "recall": 0.7}}
    for group, fpr in fpr_by_group.items():
        negatives = negatives_by_group[group]
        slices[group] = {
            "fall_out": fpr, "miss_rate": 0.3, "true_negatives": negatives * (1 - fpr),
            "false_positives": negatives * fpr, "true_positives": 50, "false_negatives": 20,
        }  # fmt: skip
    failures = [] if blessed else [
        {"slice": "overall", "metric": "auc", "value": 0.5, "bound": ">= 0.75", "message": ""}
    ]  # fmt: skip
    return {"blessed": blessed, "failures": failures, "skipped": {}, "slice_metrics": slices,
            "policy": GatePolicy(min_slice_size=30).to_json()}  # fmt: skip


def test_the_gap_counts_only_groups_with_enough_non_toxic_rows():
    report = gate_report({"race": 0.30, "religion": 0.12}, {"race": 10, "religion": 100})
    candidate = selector.candidate_row("x", report, True)
    assert candidate.judged_groups == ["religion"]
    assert candidate.max_group_fpr_gap == pytest.approx(0.07)


def artifact(kind, uri, **props):
    a = kind()
    a.uri = str(uri)
    for key, value in props.items():
        if isinstance(value, int):
            a.set_int_custom_property(key, value)
        else:
            a.set_string_custom_property(key, value)
    return a


def candidate_inputs(tmp_path, name, report):
    model = tmp_path / name / "model"
    (model / "Format-Serving").mkdir(parents=True)
    (model / "Format-Serving" / "saved_model.pb").write_text(name)
    reports = tmp_path / name / "report"
    gate.write_report(gate.Verdict.from_json(report), str(reports))
    blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / name / "blessing",
                        blessed=int(report["blessed"]), current_model=str(model),
                        current_model_id=len(name))  # fmt: skip
    return {
        selector.report_key(name): [artifact(gate.GateReport, reports)],
        selector.blessing_key(name): [blessing],
    }


def selector_outputs(out) -> dict:
    return {
        "model": [artifact(standard_artifacts.Model, out / "model")],
        "blessing": [artifact(standard_artifacts.ModelBlessing, out / "blessing")],
        "selection": [artifact(selector.SelectionReport, out / "selection")],
        "report": [artifact(gate.GateReport, out / "report")],
    }


def test_the_executor_copies_and_blesses_only_the_winner(tmp_path):
    inputs = {
        # The refused candidate has the smaller gap: it must still lose.
        **candidate_inputs(tmp_path, "baseline", gate_report({"religion": 0.05}, {"religion": 99}, False)),
        **candidate_inputs(tmp_path, "tfco", gate_report({"religion": 0.09}, {"religion": 99})),
    }  # fmt: skip
    out = tmp_path / "out"
    outputs = selector_outputs(out)
    properties = {"rule": json.dumps(RULE), "candidates": json.dumps(["baseline", "tfco"])}
    selector.Executor().Do(inputs, outputs, properties)
    decision = selector.read_decision(str(out / "selection"))
    assert decision["winner"] == "tfco"
    assert [c["name"] for c in decision["candidates"]] == ["baseline", "tfco"]
    assert decision["candidates"][0]["reasons"] == [
        "failed: auc on overall = 0.5000, bound: >= 0.75"
    ]
    copied = out / "model" / "Format-Serving" / "saved_model.pb"
    assert copied.read_text() == "tfco"
    blessing = outputs["blessing"][0]
    assert blessing.get_int_custom_property("blessed") == 1
    assert outputs["model"][0].get_string_custom_property("candidate") == "tfco"
    # The champion the Pusher will name is tfco's own Trainer model (id 4 here), not the copy.
    assert outputs["model"][0].get_int_custom_property(selector.SOURCE_MODEL_ID) == len("tfco")
    assert "Selected: tfco." in (out / "selection" / selector.DECISION_TEXT).read_text()
    # The winner's gate report goes on to the Pusher, for the model card.
    assert gate.read_report(str(out / "report")) == gate.read_report(
        str(tmp_path / "tfco" / "report")
    )


def test_the_executor_blesses_nothing_when_every_candidate_is_refused(tmp_path):
    inputs = candidate_inputs(
        tmp_path, "baseline", gate_report({"religion": 0.0}, {"religion": 99}, False)
    )
    out = tmp_path / "out"
    outputs = selector_outputs(out)
    properties = {"rule": json.dumps(RULE), "candidates": json.dumps(["baseline"])}
    selector.Executor().Do(inputs, outputs, properties)
    assert outputs["blessing"][0].get_int_custom_property("blessed") == 0
    assert os.listdir(out / "model") == []
    assert os.listdir(out / "report") == []


def test_a_post_processed_candidate_that_moved_no_threshold_is_marked_in_the_table():
    from components.selector import candidate_row
    from components.verdict import Verdict

    point = {"threshold": 0.3, "postprocess": "group_thresholds", "base_threshold": 0.3,
             "group_thresholds": {"religion": 0.3, "race": 0.3}}  # fmt: skip
    report = Verdict(blessed=True, operating_point=point, policy=GatePolicy()).to_json()
    row = candidate_row("baseline_group_thresholds", report, True)
    table = select([row], RULE).describe()
    assert "\n    note: no group got a threshold of its own: its decisions are its base " \
        "model's\n" in table  # fmt: skip
    point["group_thresholds"]["race"] = 0.4
    moved = candidate_row("baseline_group_thresholds", Verdict(True, operating_point=point,
                          policy=GatePolicy()).to_json(), True)  # fmt: skip
    assert moved.note == "" and "note:" not in select([moved], RULE).describe()


def test_the_selector_counts_a_groups_rows_as_the_gate_does():
    from components.selector import candidate_row
    from components.verdict import Verdict

    # A slice with only its example count (no confusion counts): the gate judges its FPR on
    # its examples (gate._rows), and so must the Selector's table.
    slices = {"overall": {"example_count": 500, "fall_out": 0.05},
              "religion": {"example_count": 40, "fall_out": 0.2}}  # fmt: skip
    report = Verdict(blessed=True, slice_metrics=slices, policy=GatePolicy(min_slice_size=30))
    row = candidate_row("tfco", report.to_json(), True)
    assert row.judged_groups == ["religion"]
    assert row.max_group_fpr_gap == pytest.approx(0.15)
    report.policy = GatePolicy(min_slice_size=41)
    assert candidate_row("tfco", report.to_json(), True).judged_groups == []
