import tempfile

import pytest
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata
from tfx.utils import io_utils

from contract import IDENTITY_COLUMNS, IDENTITY_GROUP_KEY
from tests.conftest import SCHEMA_PATH
from trainer_modules.preprocessing import preprocessing_fn

MAX_TOKENS = 6


def transform(rows: list[dict]) -> list[dict]:
    schema = io_utils.parse_pbtxt_file(str(SCHEMA_PATH), schema_pb2.Schema())
    instances = []
    for row in rows:
        instance = {"comment_text": [row["text"]], "toxicity": [row.get("toxicity", 0.0)]}
        for column in IDENTITY_COLUMNS:
            instance[column] = [v.encode() for v in row.get(column, [])]
        instances.append(instance)
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (out, _), _ = (
            instances,
            dataset_metadata.DatasetMetadata(schema),
        ) | tft_beam.AnalyzeAndTransformDataset(
            lambda x: preprocessing_fn(x, {"max_tokens": MAX_TOKENS, "vocab_size": 50}),
            output_record_batches=False,
        )
    return out


@pytest.fixture(scope="module")
def outputs():
    rows = [
        {"text": b"I am a proud Muslim woman!"},
        {"text": b"", "toxicity": 1.0},
        {"text": "Caf\u00e9 \u00dcBER na\u00efve, African-American!".encode()},
        {"text": b"word " * 20_000 + b"gay"},
        {"text": b"bad \xff\xfe bytes straight"},
        {"text": b"nothing to see here", "disability": ["blind"], "toxicity": 0.7},
        {"text": b"straightforward whitening", "religion": [""]},
    ]
    return transform(rows)


def tags(row):
    return {
        k.removeprefix("identity_"): v
        for k, v in row.items()
        if k.startswith("identity_") and k != IDENTITY_GROUP_KEY
    }


def test_keyword_tagging_is_whole_word_and_case_insensitive(outputs):
    assert tags(outputs[0]) == {
        "gender": 1,
        "sexual_orientation": 0,
        "religion": 1,
        "race": 0,
        "disability": 0,
    }
    assert sorted(outputs[0][IDENTITY_GROUP_KEY].tolist()) == [b"gender", b"religion"]
    # "straightforward" and "whitening" contain keywords but are other words.
    assert sum(tags(outputs[6]).values()) == 0
    assert outputs[6][IDENTITY_GROUP_KEY].tolist() == []


def test_multi_word_terms_match_across_punctuation(outputs):
    assert tags(outputs[2])["race"] == 1


def test_annotated_identity_columns_are_ored_with_keywords(outputs):
    assert tags(outputs[5])["disability"] == 1
    assert outputs[5][IDENTITY_GROUP_KEY].tolist() == [b"disability"]


def test_empty_comment_gives_padding_only(outputs):
    assert outputs[1]["tokens"].tolist() == [0] * MAX_TOKENS
    assert sum(tags(outputs[1]).values()) == 0


def test_tokens_are_fixed_length_and_truncated(outputs):
    for row in outputs:
        assert row["tokens"].shape == (MAX_TOKENS,)
    assert all(t > 0 for t in outputs[3]["tokens"].tolist())
    # Tagging reads the whole comment, not just the first tokens.
    assert tags(outputs[3])["sexual_orientation"] == 1


def test_unicode_and_invalid_utf8_are_tokenized(outputs):
    unicode_ids = outputs[2]["tokens"].tolist()
    assert unicode_ids[:4].count(0) == 0
    assert tags(outputs[4])["sexual_orientation"] == 1
    assert outputs[4]["tokens"].tolist()[0] > 0


def test_label_is_binarized_at_one_half(outputs):
    assert [float(r["toxicity"]) for r in outputs] == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
