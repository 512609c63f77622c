"""bench/certificate.py: the old rule (before issue 21) on constructed verdicts, and the figures
read from a verdict record."""

from bench.certificate import candidate_figures, is_certificate_failure, old_rule_winner
from components.intervals import Rate
from components.verdict import Failure, Verdict


def failure(slice_, metric="false_positive_rate"):
    return Failure(slice=slice_, metric=metric, value=0.3, bound="<= 0.1")


def row(name, gap, auc):
    return {"name": name, "blessed": False, "auc": auc, "tpr": 0.5, "max_group_fpr_gap": gap}


def test_only_the_certificates_failures_are_dropped():
    assert is_certificate_failure(failure("religion (madlibs)"))
    assert is_certificate_failure(failure("term 'muslim' (madlibs)"))
    assert is_certificate_failure(failure("race (functional)"))
    assert is_certificate_failure(failure("gender (wiki)"))
    assert is_certificate_failure(failure("all pairs (wiki identity swaps)", "flip rate"))
    assert is_certificate_failure(
        failure("religion (eval)", "false_positive_rate rise over the base model")
    )
    assert is_certificate_failure(failure("disability", "identity group"))
    assert is_certificate_failure(failure("texts with no known word (suite)", "flagged share"))
    # TFMA's eval checks stay: the old gate refused on them.
    assert not is_certificate_failure(failure("religion"))
    assert not is_certificate_failure(
        failure("religion", "false_positive_rate gap (group - overall)")
    )


def test_the_old_rule_blesses_past_the_suite_and_ranks_by_the_eval_gap():
    verdicts = {
        # Refused today only by the suite and do-no-harm: the old gate blessed it.
        "post": Verdict(
            blessed=False,
            failures=[
                failure("sexual_orientation (madlibs)"),
                failure("religion (eval)", "false_positive_rate rise over the base model"),
            ],
        ),
        # Refused on eval: refused by both rules, whatever its gap.
        "baseline": Verdict(blessed=False, failures=[failure("religion")]),
        "tfco": Verdict(blessed=True),
    }
    rows = [row("baseline", 0.0, 0.99), row("tfco", 0.045, 0.80), row("post", 0.02, 0.79)]
    # post's eval gap is more than 0.02 below tfco's: the old rule takes it, AUC aside.
    assert old_rule_winner(verdicts, rows) == "post"
    # Within the tie margin the higher AUC wins.
    rows[2]["max_group_fpr_gap"] = 0.03
    assert old_rule_winner(verdicts, rows) == "tfco"
    # Nobody blessed under the old rule either: nothing pushed.
    verdicts["tfco"].failures = [failure("race", "gap")]
    verdicts["post"].failures.append(failure("race"))
    assert old_rule_winner(verdicts, rows) is None


def fpr(k, n):
    return {"fpr": Rate(k, n).to_json()}


def test_madlibs_maxima_count_only_groups_and_terms_with_enough_rows():
    suite = {
        "sources": {"wiki": fpr(10, 400)},
        "groups": {
            "madlibs": {"religion": fpr(20, 100), "disability": fpr(20, 29)},
            "wiki": {"race": fpr(12, 40), "gender": fpr(9, 10)},
        },
        "terms": {"madlibs": {"muslim": fpr(50, 100), "gay": fpr(29, 29)}},
        "flip": {"overall": Rate(3, 100).to_json()},
    }
    verdict = Verdict(
        blessed=False,
        suite=suite,
        failures=[failure("term 'muslim' (madlibs)")],
        figures={"auc": {"value": 0.8, "interval": None}, "tpr": {"value": 0.4, "interval": None}},
    )
    figures = candidate_figures(verdict)
    assert figures["madlibs_max_group_fpr"]["group"] == "religion"
    assert figures["madlibs_max_group_fpr"]["value"] == 0.2
    assert figures["madlibs_max_term_fpr"]["term"] == "muslim"
    assert figures["wiki_gap"]["group"] == "race"
    assert abs(figures["wiki_gap"]["value"] - (0.3 - 0.025)) < 1e-9
    assert figures["auc"] == 0.8 and figures["tpr"] == 0.4 and figures["base_auc"] is None
    assert figures["failures"] == [verdict.failures[0].describe()]
