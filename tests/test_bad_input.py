"""The bad-input corpus: each case stops with a message naming the file (or data folder) and
the problem, at the stage that can see it, and never pushes; odd-but-valid text flows through.

Stages: the runner's pre-flight read of the TFRecord files (framing, CRCs, tf.Example), the
importer (CSV/TSV to TFRecords), and ExampleValidator + DataCheck (the curated schema). The
cheap cases run the stage's own code; the `e2e` ones run the real pipeline on an output
folder that already holds a pushed model and show that the run stops before Transform and
the push is untouched. docs/reliability.md lists the corpus.
"""

import math
import re
import struct
import subprocess

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

import local_runner
from components.data_check import DataAnomaliesError, check_anomalies, describe_anomalies
from ingest.importers import DatasetImportError, import_civil_comments
from ingest.preflight import DataFileError, check_data
from ingest.tfrecords import make_example, read_examples, write_examples
from tests import runs
from tests.conftest import SCHEMA_PATH


def good(n=20, offset=0):
    return [
        make_example(f"comment {i + offset}", float(i % 2), {"religion": ["muslim"]})
        for i in range(n)
    ]


def record_starts(path) -> list[int]:
    data = open(path, "rb").read()
    starts, offset = [], 0
    while offset < len(data):
        starts.append(offset)
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        offset += 12 + length + 4
    return starts


def split_data(folder, train=None, eval_=None):
    """A train/ and eval/ data folder of good examples, with one split's file replaced."""
    write_examples(str(folder / "train" / "data.tfrecord"), train or good())
    write_examples(str(folder / "eval" / "data.tfrecord"), eval_ or good(offset=100))
    return folder


def truncate(path, record: int) -> None:
    start = record_starts(path)[record]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: start + 12 + 5])


def flip_byte(path, record: int) -> None:
    start = record_starts(path)[record]
    data = bytearray(open(path, "rb").read())
    data[start + 12 + 3] ^= 0xFF
    open(path, "wb").write(bytes(data))


# --- Pre-flight: the runner reads every file before the pipeline starts --------------------


def test_truncated_file_names_file_and_record(tmp_path):
    folder = split_data(tmp_path / "data")
    path = folder / "train" / "data.tfrecord"
    truncate(path, 19)
    with pytest.raises(
        DataFileError, match=rf"{re.escape(str(path))}: truncated: record 19 \(byte offset \d+\)"
    ):
        check_data(str(folder), True)


def test_bad_crc_names_file_and_record(tmp_path):
    folder = split_data(tmp_path / "data")
    path = folder / "eval" / "data.tfrecord"
    flip_byte(path, 7)
    with pytest.raises(
        DataFileError, match=rf"{re.escape(str(path))}: corrupted record 7 .*CRC checksum"
    ):
        check_data(str(folder), True)


def test_a_csv_in_the_data_folder_is_not_a_tfrecord_file(tmp_path):
    folder = split_data(tmp_path / "data")
    stray = folder / "eval" / "comments.csv"
    stray.write_text("comment_text,toxicity\nhello,0\n")
    with pytest.raises(
        DataFileError, match=rf"{re.escape(str(stray))}: not a TFRecord file.*import"
    ):
        check_data(str(folder), True)


def test_a_record_that_is_not_a_tf_example_is_named(tmp_path):
    folder = split_data(tmp_path / "data")
    path = folder / "train" / "data.tfrecord"
    records = [e.SerializeToString() for e in good()]
    records[4] = b"\xff\xff\xff\xff"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    with pytest.raises(
        DataFileError, match=rf"{re.escape(str(path))}: record 4 is not a serialized tf.Example"
    ):
        check_data(str(folder), True)


def test_a_split_folder_with_no_files_is_named(tmp_path):
    folder = split_data(tmp_path / "data")
    (folder / "eval" / "data.tfrecord").unlink()
    with pytest.raises(
        DataFileError, match=rf"{re.escape(str(folder / 'eval'))}: no data files for split 'eval'"
    ):
        check_data(str(folder), True)


def test_a_split_of_empty_files_has_no_records(tmp_path):
    folder = split_data(tmp_path / "data")
    write_examples(str(folder / "eval" / "data.tfrecord"), [])
    with pytest.raises(DataFileError, match=r"eval: split 'eval' has no records \(files: data"):
        check_data(str(folder), True)


def test_empty_comments_are_counted_not_refused(tmp_path):
    examples = good()
    for i in (3, 11):
        examples[i].features.feature["comment_text"].bytes_list.value[0] = b" " if i == 3 else b""
    folder = split_data(tmp_path / "data", train=examples)
    report = check_data(str(folder), True)
    [train] = report.splits["train"]
    assert (train.records, train.empty_comments, train.first_empty) == (20, 2, 3)
    assert any("2 record(s) with an empty comment_text (first: record 3)" in line
               for line in report.lines())  # fmt: skip


