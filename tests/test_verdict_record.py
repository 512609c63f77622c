"""The verdict record: its JSON round trip and the lines every reader shows from it (kills the
mutants of `make mutation` in components/verdict.py)."""

from components.intervals import Rate, wilson
from components.verdict import Failure, Verdict, champion_name, figure


def test_the_json_round_trip_keeps_every_field_and_ignores_unknown_ones():
    verdict = Verdict(
        blessed=False,
        failures=[Failure("race", "fpr", 0.3, "<= 0.2", "high")],
        skipped={"gender": "5 eval examples"},
        judged={"gender": ["suite"]},
        base_model="baseline",
        figures={"eval_gap": {"value": 0.1, "interval": [0.0, 0.2]}},
    )
    data = verdict.to_json()
    assert Verdict.from_json({**data, "added_later": 1}) == verdict
    assert Verdict.from_json({"blessed": True}) == Verdict(blessed=True)


def test_a_failure_reads_its_value_and_its_message():
    assert Failure("race", "fpr", None, "<= 0.2").describe() == (
        "fpr on race = not computed, bound: <= 0.2"
    )
    assert Failure("race", "fpr", 0.25, "<= 0.2", "high").describe() == (
        "fpr on race = 0.2500, bound: <= 0.2 (high)"
    )


def test_each_group_not_judged_says_where_it_was_judged():
    verdict = Verdict(
        blessed=True,
        skipped={"race": "too few", "gender": "absent"},
        judged={"race": ["eval", "madlibs"]},
    )
    assert verdict.not_judged() == {
        "gender": "absent; judged nowhere",
        "race": "too few; judged on eval, madlibs",
    }
    assert verdict.reasons() == [
        "not judged on eval: gender (absent; judged nowhere)",
        "not judged on eval: race (too few; judged on eval, madlibs)",
    ]


NOTE = "no group got a threshold of its own: its decisions are its base model's"


def test_the_post_processing_note_only_when_no_threshold_moved():
    def note(**point):
        return Verdict(blessed=True, operating_point=point).postprocess_note()

    base = {"postprocess": "group_thresholds", "base_threshold": 0.3, "threshold": 0.3}
    assert note(**base, group_thresholds={"race": 0.3}) == NOTE
    assert note(**base, group_thresholds=None) == NOTE
    assert note(**{**base, "threshold": 0.31}) == ""
    assert note(**base, group_thresholds={"race": 0.31}) == ""
    assert note(**{**base, "postprocess": "none"}) == ""
    assert note(threshold=0.3, base_threshold=0.3) == ""
    assert note(postprocess="group_thresholds", threshold=0.3) == ""
    assert Verdict(blessed=True).postprocess_note() == ""


def test_a_figure_is_a_rate_with_its_interval():
    assert figure(Rate(3, 10)) == {"value": 0.3, "interval": list(wilson(3, 10)), "k": 3, "n": 10}
    assert figure(Rate(0, 0)) is None and figure(None) is None
    push = {"version": "5", "candidate": "tfco", "pushed_at": "now"}
    assert champion_name(push) == "the champion (version 5, candidate tfco, pushed at now)"
