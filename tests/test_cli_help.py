"""The runner's flags explain themselves (`--help` with defaults), and `--verbose` brings back
the libraries' warnings and TensorFlow's log that a normal run hides."""

import argparse
import logging
import os
import warnings

import pytest
from absl import flags

import local_runner
import pipeline
from runners import commands, predict, reports

ADDERS = {
    "run": commands.add_run_arguments,
    "predict": predict.add_predict_arguments,
    "report": reports.add_report_arguments,
}


@pytest.mark.parametrize("command", ADDERS)
def test_every_flag_of_the_commands_has_help(command):
    # `run` includes the gate and training flags of runners/cli.py, shared with Kubeflow.
    parser = argparse.ArgumentParser()
    ADDERS[command](parser)
    options = {o for a in parser._actions for o in a.option_strings}
    if command == "run":
        assert {"--max-fpr-gap", "--tfco-epsilon", "--postprocess-min-rows"} <= options
    assert [a.option_strings or a.dest for a in parser._actions if not a.help] == []


def test_run_help_shows_defaults_but_not_unset_ones(capsys):
    with pytest.raises(SystemExit) as done:
        local_runner.main(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("default: baseline,min_diff,tfco,baseline_group_thresholds", "(default: 1)",
                  "(default: 3306)", "(default: 20000)"):  # fmt: skip
        assert shown in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "push destination of the champion (default: OUTPUT/serving)" in text


@pytest.fixture
def quiet_afterwards():
    yield
    pipeline.set_verbosity(False)


def assert_verbose(verbose: bool) -> None:
    absl_level = flags.FLAGS["verbosity"].default
    assert absl_level == (-1 if verbose else -2)  # absl's WARNING / ERROR
    level = logging.getLogger("tensorflow").level
    assert level == (logging.NOTSET if verbose else logging.ERROR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("old grpc", FutureWarning, "grpc.py", 1, "google.auth.grpc")
    assert len(caught) == (1 if verbose else 0)


def test_quiet_by_default_and_verbose_on_request(quiet_afterwards):
    assert_verbose(False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("2", "3")
    pipeline.set_verbosity(True)
    assert_verbose(True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("0", "1")
    pipeline.set_verbosity(False)
    assert_verbose(False)


def test_run_and_predict_take_verbose_before_anything_else(tmp_path, quiet_afterwards, capsys):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        local_runner.main(["run", "--verbose", "--output", str(tmp_path / "a-file")])
    assert_verbose(True)
    pipeline.set_verbosity(False)
    code = local_runner.main(["predict", "--verbose", "--file", str(tmp_path / "missing.txt")])
    assert code == 1
    assert_verbose(True)
