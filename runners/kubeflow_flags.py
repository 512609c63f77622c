"""The Kubeflow runner's flags and its deployment file (`--config`, JSON or YAML): the keys are
the long flag names, and flags on the command line override the file."""

from __future__ import annotations

import argparse
import json

import yaml

from runners import cli

# kubeflow/Dockerfile copies the repository here; paths that components open at run time
# (the curated schema) must be paths inside the image, not on the machine that compiles.
CONTAINER_PROJECT_DIR = "/pipeline"
DEFAULT_SCHEMA_PATH = f"{CONTAINER_PROJECT_DIR}/schema/schema.pbtxt"

# Flags that only `submit` takes; a config file may not name them, so a file alone never
# sends a pipeline anywhere.
SUBMIT_ONLY = ("vertex", "kfp-endpoint", "service-account")
# Flags given once per value; a config file lists their values.
REPEATABLE = ("beam-arg",)


def _gcs_path(text: str) -> str:
    # Vertex and Dataflow workers cannot read the files of the machine that compiles.
    if not text.startswith("gs://") or len(text) <= len("gs://"):
        raise argparse.ArgumentTypeError(f"must be a gs:// path, got {text!r}")
    return text.rstrip("/")


def add_settings_arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The flags of both subcommands; returns their actions so a config file can name them."""
    actions: list[argparse.Action] = []

    def add(group, *names, **kwargs):
        actions.append(group.add_argument(*names, **kwargs))

    parser.add_argument("--config", help="JSON or YAML file of flag values (keys: long flag names)")
    where = parser.add_argument_group("where it runs")
    add(where, "--project", required=True, help="GCP project")
    add(where, "--region", required=True, help="GCP region of Vertex AI and Dataflow")
    add(where, "--pipeline-root", type=_gcs_path, required=True, help="gs:// root of run artifacts")
    add(where, "--image", required=True, help="container image built from kubeflow/Dockerfile")
    add(where, "--data-root", type=_gcs_path, required=True, help="gs:// folder of TFRecords")
    add(
        where,
        "--hash-split",
        action="store_true",
        help="hash-split the files of --data-root 8:1:1 into train, validation and eval (default: it has train/ and eval/ folders; validation is then a hash tenth of train)",
    )
    add(
        where,
        "--challenge-root",
        type=_gcs_path,
        required=True,
        help="gs:// folder of the identity challenge suite (written by `local_runner.py "
        "challenge-suite`; docs/challenge_suite.md)",
    )
    add(where, "--serving-dir", type=_gcs_path, required=True, help="gs:// push destination")
    add(
        where,
        "--schema-path",
        default=DEFAULT_SCHEMA_PATH,
        help=f"curated schema, a path inside the image (default: {DEFAULT_SCHEMA_PATH})",
    )
    add(where, "--output-dir", default="build/kubeflow", help="where the compiled JSON goes")
    add(where, "--no-cache", action="store_true", help="re-run every component")

    beam = parser.add_argument_group("Beam on Dataflow")
    add(beam, "--temp-location", type=_gcs_path, help="default: PIPELINE_ROOT/dataflow-temp")
    add(beam, "--machine-type", default="n1-standard-4", help="Dataflow worker machine type")
    add(beam, "--max-num-workers", type=cli.positive_int, default=10)
    add(beam, "--disk-size-gb", type=cli.positive_int, default=50)
    add(
        beam,
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra Beam argument, e.g. --beam-arg=--subnetwork=... (repeatable)",
    )

    vertex = parser.add_argument_group("Trainer on Vertex AI Training (optional)")
    add(vertex, "--vertex-training", action="store_true", help="run the Trainer as a Vertex job")
    add(vertex, "--training-machine-type", default="n1-standard-4")
    add(vertex, "--training-accelerator-type", help="e.g. NVIDIA_TESLA_T4")
    add(vertex, "--training-accelerator-count", type=cli.positive_int, default=1)

    endpoint = parser.add_argument_group("Push to a Vertex AI endpoint (optional)")
    add(
        endpoint,
        "--vertex-endpoint",
        help="deploy the selected model to this Vertex AI endpoint (TFX's Vertex Pusher, behind "
        "the same blessing) instead of writing it to --serving-dir",
    )
    add(endpoint, "--serving-machine-type", default="n1-standard-2")
    add(
        endpoint,
        "--serving-image",
        default="us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest",
        help="prediction container (TensorFlow 2.16, as trained)",
    )

    cli.add_gate_and_training_arguments(parser, add)
    return actions


def add_submit_arguments(submit: argparse.ArgumentParser) -> None:
    """Where `submit` sends the run: exactly one destination, named on the command line."""
    destination = submit.add_mutually_exclusive_group(required=True)
    destination.add_argument("--vertex", action="store_true", help="Vertex AI Pipelines")
    destination.add_argument("--kfp-endpoint", metavar="URL", help="Kubeflow Pipelines API host")
    submit.add_argument("--service-account", help="service account the run executes as")


def load_config_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise SystemExit(f"error: cannot read --config {path}: {error.strerror}") from None
    try:
        values = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    except (ValueError, yaml.YAMLError) as error:
        raise SystemExit(f"error: --config {path} is not valid: {error}") from None
    if not isinstance(values, dict):
        raise SystemExit(f"error: --config {path} must hold a mapping of flag names to values")
    return values


def config_tokens(values: dict, actions: list[argparse.Action], path: str) -> list[str]:
    """Command-line tokens for the file's values, to be parsed before the real flags."""
    by_key = {a.option_strings[0][2:]: a for a in actions}
    tokens: list[str] = []
    for raw_key, value in values.items():
        key = str(raw_key).replace("_", "-")
        if key in SUBMIT_ONLY:
            raise SystemExit(f"error: --config {path}: give --{key} on the command line")
        action = by_key.get(key)
        if action is None:
            raise SystemExit(
                f"error: --config {path}: unknown key {raw_key!r}; "
                f"known: {', '.join(sorted(by_key))}"
            )
        flag = f"--{key}"
        if action.nargs == 0:
            if not isinstance(value, bool):
                raise SystemExit(f"error: --config {path}: {raw_key} must be true or false")
            if value:
                tokens.append(flag)
        elif key in REPEATABLE:
            items = value if isinstance(value, list) else [value]
            tokens += [f"{flag}={item}" for item in items]
        elif isinstance(value, list):
            tokens.append(f"{flag}={','.join(str(v) for v in value)}")
        else:
            tokens.append(f"{flag}={value}")
    return tokens


def with_config_file(argv: list[str], actions: list[argparse.Action]) -> list[str]:
    """argv with the `--config` file's values as flags; they go first so that the same flag
    given later on the command line wins."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv[1:])
    if not (known.config and argv):
        return argv
    values = load_config_file(known.config)
    return [argv[0], *config_tokens(values, actions, known.config), *argv[1:]]


def complete(args: argparse.Namespace) -> argparse.Namespace:
    """Defaults that depend on other flags."""
    if args.temp_location is None:
        args.temp_location = f"{args.pipeline_root}/dataflow-temp"
    return args
