"""Texts with no word the vocabulary knows get a defined served decision (not toxic) and
`known_tokens` 0 saying why, in every served signature and in `predict`'s JSON lines.

Fast: a real Transform (Beam, in process) on a dozen rows and an untrained model exported with
the pipeline's own export, at a threshold so low that every text the model reads is flagged by
the ordinary rule; only the known-token rule can then make a text not toxic.
"""

import json
import tempfile

import numpy as np
import pytest

from contract import (
    DECISION_KEY,
    IDENTITY_COLUMNS,
    KNOWN_TOKENS_KEY,
    PREDICTION_KEY,
    TEXT_KEY,
    TOKENS_KEY,
)

MAX_TOKENS = 8
# Far above the dozen words of TRAIN_TEXTS: the vocabulary is shorter than its cap, as on
# small data, so an out-of-vocabulary id computed from the cap would be wrong.
VOCAB_CAP = 1000
THRESHOLD = 1e-6

TRAIN_TEXTS = ["you are a total idiot", "have a nice day", "the weather is lovely today"]
KNOWN = "you total idiot"
NO_KNOWN_WORD = {
    "empty": "",
    "white space": "   \t ",
    "emoji": "\U0001f600\U0001f600\U0001f600",
    "another script": "我是穆斯林",
    "unknown words": "zorblax quuxified flimflam",
}


def _transform_output(folder):
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
    from tfx.utils import io_utils

    from tests.conftest import SCHEMA_PATH
    from trainer_modules.preprocessing import preprocessing_fn

    metadata = dataset_metadata.DatasetMetadata(
        io_utils.parse_pbtxt_file(str(SCHEMA_PATH), schema_pb2.Schema())
    )
    empty_identities = {column: [] for column in IDENTITY_COLUMNS}
    rows = [{TEXT_KEY: [t.encode()], "toxicity": [0.0], **empty_identities} for t in TRAIN_TEXTS]
    config = {"max_tokens": MAX_TOKENS, "vocab_size": VOCAB_CAP}
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        transform_fn = (pipeline | beam.Create(rows), metadata) | tft_beam.AnalyzeDataset(
            lambda x: preprocessing_fn(x, config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(folder))
    # The raw schema, which Transform's component writes beside the graph: the signatures parse
    # their tf.Examples with it.
    metadata_io.write_metadata(metadata, str(folder / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(str(folder))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained model (its scores sit near 0.5) exported as the Trainer exports one."""
    import tensorflow as tf

    from contract import VOCAB_NAME
    from trainer_modules.export import export_serving_model
    from trainer_modules.model import build_model
    from trainer_modules.settings import TrainerSettings

    folder = tmp_path_factory.mktemp("known-tokens")
    transform_output = _transform_output(folder / "transform")
    tf.keras.utils.set_random_seed(0)
    vocabulary = transform_output.vocabulary_by_name(VOCAB_NAME)
    model = build_model(len(vocabulary), MAX_TOKENS, TrainerSettings(), None)
    served = folder / "serving" / "1"
    export_serving_model(model, transform_output, str(served), THRESHOLD)
    return served


@pytest.fixture(scope="module")
def loaded(model_dir):
    import tensorflow as tf

    return tf.saved_model.load(str(model_dir))


def _examples(texts):
    import tensorflow as tf

    from ingest.tfrecords import make_example

    return tf.constant([make_example(t, 0.0).SerializeToString() for t in texts])


def _outputs(loaded, signature: str, texts: list[str]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    if signature == "score_text":
        out = loaded.signatures[signature](**{TEXT_KEY: tf.constant([t.encode() for t in texts])})
    else:
        out = loaded.signatures[signature](examples=_examples(texts))
    return {key: value.numpy() for key, value in out.items()}


def test_the_out_of_vocabulary_id_is_the_vocabulary_file_length_plus_one(loaded):
    texts = [KNOWN, NO_KNOWN_WORD["unknown words"], NO_KNOWN_WORD["another script"]]
    tokens = loaded.signatures["transform_features"](examples=_examples(texts))[TOKENS_KEY]
    tokens = tokens.numpy()
    words = {w for t in TRAIN_TEXTS for w in t.split()}
    # Every known word has an id in 1..len(vocabulary); every unknown one the id just above.
    assert 1 <= tokens[0][:3].min() and tokens[0][:3].max() <= len(words) < VOCAB_CAP
    assert tokens[1][:3].tolist() == [len(words) + 1] * 3
    assert tokens[2][:1].tolist() == [len(words) + 1]


@pytest.mark.parametrize("signature", ["score_text", "serving_default"])
def test_texts_without_a_known_word_are_served_as_not_toxic(loaded, signature):
    texts = [KNOWN, *NO_KNOWN_WORD.values()]
    out = _outputs(loaded, signature, texts)
    assert out[KNOWN_TOKENS_KEY].shape == out[DECISION_KEY].shape == (len(texts), 1)
    known = out[KNOWN_TOKENS_KEY].reshape(-1).tolist()
    flagged = out[DECISION_KEY].reshape(-1).tolist()
    probability = out[PREDICTION_KEY].reshape(-1)
    # The probability is the model's, above the threshold for every text: the ordinary rule
    # alone would flag them all.
    assert (probability > THRESHOLD).all()
    assert known == [3] + [0] * len(NO_KNOWN_WORD)
    assert flagged == [True] + [False] * len(NO_KNOWN_WORD), dict(zip(texts, flagged, strict=True))


def test_the_evaluator_scores_them_below_the_operating_point(loaded):
    texts = [KNOWN, *NO_KNOWN_WORD.values()]
    scores = _outputs(loaded, "evaluate", texts)[PREDICTION_KEY].reshape(-1)
    assert scores[0] > 0.5
    assert (scores[1:] < 0.5).all(), dict(zip(texts, scores.tolist(), strict=True))


def test_predict_prints_known_tokens_and_a_note_where_none_is_known(model_dir, capsys):
    import local_runner
    from components import serving

    (model_dir / serving.COMPLETE_MARKER).write_text("{}")
    texts = [KNOWN, NO_KNOWN_WORD["emoji"], NO_KNOWN_WORD["another script"]]
    capsys.readouterr()
    code = local_runner.main(["predict", "--serving-dir", str(model_dir.parent), *texts])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [r["text"] for r in lines] == texts
    assert [(r["known_tokens"], r["is_toxic"]) for r in lines] == [
        (3, True),
        (0, False),
        (0, False),
    ]
    assert "note" not in lines[0]
    assert [r["note"] for r in lines[1:]] == [serving.NO_KNOWN_TOKEN_NOTE] * 2


def test_a_model_without_known_tokens_is_served_without_the_field_or_a_note():
    from components import serving

    def older_model(texts):
        return [{PREDICTION_KEY: 0.4, DECISION_KEY: False} for _ in texts]

    [record] = serving.predict(older_model, [""])
    assert record == {"text": "", PREDICTION_KEY: 0.4, DECISION_KEY: False}
