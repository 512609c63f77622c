"""End-to-end LocalDagRunner run on a tiny generated dataset: every candidate in one run
(conftest's pushed_run, the rerun that completed a killed run). A run that blesses no candidate
is in test_gate_hold.py."""

import json

import pytest

from contract import COMPLETE_MARKER, TRAINER_RECORD_FILE
from pipeline import config
from pipeline.candidates import POSTPROCESSED, Candidate
from pipeline.pipeline import component_ids
from tests import runs

pytestmark = pytest.mark.e2e

CANDIDATES = runs.CANDIDATES
# The resolver is not an execution of its own in ML Metadata.
COMPONENTS = set(component_ids(CANDIDATES)) - {"ChampionResolver"}
BEFORE_TRAINING = {
    "ExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "DataCheck",
    "Transform",
    "ChallengeExampleGen",
}


@pytest.fixture(scope="module")
def blessed_run(pushed_run):
    return pushed_run["output"], pushed_run


def test_every_candidate_is_trained_judged_and_the_selected_one_pushed(blessed_run, capsys):
    out, run = blessed_run
    states = run["states"]
    assert COMPONENTS <= set(states)
    # The steps before training ran in the killed run; the rerun took them from the cache.
    for node in COMPONENTS:
        expected = [runs.CACHED] if node in BEFORE_TRAINING else [runs.COMPLETE]
        assert states[node] == expected, node
    outcome = run["outcome"]
    assert list(outcome.reports) == list(CANDIDATES)
    eval_rows = runs.CANDIDATES_SIZES[1] + len(runs.WEIRD_COMMENTS)
    for name, (_, report) in outcome.reports.items():
        # Every trainer exports what the Evaluator loads.
        overall = report["slice_metrics"]["overall"]
        assert overall["example_count"] == eval_rows and 0.0 <= overall["auc"] <= 1.0, name
        assert report["blessed"] is True, name
    rows = {row["name"]: row for row in outcome.selection["candidates"]}
    assert set(rows) == set(CANDIDATES) and all(row["blessed"] for row in rows.values())
    # The lenient gate blesses all: the rule decides, by the worst gap over eval and the
    # challenge suite as each gate's record states it, and the winner is the pushed model.
    for name, (_, report) in outcome.reports.items():
        assert rows[name]["worst_gap"] == report["figures"]["worst_gap"]["value"], name
        assert report["suite"]["rows"] > 0 and report["judged"], name
    best_gap = min(row["worst_gap"] for row in rows.values())
    assert rows[outcome.winner]["worst_gap"] <= best_gap + outcome.selection["rule"]["tie_margin"]
    assert outcome.pushed is True
    [version] = runs.versions(out / "serving")
    assert outcome.pushed_destination.endswith(version)
    marker = json.loads((out / "serving" / version / COMPLETE_MARKER).read_text())
    assert marker["candidate"] == outcome.winner
    # The post-processed candidate took the baseline's weights: same scores, own thresholds.
    stats = training_stats(out, f"baseline{POSTPROCESSED}")
    assert stats["weights_from"].startswith(
        str(out / "pipelines" / config.PIPELINE_NAME / "Trainer.baseline")
    )
    assert stats["operating_point"]["postprocess"] == "group_thresholds"
    base = training_stats(out, "baseline")["operating_point"]
    assert stats["operating_point"]["validation_auc"] == pytest.approx(base["validation_auc"])
    # It trained no epoch: it reports none, and names its base model's best epoch.
    assert stats["epochs"] == 0 and stats["validation_auc_by_epoch"] == []
    assert stats["operating_point"]["best_epoch"] == base["best_epoch"] is not None
    # No group's threshold below the base model's own operating point.
    assert min(stats["operating_point"]["group_thresholds"].values()) >= base["threshold"]


def training_stats(out, candidate: str) -> dict:
    [path] = (out / "pipelines" / config.PIPELINE_NAME / f"Trainer.{candidate}").glob(
        "model_run/*/training_stats.json"
    )
    return json.loads(path.read_text())


def test_each_trainer_records_its_own_name_for_the_model_card(blessed_run):
    out, _ = blessed_run
    for name in CANDIDATES:
        [path] = (out / "pipelines" / config.PIPELINE_NAME / f"Trainer.{name}").glob(
            f"model/*/Format-Serving/{TRAINER_RECORD_FILE}"
        )
        assert json.loads(path.read_text())["trainer"] == Candidate(name).trainer, name


def test_pushed_model_serves_all_signatures(blessed_run):
    import tensorflow as tf

    from ingest.tfrecords import make_example

    out, _ = blessed_run
    [version] = runs.versions(out / "serving")
    model = tf.saved_model.load(str(out / "serving" / version))
    assert {"serving_default", "transform_features", "score_text"} <= set(model.signatures)
    texts = ["", "a muslim neighbor", "x" * 100_000, "\u00e9\u4e2d\u0000\u0007"]
    scores = model.signatures["score_text"](comment_text=tf.constant(texts))["toxicity"].numpy()
    assert scores.shape == (4, 1) and ((scores >= 0) & (scores <= 1)).all()
    serialized = tf.constant([make_example(t, 0.0).SerializeToString() for t in texts])
    by_example = model.signatures["serving_default"](examples=serialized)["toxicity"].numpy()
    assert by_example == pytest.approx(scores, abs=1e-6)
    transformed = model.signatures["transform_features"](examples=serialized)
    assert transformed["identity_religion"].numpy().tolist() == [0, 1, 0, 0]


def test_the_run_prints_one_candidates_table(blessed_run):
    printed = blessed_run[1]["printed"]
    headers = [line for line in printed.splitlines() if "suite gap [95%]" in line]
    assert len(headers) == 1, headers
    # The Selector's own log line is its decision, and the summary's table ends with it too.
    decision = blessed_run[1]["outcome"].selection
    assert printed.count(f"Selected: {decision['winner']}.") == 2
    # Nothing was pushed before this run: it says so rather than citing a champion.
    assert "Change checks compared with no champion: nothing was pushed before this run" in printed
