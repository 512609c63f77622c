"""The Selector's rule and its candidate rows, field by field (kills the mutants of
`make mutation` that test_selector.py leaves alive)."""

from components.policy import GatePolicy
from components.selector import CandidateRow, candidate_row, select
from components.verdict import Verdict
from pipeline.config import SelectionPolicy

RULE = SelectionPolicy().to_json()
GAP = {"value": 0.04, "interval": [0.01, 0.07], "k": 4, "n": 100}
SUITE = {"value": 0.06, "interval": [0.02, 0.1], "k": 6, "n": 100}
FLIPS = {"value": 0.01, "interval": [0.0, 0.02], "k": 1, "n": 100}


def _slice(fpr, fnr, negatives, positives):
    return {
        "fall_out": fpr, "miss_rate": fnr, "true_negatives": negatives * (1 - fpr),
        "false_positives": negatives * fpr, "true_positives": positives * (1 - fnr),
        "false_negatives": positives * fnr,
    }  # fmt: skip


def _report():
    slices = {
        "overall": {"fall_out": 0.1, "miss_rate": 0.3, "auc": 0.9, "recall": 0.7},
        # Exactly min_slice_size rows of each kind: judged on both rates.
        "race": _slice(0.2, 0.5, 30, 30),
        "religion": _slice(0.15, 0.4, 29, 29),
    }
    figures = {
        "eval_gap": GAP, "suite_gap": SUITE, "worst_gap": SUITE, "flip_rate": FLIPS,
        "base_auc": {"value": 0.88, "interval": [0.8, 0.9]},
    }  # fmt: skip
    policy = GatePolicy(min_slice_size=30)
    return Verdict(blessed=True, slice_metrics=slices, figures=figures, policy=policy).to_json()


def test_a_candidate_row_carries_every_figure_of_its_verdict():
    row = candidate_row("tfco", _report(), True)
    assert row == CandidateRow(
        name="tfco",
        blessed=True,
        auc=0.9,
        tpr=0.7,
        max_group_fpr_gap=0.2 - 0.1,
        max_group_fnr_gap=0.5 - 0.3,
        judged_groups=["race"],
        reasons=[],
        eval_gap=GAP,
        suite_gap=SUITE,
        worst_gap=0.06,
        flip_rate=FLIPS,
        base_auc=0.88,
        note="",
    )


def test_a_candidate_row_without_figures_has_none():
    report = Verdict(blessed=False, slice_metrics={"overall": {"auc": 0.8}},
                     policy=GatePolicy()).to_json()  # fmt: skip
    row = candidate_row("baseline", report, False)
    assert (row.worst_gap, row.base_auc, row.eval_gap, row.max_group_fpr_gap) == (None,) * 4
    empty = {**report, "figures": {"worst_gap": None, "base_auc": {}}}
    assert candidate_row("b", empty, False).worst_gap is None


def _row(name, worst=None, fpr_gap=None, auc=None, blessed=True):
    return CandidateRow(
        name=name, blessed=blessed, auc=auc, worst_gap=worst, max_group_fpr_gap=fpr_gap
    )


def test_without_a_suite_the_worst_gap_falls_back_to_the_eval_gap():
    rows = [_row("a", worst=0.05, auc=0.8), _row("b", fpr_gap=0.01, auc=0.7)]
    decision = select(rows, {**RULE, "tie_margin": 0.0})
    assert decision.winner == "b"
    assert decision.why == (
        "Rule: the smallest worst_gap among the 2 blessed candidate(s) (0.010); within 0.0 of "
        "it, the highest auc."
    )


def test_the_fallback_is_only_for_the_worst_gap():
    rows = [_row("a", fpr_gap=0.01, auc=0.9), _row("b", worst=0.02, fpr_gap=0.5, auc=0.8)]
    rule = {**RULE, "primary": "worst_gap", "tie_margin": 0.0}
    assert select(rows, rule).winner == "a"
    rows = [_row("a", worst=0.02, auc=0.9), _row("b", worst=0.03, fpr_gap=0.01, auc=0.8)]
    rule = {**RULE, "primary": "max_group_fpr_gap", "tie_margin": 0.0}
    # a has no FPR gap: it ranks last (an infinite gap), whatever its worst gap.
    assert select(rows, rule).winner == "b"


def test_a_tier_is_won_by_the_tiebreak_then_by_the_smaller_gap():
    rows = [_row("a", worst=0.03), _row("b", worst=0.01), _row("c", worst=0.02)]
    decision = select(rows, {**RULE, "tie_margin": 0.05})
    # No AUC anywhere: a tie on the tiebreak (read as 0), the smallest gap wins.
    assert decision.winner == "b"
    assert decision.why.endswith("the highest auc (ahead of a, c).")
    rows = [_row("a", worst=0.01, auc=0.5), _row("b", worst=0.02)]
    # A missing AUC counts as 0, below any AUC.
    assert select(rows, {**RULE, "tie_margin": 0.05}).winner == "a"


def test_the_decision_keeps_the_rule_and_the_champion():
    push = {"version": "3", "candidate": "a", "pushed_at": "x"}
    decision = select([_row("a", worst=0.01)], RULE, champion=push)
    assert decision.rule == RULE and decision.champion == push
    assert decision.to_json()["rule"] == RULE
