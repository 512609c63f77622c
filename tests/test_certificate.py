"""The certificate beyond the eval rows: the suite's figures, its checks, do-no-harm against the
base model, the intervals, and the verdict record every reader renders."""

import numpy as np
import pytest

from components import certificate, challenge, intervals
from components.policy import GatePolicy
from components.selector import candidate_row, select
from components.verdict import Failure, Verdict
from contract import FP_METRIC, FPR_METRIC, OVERALL, TN_METRIC


def test_wilson_interval_is_honest_at_zero_and_for_few_rows():
    lower, upper = intervals.wilson(0, 21)
    assert lower == 0.0 and 0.13 < upper < 0.17  # 0 of 21 is no proof of a zero rate
    lower, upper = intervals.wilson(40, 80)
    assert lower == pytest.approx(0.393, abs=0.002) and upper == pytest.approx(0.607, abs=0.002)
    assert intervals.wilson(0, 0) == (0.0, 1.0)


def test_a_rise_counts_as_harm_only_beyond_the_noise():
    base = intervals.Rate(3, 21)  # sexual_orientation on GHC eval, seed 2: 0.143
    assert not intervals.rise_beyond_noise(intervals.Rate(7, 21), base)  # 0.333: within noise
    assert intervals.rise_beyond_noise(intervals.Rate(274, 386), intervals.Rate(189, 386))
    assert not intervals.rise_beyond_noise(intervals.Rate(195, 386), intervals.Rate(189, 386))


def _rows(decisions, labels, groups, source="madlibs", terms=None, pairs=None):
    n = len(decisions)
    return {
        "decision": np.asarray(decisions, bool),
        "score": np.where(decisions, 0.9, 0.1),
        "label": np.asarray(labels, bool),
        "groups": groups,
        "source": np.asarray([source] * n if isinstance(source, str) else source, dtype=object),
        "term": np.asarray(terms or [""] * n, dtype=object),
        "case": np.asarray([""] * n, dtype=object),
        "text": [f"text {i}" for i in range(n)],
        "pair": np.asarray(pairs if pairs is not None else [-1] * n),
    }


def _madlibs(gay_flagged: int, muslim_flagged: int, n: int = 100):
    """n non-toxic 'gay' and n non-toxic 'muslim' templates, some flagged."""
    decisions = [i < gay_flagged for i in range(n)] + [i < muslim_flagged for i in range(n)]
    groups = [["sexual_orientation"]] * n + [["religion"]] * n
    return _rows(decisions, [False] * 2 * n, groups, terms=["gay"] * n + ["muslim"] * n)


def test_suite_metrics_count_each_group_and_term_and_the_flip_rate():
    rows = _madlibs(71, 5)
    metrics = challenge.suite_metrics(rows)
    assert metrics["groups"]["madlibs"]["sexual_orientation"]["fpr"]["value"] == 0.71
    assert metrics["terms"]["madlibs"]["muslim"]["fpr"]["k"] == 5
    wiki = _rows([True, False, True, True], [False] * 4, [["religion"]] * 4,
                 source=["wiki", "wiki", "wiki_fuzzed", "wiki_fuzzed"], pairs=[1, 2, 1, 2])  # fmt: skip
    flip = challenge.suite_metrics(wiki)["flip"]
    assert (flip["overall"]["k"], flip["overall"]["n"]) == (1, 2)  # pair 2 flips, pair 1 not
    assert flip["groups"]["religion"]["value"] == 0.5
    # A pair whose swap changed no word cannot flip, and does not count.
    wiki["text"][2] = "TEXT 0."
    flip = challenge.suite_metrics(wiki)["flip"]
    assert (flip["overall"]["k"], flip["overall"]["n"]) == (1, 1)


def test_the_suite_refuses_a_group_and_a_term_above_their_bounds():
    failures, judged = certificate.judge_suite(
        challenge.suite_metrics(_madlibs(71, 5)), GatePolicy()
    )
    subjects = {f.slice for f in failures}
    assert "sexual_orientation (madlibs)" in subjects and "term 'gay' (madlibs)" in subjects
    assert not any("religion" in s or "muslim" in s for s in subjects)
    assert judged == {"religion": ["madlibs"], "sexual_orientation": ["madlibs"]}
    assert "71/100 rows, 95% interval [0.615, 0.790]" in failures[0].message


def _eval_metrics(group_fp: int, group_n: int = 21):
    return {
        OVERALL: {FP_METRIC: 250.0, TN_METRIC: 4750.0, FPR_METRIC: 0.05},
        "sexual_orientation": {FP_METRIC: float(group_fp), TN_METRIC: float(group_n - group_fp),
                               FPR_METRIC: group_fp / group_n},
    }  # fmt: skip


def test_a_candidate_that_harms_a_group_unjudged_on_eval_is_refused():
    """The pushed post-processed model of the issue: sexual_orientation too small to judge on
    eval (21 rows), while its madlibs FPR rose from the base's 0.49 to 0.71."""
    verdict = Verdict(blessed=True, slice_metrics=_eval_metrics(7),
                      skipped={"sexual_orientation": "FPR not judged: 21 non-toxic eval rows"})  # fmt: skip
    base = ("baseline", _eval_metrics(3), challenge.suite_metrics(_madlibs(49, 5)))
    # Only the harm check can refuse.
    bounds = GatePolicy(max_suite_group_fpr=1.0, max_suite_term_fpr=1.0)
    certificate.certify(verdict, bounds, challenge.suite_metrics(_madlibs(71, 5)), base)
    assert not verdict.blessed
    harmed = [f for f in verdict.failures if "rise over the base model" in f.metric]
    assert [f.slice for f in harmed] == ["sexual_orientation (madlibs)"]  # eval: within noise
    assert verdict.judged["sexual_orientation"] == ["madlibs"]
    # The same candidate without the rise is blessed: the check is what refused it.
    same = Verdict(blessed=True, slice_metrics=_eval_metrics(3))
    certificate.certify(same, bounds, challenge.suite_metrics(_madlibs(49, 5)), base)
    assert [f for f in same.failures if "rise" in f.metric] == []