def test_a_wrongly_typed_comment_is_left_to_the_schema_check(tmp_path):
    examples = good()
    del examples[5].features.feature["comment_text"]
    examples[5].features.feature["comment_text"].int64_list.value.append(3)
    folder = split_data(tmp_path / "data", train=examples)
    [train] = check_data(str(folder), True).splits["train"]
    assert train.records == 20 and "not text in record 5" in train.note


# --- Importer: CSV/TSV files -----------------------------------------------------------------


def test_importer_names_a_missing_column(tmp_path):
    csv = tmp_path / "civil.csv"
    csv.write_text("id,text,toxicity\n1,hello,0.1\n")
    with pytest.raises(
        DatasetImportError, match=rf"{re.escape(str(csv))}: missing text column 'comment_text'"
    ):
        import_civil_comments(str(csv), str(tmp_path / "out.tfrecord"))
    assert not (tmp_path / "out.tfrecord").exists()


def import_cli(*argv) -> tuple[int, str]:
    """`local_runner.py import --format generic ...`: exit status and the last stderr line."""
    done = subprocess.run(
        runs.runner_command("import", "--format", "generic", "--text-column", "text",
                            "--label-columns", "label", *argv),
        capture_output=True, text=True,
    )  # fmt: skip
    return done.returncode, (done.stderr.strip().splitlines() or [""])[-1]


def test_importer_suggests_the_delimiter_a_header_shows(tmp_path):
    semi = tmp_path / "semi.csv"
    semi.write_text("text;label\nhello;0\nyou idiot;1\n")
    out = tmp_path / "out.tfrecord"
    code, line = import_cli("--input", str(semi), "--output", str(out))
    assert (code, line) == (
        1,
        f"error: {semi}: missing text column 'text'; columns found: 'text;label'; the header "
        "looks ';'-separated: rerun with --delimiter ';'",
    )
    assert import_cli("--input", str(semi), "--output", str(out), "--delimiter", ";")[0] == 0
    assert len(list(read_examples(str(out)))) == 2


def test_importer_output_under_a_file_names_the_output_and_the_fix(tmp_path):
    good_csv = tmp_path / "good.csv"
    good_csv.write_text("text,label\nhello,0\n")
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "sub" / "out.tfrecord"
    code, line = import_cli("--input", str(good_csv), "--output", str(out))
    assert (code, line) == (
        1,
        f"error: cannot write --output {out}: cannot create its folder {out.parent} "
        f"({tmp_path / 'afile'} is a file, not a folder); choose an --output path in a folder "
        "you can write to",
    )
    assert (tmp_path / "afile").read_text() == ""


def test_importer_skips_labels_outside_0_1_with_line_numbers(tmp_path):
    csv = tmp_path / "civil.csv"
    csv.write_text("comment_text,toxicity\nfine,0.2\ntoo high,1.5\nnegative,-0.1\nok,0.9\n")
    report = import_civil_comments(str(csv), str(tmp_path / "out.tfrecord"), max_skipped_share=1)
    assert report.written == 2
    assert [line for line, _ in report.skipped] == [3, 4]
    assert all("outside [0, 1]" in reason for _, reason in report.skipped)


def test_importer_refuses_more_skipped_rows_than_allowed(tmp_path):
    csv = tmp_path / "civil.csv"
    csv.write_text("comment_text,toxicity\nfine,0.2\ntoo high,1.5\nnegative,-0.1\nok,0.9\n")
    with pytest.raises(
        DatasetImportError,
        match=rf"{re.escape(str(csv))}: skipped 2 of 4 rows \(50.0%\), more than "
        r"--max-skipped-share 0.01 allows",
    ) as excinfo:
        import_civil_comments(str(csv), str(tmp_path / "out.tfrecord"))
    assert excinfo.value.report.read == 4 and excinfo.value.report.written == 2
    assert not (tmp_path / "out.tfrecord").exists()


def test_importer_refuses_invalid_utf8_naming_the_line_and_encoding(tmp_path):
    csv = tmp_path / "civil.csv"
    csv.write_bytes(b"comment_text,toxicity\nok,0.1\ncaf\xc3 bad \xff bytes,0.0\n")
    with pytest.raises(
        DatasetImportError,
        match=rf"{re.escape(str(csv))}: not valid UTF-8 text: bytes b'\\xc3' on line 3 .*"
        r"--encoding latin-1.*--encoding-errors replace",
    ):
        import_civil_comments(str(csv), str(tmp_path / "out.tfrecord"))
    assert not (tmp_path / "out.tfrecord").exists()


