"""A run with the sentence encoder, end to end, on a tiny random encoder the test writes (never
network weights): Transform computes the encoding, the `encoder` candidate reads it and is
pushed, and `predict` in a fresh process serves it, odd texts included."""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest

from contract import ENCODING_KEY, TRAINER_RECORD_FILE
from tests import runs

WIDTH = 16


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory):
    from trainer_modules import sentence_encoder as se

    out = tmp_path_factory.mktemp("encoder-run")
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *"abcdefghijklmnopqrstuvwxyz",
                  *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"), "gay", "muslim", "love",
                  "hate", "people", "you", "are", "the"]  # fmt: skip
    encoder = se.write_folder(se.random_weights(vocabulary, width=WIDTH), str(out / "encoder"))
    data = runs.write_data(out / "data", 400, 100, weird=True)
    root = out / "root"
    command = runs.runner_command(
        "run", "--data", str(data), "--output", str(root), "--epochs", "1",
        "--candidates", "encoder", "--sentence-encoder", encoder, *runs.LENIENT, *runs.SMALL_SUITE,
    )  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return {"root": root, "code": done.returncode, "out": done.stdout + done.stderr}


@pytest.mark.e2e
def test_transform_computes_the_encoding_and_the_encoder_candidate_is_pushed(encoder_run):
    import tensorflow_transform as tft

    assert encoder_run["code"] == 0, encoder_run["out"][-3000:]
    assert "Pushed model: " in encoder_run["out"] and "(encoder)" in encoder_run["out"]
    [graph] = glob.glob(str(encoder_run["root"] / "pipelines/*/Transform/transform_graph/*"))
    spec = tft.TFTransformOutput(graph).transformed_feature_spec()
    assert spec[ENCODING_KEY].shape == [WIDTH]
    [record] = glob.glob(str(encoder_run["root"] / "serving" / "*" / TRAINER_RECORD_FILE))
    settings = json.loads(open(record).read())["settings"]
    assert settings["use_sentence_encoding"] is True
    # TFMA reads its slicing features through transform_features on every eval row: without
    # the encoding among them, the encoder is not run there a second time.
    import tensorflow as tf

    from contract import load_text_ops
    from ingest.tfrecords import make_example

    load_text_ops()
    model = tf.saved_model.load(os.path.dirname(record))
    example = make_example("I love gay people.", 0.0).SerializeToString()
    features = model.signatures["transform_features"](examples=tf.constant([example]))
    assert ENCODING_KEY not in features and "identity_sexual_orientation" in features


@pytest.mark.e2e
def test_predict_in_a_fresh_process_serves_the_encoder_model(encoder_run):
    texts = ["I love gay people.", "", "\U0001f600\U0001f600", "you are the worst " * 500]
    command = runs.runner_command("predict", "--serving-dir", str(encoder_run["root"] / "serving"),
                                  *texts)  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(texts)
    for record in records:
        assert 0.0 <= record["toxicity"] <= 1.0 and isinstance(record["is_toxic"], bool)
    # No known word: served as not toxic, whatever the encoder makes of it.
    assert records[1]["is_toxic"] is False and records[2]["is_toxic"] is False


@pytest.mark.e2e
def test_augmentation_rows_compute_only_the_features_a_trainer_reads(encoder_run):
    import tensorflow_transform as tft

    from contract import IDENTITY_FEATURES, TOKENS_KEY, load_text_ops
    from trainer_modules import augmentation

    load_text_ops()
    [graph] = glob.glob(str(encoder_run["root"] / "pipelines/*/Transform/transform_graph/*"))
    output = tft.TFTransformOutput(graph)
    texts = ["I love gay people.", "\U0001f600", "the muslim people are here"]
    token_only = (TOKENS_KEY, *IDENTITY_FEATURES)
    rows = augmentation.transformed_rows(texts, output, token_only)
    assert set(rows) == set(token_only)
    with_encoding = augmentation.transformed_rows(texts, output, (*token_only, ENCODING_KEY))
    # The emoji-only text has no known word and is dropped from both.
    assert rows[TOKENS_KEY].shape[0] == with_encoding[ENCODING_KEY].shape[0] == 2
    assert with_encoding[ENCODING_KEY].shape[1] == WIDTH
    assert (rows[TOKENS_KEY].numpy() == with_encoding[TOKENS_KEY].numpy()).all()