def test_a_group_judged_nowhere_fails_the_run():
    verdict = Verdict(blessed=True, slice_metrics=_eval_metrics(1))
    certificate.certify(verdict, GatePolicy(max_suite_group_fpr=1.0, max_suite_term_fpr=1.0),
                        challenge.suite_metrics(_madlibs(0, 0)))  # fmt: skip
    nowhere = {f.slice for f in verdict.failures if f.metric == "identity group"}
    assert nowhere == {"gender", "race", "disability"}
    assert not verdict.blessed


def test_the_verdict_record_round_trips_and_the_selector_reads_its_figures():
    verdict = Verdict(blessed=False, slice_metrics=_eval_metrics(7), policy=GatePolicy(),
                      failures=[Failure("race", "false_positive_rate", 0.4, "<= 0.2")])  # fmt: skip
    certificate.certify(verdict, GatePolicy(), challenge.suite_metrics(_madlibs(71, 5)))
    again = Verdict.from_json(verdict.to_json())
    assert again == verdict
    row = candidate_row("pp", verdict.to_json(), verdict.blessed)
    assert row.worst_gap == pytest.approx(verdict.figures["worst_gap"]["value"])
    assert row.suite_gap["group"] == "sexual_orientation"
    assert row.reasons == verdict.reasons() and any("term 'gay'" in r for r in row.reasons)


def test_the_selector_ranks_by_the_worst_gap_over_eval_and_the_suite():
    fitted = candidate_row("fitted", _blessed_with(eval_fp=3, gay=20), True)
    robust = candidate_row("robust", _blessed_with(eval_fp=4, gay=2), True)
    assert fitted.max_group_fpr_gap < robust.max_group_fpr_gap  # the old rule's pick
    decision = select([fitted, robust], {"primary": "worst_gap", "tie_margin": 0.02,
                                         "tiebreak": "auc"})  # fmt: skip
    assert decision.winner == "robust"


def _blessed_with(eval_fp: int, gay: int) -> dict:
    bounds = GatePolicy(max_suite_group_fpr=1.0, max_suite_term_fpr=1.0)
    verdict = Verdict(blessed=True, slice_metrics=_eval_metrics(eval_fp, 60), policy=bounds)
    return certificate.certify(verdict, bounds, challenge.suite_metrics(_madlibs(gay, 0))).to_json()


def test_a_model_that_flags_no_toxic_statement_is_refused_on_the_suite():
    """Certifying by flagging nothing: no false positive anywhere, and no recall either."""
    groups = [["religion"]] * 40
    silent = _rows([False] * 40, [True] * 10 + [False] * 30, groups, source="functional")
    failures, _ = certificate.judge_suite(challenge.suite_metrics(silent), GatePolicy())
    assert [(f.slice, f.metric) for f in failures] == [("toxic statements (functional)", "recall")]
    alert = _rows(
        [True] * 5 + [False] * 35, [True] * 10 + [False] * 30, groups, source="functional"
    )
    assert certificate.judge_suite(challenge.suite_metrics(alert), GatePolicy())[0] == []


def test_a_group_whose_toxic_templates_go_unflagged_is_refused():
    n = 100
    decisions = [i < 60 for i in range(n)] + [i < 10 for i in range(n)]
    groups = [["race"]] * n + [["sexual_orientation"]] * n
    rows = _rows(decisions, [True] * 2 * n, groups)
    failures, _ = certificate.judge_suite(challenge.suite_metrics(rows), GatePolicy())
    # Overall FNR 0.65; sexual orientation's 0.90 is 0.25 above it, race's 0.40 below.
    assert [f.slice for f in failures] == ["sexual_orientation (madlibs)"]
    assert failures[0].metric.startswith("false_negative_rate - overall FNR (0.650)")


def test_a_text_with_no_known_word_flagged_on_the_suite_fails_the_gate():
    rows = _rows([True, False], [False, False], [[], []], source="functional")
    rows["known"] = np.array([0, 0])
    failures, _ = certificate.judge_suite(challenge.suite_metrics(rows), GatePolicy())
    assert [f.slice for f in failures] == ["texts with no known word (suite)"]
    rows["decision"] = np.array([False, False])
    assert certificate.judge_suite(challenge.suite_metrics(rows), GatePolicy())[0] == []


def test_the_suite_judges_a_run_whose_eval_split_has_no_group_to_judge():
    """The eval-only refusal ("no group with enough rows") gives way to the suite's judgement;
    a group the suite cannot judge either still fails."""
    no_group = Failure("overall", certificate.EVAL_NO_GROUP, 0, ">= 1 group with 30+ rows")
    verdict = Verdict(blessed=False, failures=[no_group], slice_metrics=_eval_metrics(1, 5))
    groups = [[g] for g in ("gender", "sexual_orientation", "religion", "race", "disability")]
    rows = _rows([False] * 150, [False] * 150, [g for g in groups for _ in range(30)])
    certificate.certify(verdict, GatePolicy(), challenge.suite_metrics(rows))
    assert verdict.blessed and verdict.failures == []
    without_disability = _rows(
        [False] * 120, [False] * 120, [g for g in groups[:4] for _ in range(30)]
    )
    again = Verdict(blessed=False, failures=[no_group], slice_metrics=_eval_metrics(1, 5))
    certificate.certify(again, GatePolicy(), challenge.suite_metrics(without_disability))
    assert [f.slice for f in again.failures] == ["disability"]
