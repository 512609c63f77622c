"""Command-line mistakes stop with one line naming the path and the fix, before any pipeline
step runs: the --output folder, --data layouts the pipeline would misread, predict's --file."""

import errno
import os
import subprocess
import tempfile

import pytest

import local_runner
from ingest.tfrecords import make_example, write_examples
from tests import runs


def run_error(argv) -> str:
    """The SystemExit message of `local_runner.py run ARGV`; it must be one `error:` line
    (SystemExit with a message exits with status 1)."""
    with pytest.raises(SystemExit) as raised:
        local_runner.main(["run", *argv])
    message = raised.value.code
    assert isinstance(message, str) and message.startswith("error: "), message
    assert "\n" not in message, message
    return message


def examples(n=10):
    return [make_example(f"comment {i}", float(i % 2)) for i in range(n)]


def test_output_that_is_a_file_exits_1_with_one_line(tmp_path):
    path = tmp_path / "outputs"
    path.write_text("not a folder")
    done = subprocess.run(
        runs.runner_command("run", "--output", str(path)), capture_output=True, text=True
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: --output {path} is a file, not a folder; pass a folder path "
        "(it is created when missing)"
    )


def test_read_only_output_folder_is_named(tmp_path, monkeypatch):
    output = tmp_path / "outputs"
    output.mkdir()
    output.chmod(0o555)
    if os.geteuid() == 0:
        # Root writes into a mode 555 folder anyway; a read-only mount refuses root too.
        def refuse(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    try:
        # A --data folder that does not exist: the output check must come first.
        message = run_error(["--output", str(output), "--data", str(tmp_path / "none")])
    finally:
        output.chmod(0o755)
    assert message.startswith(f"error: --output folder {output} is not writable (")
    assert message.endswith("pass a folder you can write to")


@pytest.mark.parametrize("present, missing", [("train", "eval"), ("eval", "train")])
def test_data_with_one_split_folder_names_the_missing_one(tmp_path, present, missing):
    data = tmp_path / "data"
    write_examples(str(data / present / "data.tfrecord"), examples())
    message = run_error(["--output", str(tmp_path / "out"), "--data", str(data)])
    assert message == (
        f"error: --data folder {data} has {present}/ but no {missing}/; add {data / missing} "
        "with its TFRecords, or put all the files directly in the folder to have them "
        "hash-split 8:1:1 (train:validation:eval)"
    )


def test_example_gen_output_layout_says_to_rename_the_split_folders(tmp_path):
    data = tmp_path / "examples" / "1"
    for split in ("train", "eval"):
        write_examples(str(data / f"Split-{split}" / "data_tfrecord-00000-of-00001"), examples())
    message = run_error(["--output", str(tmp_path / "out"), "--data", str(data)])
    assert message == (
        f"error: --data folder {data} is in ExampleGen's output layout (Split-eval/, "
        "Split-train/); rename Split-train/ to train/ and Split-eval/ to eval/"
    )


def test_data_with_only_other_subfolders_is_named(tmp_path):
    data = tmp_path / "data"
    write_examples(str(data / "part1" / "data.tfrecord"), examples())
    message = run_error(["--output", str(tmp_path / "out"), "--data", str(data)])
    assert message.startswith(f"error: --data folder {data} has only subfolders (part1), no files")


def test_predict_checks_the_file_before_loading_any_model(tmp_path, capsys):
    missing = tmp_path / "texts.txt"
    # No model either: the file must be the error, found before the model is looked for.
    code = local_runner.main(
        ["predict", "--serving-dir", str(tmp_path / "nowhere"), "--file", str(missing)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: cannot read --file {missing}: No such file or directory; pass a text file "
        "with one text per line, or '-' for stdin"
    ]


def test_a_validation_folder_is_the_third_split(tmp_path):
    from ingest.preflight import data_layout

    data = tmp_path / "data"
    for split in ("train", "eval"):
        write_examples(str(data / split / "data.tfrecord"), examples())
    assert data_layout(str(data)) == ("train", "eval")
    write_examples(str(data / "validation" / "data.tfrecord"), examples())
    assert data_layout(str(data)) == ("train", "validation", "eval")


def test_bad_flags_are_rejected_with_usage_errors(capsys):
    for argv in (
        ["run", "--candidates", "nope"],
        ["run", "--candidates", "baseline,baseline"],
        ["run", "--beam-workers", "0"],
        ["run", "--gate-groups", "martians"],
        ["run", "--max-fpr-gap", "2"],
    ):
        with pytest.raises(SystemExit) as error:
            local_runner.main(argv)
        assert error.value.code == 2
    assert "martians" in capsys.readouterr().err


def test_an_empty_group_list_is_called_empty(capsys):
    with pytest.raises(SystemExit) as error:
        local_runner.main(["run", "--gate-groups", " , "])
    assert error.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "local_runner.py run: error: argument --gate-groups: the list is empty (' , '); name one "
        "or more of gender, sexual_orientation, religion, race, disability, comma-separated"
    )


def test_a_run_stopped_before_it_starts_leaves_no_folder_behind(tmp_path):
    output = tmp_path / "new" / "outputs"
    message = run_error(["--output", str(output), "--data", str(tmp_path / "none")])
    assert message == f"error: --data folder not found: {tmp_path / 'none'}"
    assert not (tmp_path / "new").exists()
    with pytest.raises(SystemExit) as stopped:
        local_runner.main(["run", "--output", str(output), "--learning-rate", "nan"])
    assert stopped.value.code == 2
    assert not (tmp_path / "new").exists()
    # A folder that was there before stays, with what it held.
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    run_error(["--output", str(kept), "--data", str(tmp_path / "none")])
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="--data folder not found"):
        local_runner.main(["run", "--output", str(tmp_path), "--data", str(tmp_path / "none")])


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--seed", "-1", "error: seed must be between 0 and 2**32 - 1, got -1"),
        ("--learning-rate", "nan", "error: learning_rate must be a finite number > 0, got nan"),
        ("--tfco-epsilon", "-0.1", "error: tfco_epsilon must be a finite number >= 0, got -0.1"),
    ],
)
def test_a_flag_value_out_of_range_is_a_usage_error_before_anything_runs(
    tmp_path, capsys, flag, value, message
):
    # Exit status 2, as argparse's own: the README's "malformed flag". Nothing is written.
    with pytest.raises(SystemExit) as stopped:
        local_runner.main(["run", "--output", str(tmp_path / "out"), flag, value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message
    assert not (tmp_path / "out").exists()
