"""DataCheck: real TFDV statistics of bad data against the curated schema stop the run."""

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from components.data_check import DataAnomaliesError, check_anomalies, describe_anomalies
from ingest.tfrecords import make_example, write_examples
from tests.conftest import SCHEMA_PATH


def anomalies_for(tmp_path, examples):
    path = str(tmp_path / "data.tfrecord")
    write_examples(path, examples)
    stats = tfdv.generate_statistics_from_tfrecord(path)
    schema = io_utils.parse_pbtxt_file(str(SCHEMA_PATH), schema_pb2.Schema())
    return tfdv.validate_statistics(stats, schema)


def good(n=20):
    return [make_example(f"comment {i}", float(i % 2), {"religion": ["muslim"]}) for i in range(n)]


def test_clean_data_passes(tmp_path):
    anomalies = anomalies_for(tmp_path, good())
    assert describe_anomalies(anomalies) == []
    check_anomalies({"train": anomalies})


def test_label_out_of_range_names_feature(tmp_path):
    examples = good()
    examples[3].features.feature["toxicity"].float_list.value[0] = 4.0
    with pytest.raises(DataAnomaliesError, match=r"\[train split\] feature 'toxicity'"):
        check_anomalies({"train": anomalies_for(tmp_path, examples)}, "/data/x")


def test_missing_comment_text_names_feature(tmp_path):
    examples = good()
    del examples[0].features.feature["comment_text"]
    lines = describe_anomalies(anomalies_for(tmp_path, examples))
    assert any(line.startswith("feature 'comment_text'") for line in lines), lines


def test_new_unexpected_feature_is_schema_drift(tmp_path):
    examples = good()
    for e in examples:
        e.features.feature["severe_toxicity"].float_list.value.append(0.1)
    lines = describe_anomalies(anomalies_for(tmp_path, examples))
    assert any("severe_toxicity" in line and "New column" in line for line in lines), lines


def test_wrong_feature_type_is_reported(tmp_path):
    examples = good()
    for e in examples:
        del e.features.feature["toxicity"]
        e.features.feature["toxicity"].bytes_list.value.append(b"yes")
    lines = describe_anomalies(anomalies_for(tmp_path, examples))
    assert any(line.startswith("feature 'toxicity'") for line in lines), lines


def test_message_lists_every_split(tmp_path):
    bad = good()
    bad[0].features.feature["toxicity"].float_list.value[0] = -1.0
    anomalies = anomalies_for(tmp_path, bad)
    with pytest.raises(DataAnomaliesError) as error:
        check_anomalies({"eval": anomalies, "train": anomalies}, "/data/x")
    text = str(error.value)
    assert "/data/x" in text and "[eval split]" in text and "[train split]" in text
