"""`local_runner.py predict`: the newest complete pushed model answers every text, odd or not.
The tests on pushed_run's model are e2e (the fixture runs the pipeline); the errors are not."""

import io
import json
import os
import shutil
import sys

import numpy as np
import pytest

import local_runner
from components import serving
from contract import IDENTITY_GROUPS, IDENTITY_KEYWORDS

ODD_TEXTS = {
    "empty": "",
    "a million characters": "you idiot " * 100_000,
    "unicode": "Ünïcödé 中文 русский عربى \U0001f600 \u202eright-to-left",
    "control characters": "nul\x00 bell\x07 escape\x1b[31m delete\x7f form\x0c feed",
    "only punctuation": "?!?!... ---",
}


def predict(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    capsys.readouterr()
    code = local_runner.main(["predict", *argv])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


@pytest.fixture(scope="module")
def scorer(pushed_run):
    return serving.load_scorer(serving.latest_model_dir(str(pushed_run["serving"])))


@pytest.mark.e2e
def test_odd_texts_get_a_probability_and_a_decision_in_a_batch_as_one_by_one(scorer):
    texts = list(ODD_TEXTS.values())
    together = [r["toxicity"] for r in scorer(texts)]
    alone = {name: scorer([text]) for name, text in ODD_TEXTS.items()}
    for name, [record] in alone.items():
        assert 0.0 <= record["toxicity"] <= 1.0 and isinstance(record["is_toxic"], bool), name
    assert together == pytest.approx([alone[n][0]["toxicity"] for n in ODD_TEXTS], abs=1e-6)


def group_tags(scorer, groups, texts: list[str]) -> dict:
    """Group -> whether each text is tagged with it, through the model's own Transform."""
    import tensorflow as tf

    from contract import identity_feature
    from ingest.tfrecords import make_example

    examples = [make_example(text, 0.0).SerializeToString() for text in texts]
    features = scorer.model.signatures["transform_features"](examples=tf.constant(examples))
    return {g: features[identity_feature(g)].numpy().reshape(-1) > 0 for g in groups}


@pytest.mark.e2e
def test_is_toxic_is_the_decision_at_the_recorded_threshold(pushed_run, scorer):
    from trainer_modules import postprocess

    point = serving.read_operating_point(serving.latest_model_dir(str(pushed_run["serving"])))
    assert point["source"] == "validation" and 0.0 < point["threshold"] < 1.0
    texts = [f"comment number {i} {w}" for i, w in enumerate(["idiot", "muslim", "hello"] * 20)]
    texts += list(ODD_TEXTS.values())
    records = scorer(texts)
    # With per-group thresholds (a post-processed model, docs/postprocessing.md), a text is
    # decided at the highest of its groups' own, else at the model's one; a text with no known
    # word ("", punctuation only) is not toxic whatever its score (test_known_tokens).
    own = point.get("group_thresholds") or {}
    expected = postprocess.decisions([r["toxicity"] for r in records],
                                     group_tags(scorer, own, texts), point["threshold"], own)  # fmt: skip
    expected &= [r["known_tokens"] > 0 for r in records]
    assert [r["is_toxic"] for r in records] == expected.tolist()


@pytest.mark.e2e
def test_cli_scores_texts_as_json_lines(pushed_run, capsys):
    texts = [ODD_TEXTS["empty"], ODD_TEXTS["unicode"], ODD_TEXTS["control characters"]]
    code, records, err = predict(["--serving-dir", str(pushed_run["serving"]), *texts], capsys)
    assert code == 0
    assert [r["text"] for r in records] == texts
    assert all(0.0 <= r["toxicity"] <= 1.0 and r["is_toxic"] in (True, False) for r in records)
    newest = serving.latest_model_dir(str(pushed_run["serving"]))
    assert f"Model: {newest}" in err


@pytest.mark.e2e
def test_cli_reads_stdin_and_files_with_invalid_utf8(pushed_run, capsys, monkeypatch, tmp_path):
    lines = b"first line\n\ncaf\xc3 bad \xff bytes\r\nlast line without newline"
    code, records, _ = predict(
        ["--serving-dir", str(pushed_run["serving"])], capsys, lines, monkeypatch
    )
    assert code == 0
    assert [r["text"] for r in records] == [
        "first line", "", "caf\ufffd bad \ufffd bytes", "last line without newline",
    ]  # fmt: skip
    texts_file = tmp_path / "texts.txt"
    texts_file.write_bytes(lines)
    code, from_file, _ = predict(
        ["--serving-dir", str(pushed_run["serving"]), "--file", str(texts_file)], capsys
    )
    assert code == 0 and from_file == records
    code, _, err = predict(
        ["--serving-dir", str(pushed_run["serving"]), "--file", str(tmp_path / "none.txt")], capsys
    )
    assert code == 1 and "error: cannot read --file" in err


@pytest.mark.e2e
def test_cli_takes_the_highest_complete_version(pushed_run, capsys, tmp_path):
    served = tmp_path / "serving"
    [(version, path)] = serving.complete_versions(str(pushed_run["serving"]))
    shutil.copytree(path, served / str(version))
    # A newer version without the completion marker, as a killed copy would leave it.
    incomplete = served / str(version + 10)
    shutil.copytree(path, incomplete)
    os.remove(incomplete / serving.COMPLETE_MARKER)
    (served / ".push-tmp-elsewhere@1-0").mkdir()
    code, records, err = predict(["--serving-dir", str(served), "hello"], capsys)
    assert code == 0 and len(records) == 1
    assert f"Model: {served / str(version)}" in err


def test_cli_missing_serving_dir_or_model_is_a_clear_error(tmp_path, capsys):
    code, records, err = predict(["--serving-dir", str(tmp_path / "nowhere"), "x"], capsys)
    assert (code, records) == (1, [])
    assert f"error: serving folder not found: {tmp_path / 'nowhere'}" in err
    (tmp_path / "empty").mkdir()
    code, _, err = predict(["--serving-dir", str(tmp_path / "empty"), "x"], capsys)
    assert code == 1 and f"error: no complete pushed model in {tmp_path / 'empty'}" in err
    code, _, err = predict(["--output", str(tmp_path), "x"], capsys)
    assert code == 1 and str(tmp_path / "serving") in err


def test_cli_no_text_is_a_usage_error_before_any_model_loads(tmp_path, capsys, monkeypatch):
    missing = ["--serving-dir", str(tmp_path / "nowhere")]
    code, records, err = predict(missing, capsys, stdin=b"", monkeypatch=monkeypatch)
    assert (code, records) == (1, [])
    assert "error: no text to score: stdin is empty; usage: local_runner.py predict TEXT" in err
    assert "serving folder" not in err  # refused before looking for a model
    (tmp_path / "empty.txt").write_bytes(b"")
    code, _, err = predict([*missing, "--file", str(tmp_path / "empty.txt")], capsys)
    assert code == 1 and f"--file {tmp_path / 'empty.txt'} is empty" in err


def test_cli_says_it_reads_stdin_at_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\n")))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    code = local_runner.main(["predict", "--serving-dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert err.startswith("reading texts from stdin, one per line; Ctrl-D to end\n")
    # The line was read, so the run went on to look for a model.
    assert code == 1 and "serving folder not found" in err


@pytest.mark.e2e
def test_group_thresholds_decide_as_recorded_on_both_sides_of_each(pushed_run):
    """The post-processed candidate of pushed_run (validation rows enough for thresholds of
    its own, --postprocess-min-rows 3): on every text of its data, and its likeliest toxic ones
    with a group's word added, the served is_toxic, the evaluate signature (the gate's score,
    0.5 at the decision) and the recorded thresholds agree row by row, with texts on both sides
    of each group's own threshold (its validation rows include the one at it)."""
    import tensorflow as tf

    from contract import EVAL_SIGNATURE, PREDICTION_KEY
    from ingest.tfrecords import make_example, read_examples
    from trainer_modules import postprocess

    pipeline = pushed_run["output"] / "pipelines" / "fair-toxicity"
    trainer = pipeline / "Trainer.baseline_group_thresholds"
    [model_dir] = trainer.glob("model/*/Format-Serving")
    point = serving.read_operating_point(str(model_dir))
    base, own = point["base_threshold"], point["group_thresholds"]
    moved = {g: t for g, t in own.items() if t > base}
    assert moved, f"no group got a threshold of its own: {point['threshold_notes']}"
    texts = sorted({
        e.features.feature["comment_text"].bytes_list.value[0].decode("utf-8", "replace")
        for e in read_examples(str(pushed_run["data"] / "*" / "*"))
    })  # fmt: skip
    scorer = serving.load_scorer(str(model_dir))
    # The likeliest toxic texts again with each moved group's word: rows above its threshold.
    top = [texts[i] for i in np.argsort([-r["toxicity"] for r in scorer(texts)])[:40]]
    texts += [f"{t} {IDENTITY_KEYWORDS[g][0]}" for g in moved for t in top]
    records = scorer(texts)
    probability = np.array([r["toxicity"] for r in records])
    tags = group_tags(scorer, IDENTITY_GROUPS, texts)
    served = np.array([r["is_toxic"] for r in records])
    known = np.array([r["known_tokens"] > 0 for r in records])
    expected = postprocess.decisions(probability, tags, point["threshold"], own) & known
    assert (served == expected).all()
    examples = tf.constant([make_example(t, 0.0).SerializeToString() for t in texts])
    evaluate = scorer.model.signatures[EVAL_SIGNATURE](examples=examples)
    crossed = evaluate[PREDICTION_KEY].numpy().reshape(-1) > 0.5
    assert (crossed[known] == served[known]).all()
    for group, threshold in moved.items():
        # Rows this group's threshold decides: tagged with it and with no higher one.
        governs = tags[group] & ~np.any(
            [tags[g] for g, t in own.items() if t > threshold], axis=0
        ) & known  # fmt: skip
        above = governs & (probability > threshold)
        below = governs & (probability <= threshold) & (probability > base)
        assert above.any() and below.any(), (group, threshold, int(governs.sum()))
        # Between the base threshold and its own, the group's rows are not flagged.
        assert not served[below].any() and served[above].all()