def test_importer_replaces_invalid_utf8_when_asked_and_warns(tmp_path):
    csv = tmp_path / "civil.csv"
    csv.write_bytes(b"comment_text,toxicity\ncaf\xc3 bad \xff bytes,0.0\n")
    report = import_civil_comments(
        str(csv), str(tmp_path / "out.tfrecord"), encoding_errors="replace"
    )
    assert report.written == 1 and report.replacement_char_rows == 1
    assert "warning: 1 rows contain U+FFFD" in report.summary()
    [example] = read_examples(str(tmp_path / "out.tfrecord"))
    assert "\ufffd" in example.features.feature["comment_text"].bytes_list.value[0].decode()


def test_importer_refuses_a_runaway_quoted_field(tmp_path):
    csv = tmp_path / "civil.csv"
    rows = "".join(f"row {i},0.1\n" for i in range(4, 1003))
    csv.write_text(f'comment_text,toxicity\nfine,0.2\n"stray quote,0.9\n{rows}')
    with pytest.raises(
        DatasetImportError,
        match=rf"{re.escape(str(csv))}: the quoted field starting on line 3 runs over 1000 "
        r"lines, to line 1002",
    ):
        import_civil_comments(str(csv), str(tmp_path / "out.tfrecord"))
    assert not (tmp_path / "out.tfrecord").exists()


def test_importer_refuses_repeated_column_names(tmp_path):
    csv = tmp_path / "civil.csv"
    csv.write_text("comment_text,toxicity,comment_text\n,0.1,the real text\n")
    with pytest.raises(
        DatasetImportError,
        match=rf"{re.escape(str(csv))}: the header repeats column names: 'comment_text' "
        r"\(columns 1, 3\)",
    ):
        import_civil_comments(str(csv), str(tmp_path / "out.tfrecord"))


# --- Schema: ExampleValidator's anomalies, turned into a failure by DataCheck ----------------


def schema_check(examples, folder="/data/incoming"):
    """The run's DataCheck on TFDV statistics of the examples; its error message or None.

    TFDV's in-memory statistics use the same generators as StatisticsGen without a Beam
    pipeline per case (milliseconds instead of seconds); the e2e cases below use the real one.
    """
    try:
        check_anomalies({"train": anomalies_of(examples)}, folder)
    except DataAnomaliesError as error:
        return str(error)
    return None


def anomalies_of(examples):
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(
        [e.SerializeToString() for e in examples]
    )
    stats = stats_impl.generate_statistics_in_memory(batch)
    schema = io_utils.parse_pbtxt_file(str(SCHEMA_PATH), schema_pb2.Schema())
    return tfdv.validate_statistics(stats, schema)


def test_clean_data_passes():
    anomalies = anomalies_of(good())
    assert describe_anomalies(anomalies) == []
    check_anomalies({"train": anomalies})


def test_message_lists_every_split():
    bad = good()
    bad[0].features.feature["toxicity"].float_list.value[0] = -1.0
    anomalies = anomalies_of(bad)
    with pytest.raises(DataAnomaliesError) as error:
        check_anomalies({"eval": anomalies, "train": anomalies}, "/data/x")
    text = str(error.value)
    assert "/data/x" in text and "[eval split]" in text and "[train split]" in text


def _drop(feature, index=0):
    def mutate(examples):
        del examples[index].features.feature[feature]

    return mutate


def _retype(feature, kind, value):
    def mutate(examples):
        for e in examples:
            del e.features.feature[feature]
            getattr(e.features.feature[feature], kind).value.append(value)

    return mutate


def _label(value, index=3):
    def mutate(examples):
        examples[index].features.feature["toxicity"].float_list.value[0] = value

    return mutate


def _second_text(examples):
    examples[0].features.feature["comment_text"].bytes_list.value.append(b"another")


def _new_feature(examples):
    for e in examples:
        e.features.feature["severe_toxicity"].float_list.value.append(0.1)


SCHEMA_CASES = {
    "missing comment_text": (_drop("comment_text"), "comment_text", "fewer examples than expected"),
    "missing toxicity": (_drop("toxicity", 5), "toxicity", "fewer examples than expected"),
    "toxicity as text": (_retype("toxicity", "bytes_list", b"yes"), "toxicity", "Expected data of type: FLOAT"),
    "comment_text as integer": (_retype("comment_text", "int64_list", 7), "comment_text", "Expected data of type: BYTES"),
    "label above 1": (_label(4.0), "toxicity", "Unexpectedly high value"),
    "label below 0": (_label(-0.5), "toxicity", "Unexpectedly low values"),
    "NaN label": (_label(math.nan), "toxicity", "NaN"),
    "two comments in one record": (_second_text, "comment_text", "value lengths vary"),
    "schema drift: new feature": (_new_feature, "severe_toxicity", "New column"),
}  # fmt: skip


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_schema_case_names_folder_split_feature_and_problem(case):
    mutate, feature, problem = SCHEMA_CASES[case]
    examples = good()
    mutate(examples)
    message = schema_check(examples)
    assert message is not None, f"{case} was not caught"
    assert "/data/incoming" in message and "stops before training" in message
    assert f"[train split] feature '{feature}'" in message and problem in message, message


