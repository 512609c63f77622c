"""Every flag of `run` reaches its setting: each is given a value unlike its default, and the
settings built from the command line differ from the defaults in that one setting alone, so a
flag mapped to the wrong setting (or to two) fails. A new flag fails until it is listed here."""

import argparse
import dataclasses

import pytest

from runners import cli, commands

# flag -> (the setting it sets, "section.field"; the value passed; the value the setting holds)
SETTINGS_FLAGS = {
    "--candidates": ("candidates", "tfco,baseline", ("tfco", "baseline")),
    "--target-fpr": ("training.target_fpr", "0.0731", 0.0731),
    "--decision-threshold": ("training.decision_threshold", "0.613", 0.613),
    "--max-group-fpr": ("gate.max_group_fpr", "0.311", 0.311),
    "--max-fpr-gap": ("gate.max_fpr_gap", "0.0612", 0.0612),
    "--max-fnr-gap": ("gate.max_fnr_gap", "0.0813", 0.0813),
    "--min-auc": ("gate.min_auc", "0.617", 0.617),
    "--min-tpr": ("gate.min_tpr", "0.129", 0.129),
    "--max-auc-drop": ("gate.max_auc_drop", "0.0214", 0.0214),
    "--max-tpr-drop": ("gate.max_tpr_drop", "0.0316", 0.0316),
    "--max-group-fpr-increase": ("gate.max_group_fpr_increase", "0.0418", 0.0418),
    "--min-slice-size": ("gate.min_slice_size", "37", 37),
    "--gate-groups": ("gate.groups", "race,gender", ("race", "gender")),
    "--min-subgroup-auc": ("gate.min_subgroup_auc", "0.523", 0.523),
    "--min-bpsn-auc": ("gate.min_bpsn_auc", "0.524", 0.524),
    "--min-bnsp-auc": ("gate.min_bnsp_auc", "0.525", 0.525),
    "--max-suite-group-fpr": ("gate.max_suite_group_fpr", "0.141", 0.141),
    "--max-suite-term-fpr": ("gate.max_suite_term_fpr", "0.242", 0.242),
    "--max-flip-rate": ("gate.max_flip_rate", "0.0343", 0.0343),
    "--min-suite-recall": ("gate.min_suite_recall", "0.444", 0.444),
    "--max-suite-fnr-gap": ("gate.max_suite_fnr_gap", "0.155", 0.155),
    "--allow-harm": ("gate.no_harm", None, False),
    "--min-bias-score": ("gate.min_bias_score", "0.646", 0.646),
    "--max-epochs": ("training.epochs", "9", 9),
    "--patience": ("training.patience", "4", 4),
    "--batch-size": ("training.batch_size", "48", 48),
    "--learning-rate": ("training.learning_rate", "0.00271", 0.00271),
    "--seed": ("training.seed", "41", 41),
    "--target-groups": ("training.target_groups", "religion,race", ("religion", "race")),
    "--target-group-min-rows": ("training.target_group_min_rows", "57", 57),
    "--max-tokens": ("transform.max_tokens", "61", 61),
    "--vocab-size": ("transform.vocab_size", "1234", 1234),
    "--min-diff-weight": ("training.min_diff_weight", "0.77", 0.77),
    "--tfco-epsilon": ("training.tfco_epsilon", "0.033", 0.033),
    "--tfco-fpr-band": ("training.tfco_fpr_band", "0.0123", 0.0123),
    "--tfco-constraint-holdout": ("training.tfco_constraint_holdout", "0.25", 0.25),
    "--tfco-constraint-rows": ("training.tfco_constraint_rows", "real", "real"),
    "--clp-weight": ("training.clp_weight", "0.66", 0.66),
    "--clp-pairs": ("training.clp_pairs", "all", "all"),
    "--clp-oov": ("training.clp_oov", "swap", "swap"),
    "--postprocess-min-rows": ("training.postprocess_min_rows", "17", 17),
}
# Aliases of a flag above.
ALIASES = {"--epochs": "--max-epochs"}
# Flags the runner itself uses (paths, the metadata store, Beam, the data and suite it writes),
# each checked by the test named.
RUNNER_FLAGS = {
    "--help": "test_cli_help",
    "--data": "test_cli_errors, test_pipeline_e2e",
    "--output": "test_cli_errors",
    "--serving-dir": "test_serving",
    "--metadata": "test_shared_metadata",
    "--mysql-host": "test_shared_metadata",
    "--mysql-port": "test_the_metadata_flags_reach_the_connection",
    "--mysql-database": "test_the_metadata_flags_reach_the_connection",
    "--mysql-user": "test_the_metadata_flags_reach_the_connection",
    "--mysql-password": "test_the_metadata_flags_reach_the_connection",
    "--beam-workers": "test_portable_beam, test_scale_out",
    "--beam-arg": "test_portable_beam",
    "--no-cache": "test_runs_at_once (conftest)",
    "--confidence-intervals": "test_report_e2e",
    "--require-blessing": "test_gate_hold",
    "--verbose": "test_cli_help",
    "--train-size": "test_embedded_data",
    "--eval-size": "test_embedded_data",
    "--data-seed": "test_embedded_data",
    "--suite-madlibs-stride": "test_challenge_suite",
    "--glove": "test_embeddings",
    "--identity-augmentation": "test_augmentation",
    "--sentence-encoder": "test_encoder_candidates, test_encoder_e2e",
}


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    return parser


def flat(settings) -> dict:
    """Every leaf setting as {"section.field": value}; candidates by name."""
    out = {"candidates": tuple(c.name for c in settings.candidates)}
    for section in dataclasses.fields(settings):
        value = getattr(settings, section.name)
        if dataclasses.is_dataclass(value):
            for leaf in dataclasses.fields(value):
                out[f"{section.name}.{leaf.name}"] = getattr(value, leaf.name)
        elif section.name != "candidates":
            out[section.name] = value
    return out


def test_every_run_flag_is_listed_with_what_checks_it():
    options = {o for a in run_parser()._actions for o in a.option_strings if o.startswith("--")}
    listed = set(SETTINGS_FLAGS) | set(ALIASES) | set(RUNNER_FLAGS)
    assert options - listed == set(), "a new flag: add it to SETTINGS_FLAGS or RUNNER_FLAGS"
    assert listed - options == set(), "a listed flag no longer exists"


@pytest.mark.parametrize("flag", [*SETTINGS_FLAGS, *ALIASES])
def test_each_flag_reaches_its_setting_and_no_other(flag):
    path, value, expected = SETTINGS_FLAGS[ALIASES.get(flag, flag)]
    argv = [flag] if value is None else [flag, value]
    built = flat(cli.settings_from_args(run_parser().parse_args(argv)))
    default = flat(cli.settings_from_args(run_parser().parse_args([])))
    assert default[path] != expected, f"{flag}: pick a value unlike the default"
    changed = {k for k in built if built[k] != default[k]}
    assert changed == {path}, f"{flag} set {sorted(changed)}"
    assert (
        built[path] == pytest.approx(expected)
        if isinstance(expected, float)
        else (built[path] == expected)
    )


def test_the_metadata_flags_reach_the_connection():
    args = run_parser().parse_args(["--mysql-host", "db.example", "--mysql-port", "3307",
                                    "--mysql-database", "store", "--mysql-user", "ml",
                                    "--mysql-password", "s3cret"])  # fmt: skip
    mysql = commands.metadata_connection(args, "/tmp/out").mysql
    assert (mysql.host, mysql.port, mysql.database, mysql.user, mysql.password) == (
        "db.example", 3307, "store", "ml", "s3cret")  # fmt: skip
