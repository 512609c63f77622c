"""Pre-flight cases beyond the corpus in test_bad_input.py: a gzip file named as plain
TFRecords, and labels of one class only."""

import gzip
import re

import pytest

from ingest.preflight import DataFileError, check_data
from ingest.tfrecords import make_example, write_examples


def split_data(folder, train=None):
    good = [make_example(f"comment {i}", float(i % 2)) for i in range(20)]
    write_examples(str(folder / "train" / "data.tfrecord"), train or good)
    write_examples(str(folder / "eval" / "data.tfrecord"), good)
    return folder


def test_gzip_file_without_gz_name_says_to_rename_it(tmp_path):
    folder = split_data(tmp_path / "data")
    path = folder / "train" / "data.tfrecord"
    path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(
        DataFileError,
        match=rf"^{re.escape(str(path))}: gzip-compressed, but its name does not end in \.gz.*"
        r"rename it to data\.tfrecord\.gz$",
    ):
        check_data(str(folder), True)


@pytest.mark.parametrize("label, only", [(0.0, "non-toxic"), (1.0, "toxic")])
def test_labels_of_one_class_stop_before_the_pipeline(tmp_path, label, only):
    one_class = [make_example(f"comment {i}", label) for i in range(20)]
    folder = split_data(tmp_path / "data", train=one_class)
    with pytest.raises(
        DataFileError,
        match=rf"^{re.escape(str(folder / 'train'))}: all 20 toxicity labels in split 'train' "
        rf"are {only} .*needs both classes",
    ):
        check_data(str(folder), True)