@pytest.mark.parametrize("name", runs.WEIRD_COMMENTS)
def test_odd_but_valid_comments_pass_the_schema_check(name):
    text, _ = runs.WEIRD_COMMENTS[name]
    examples = good()
    examples[2].features.feature["comment_text"].bytes_list.value[0] = text.encode(
        "utf-8", "surrogateescape"
    )
    assert schema_check(examples) is None


# --- Through the real pipeline, next to an earlier push --------------------------------------


def _run(pushed_run, data):
    return local_runner.main(["run", "--data", str(data), "--output", str(pushed_run["output"]),
                              *runs.PUSHED])  # fmt: skip


@pytest.mark.e2e
def test_odd_comments_flow_through_every_step_and_empty_ones_are_reported(pushed_run):
    printed = pushed_run["printed"]
    for split in ("train", "eval"):
        path = pushed_run["data"] / split / "weird.tfrecord"
        assert f"note: {path}: 2 record(s) with an empty comment_text (first: record 0)" in printed
    # Transform ran in the run killed during training; the rerun took it from the cache.
    assert pushed_run["killed"]["states"]["Transform"] == [runs.COMPLETE]
    for node in ("Trainer.baseline", "Evaluator.baseline", "FairnessGate.baseline", "Selector",
                 "Pusher"):  # fmt: skip
        assert pushed_run["states"][node] == [runs.COMPLETE], node
    assert "Outcome: blessed" in printed


@pytest.mark.e2e
@pytest.mark.parametrize("damage", ["truncated", "bad CRC", "empty folder"])
def test_unreadable_input_stops_before_the_pipeline_starts(pushed_run, tmp_path, capsys, damage):
    before_push = runs.snapshot(pushed_run["serving"])
    before_runs = runs.executions_by_run(pushed_run["metadata"])
    folder = split_data(tmp_path / "data")
    path = folder / "train" / "data.tfrecord"
    expected = {
        "truncated": rf"{re.escape(str(path))}: truncated: record 12",
        "bad CRC": rf"{re.escape(str(path))}: corrupted record 12 .*CRC",
        "empty folder": rf"--data folder has no data files: {re.escape(str(folder))}$",
    }[damage]
    if damage == "truncated":
        truncate(path, 12)
    elif damage == "bad CRC":
        flip_byte(path, 12)
    else:
        for split in ("train", "eval"):
            (folder / split / "data.tfrecord").unlink()
    with pytest.raises(SystemExit, match=expected):
        _run(pushed_run, folder)
    assert runs.executions_by_run(pushed_run["metadata"]) == before_runs
    assert runs.snapshot(pushed_run["serving"]) == before_push


E2E_SCHEMA_CASES = {
    "label above 1": ("toxicity", "Unexpectedly high value"),
    "schema drift: new feature": ("severe_toxicity", "New column"),
}


@pytest.fixture(scope="module")
def anomalous_run(pushed_run, tmp_path_factory):
    """One run next to pushed_run's push (on a copy of its output) whose eval split has both
    e2e schema anomalies: a label above 1 and a new feature column."""
    folder = tmp_path_factory.mktemp("anomalies")
    output = runs.copy_output(pushed_run["output"], folder / "root")
    before_push = runs.snapshot(output / "serving")
    bad = good(40)
    for case in E2E_SCHEMA_CASES:
        SCHEMA_CASES[case][0](bad)
    data = split_data(folder / "data", eval_=bad)
    code, _, errors = runs.run_pipeline("--data", str(data), "--output", str(output),
                                        *runs.PUSHED)  # fmt: skip
    return {
        "folder": data,
        "code": code,
        "errors": errors,
        "states": runs.latest_run(output / "metadata.sqlite"),
        "serving_before": before_push,
        "serving_after": runs.snapshot(output / "serving"),
    }


@pytest.mark.e2e
@pytest.mark.parametrize("case", E2E_SCHEMA_CASES)
def test_schema_anomaly_stops_the_run_before_transform(anomalous_run, case):
    feature, problem = E2E_SCHEMA_CASES[case]
    folder, errors = anomalous_run["folder"], anomalous_run["errors"]
    assert anomalous_run["code"] == 2
    assert "Pipeline failed; no model was pushed." in errors
    assert f"The input data in {folder} does not match the schema" in errors
    assert f"[eval split] feature '{feature}'" in errors and problem in errors
    states = anomalous_run["states"]
    assert states["DataCheck"] == [runs.FAILED]
    assert not {"Transform", "Trainer.baseline", "Pusher"} & set(states)
    assert anomalous_run["serving_after"] == anomalous_run["serving_before"]
