"""Compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines (Beam on Dataflow) and submit it.

    python -m kubeflow.runner compile --config deploy.yaml [--trainer min_diff] [flags]
    python -m kubeflow.runner submit --vertex --config deploy.yaml [flags]
    python -m kubeflow.runner submit --kfp-endpoint https://HOST --config deploy.yaml [flags]

Settings come from flags or a JSON/YAML file (`--config`) whose keys are the long flag names
(`max-num-workers: 10`); flags given on the command line override the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipeline import config
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
    add(where, "--trainer", choices=config.TRAINERS, default="baseline")
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

    cli.add_gate_and_training_arguments(parser, add)
    return actions


def build_parser() -> tuple[argparse.ArgumentParser, list[argparse.Action]]:
    parser = argparse.ArgumentParser(
        prog="python -m kubeflow.runner", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    actions = add_settings_arguments(sub.add_parser("compile", help="write the pipeline JSON"))
    submit = sub.add_parser("submit", help="compile, then start a run")
    add_settings_arguments(submit)
    destination = submit.add_mutually_exclusive_group(required=True)
    destination.add_argument("--vertex", action="store_true", help="Vertex AI Pipelines")
    destination.add_argument("--kfp-endpoint", metavar="URL", help="Kubeflow Pipelines API host")
    submit.add_argument("--service-account", help="service account the run executes as")
    return parser, actions


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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser, actions = build_parser()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv[1:])
    if known.config and argv:
        # File values go first so that the same flag given later on the command line wins.
        argv = [
            argv[0],
            *config_tokens(load_config_file(known.config), actions, known.config),
            *argv[1:],
        ]
    args = parser.parse_args(argv)
    if args.temp_location is None:
        args.temp_location = f"{args.pipeline_root}/dataflow-temp"
    return args


def dataflow_beam_args(args: argparse.Namespace) -> list[str]:
    return [
        "--runner=DataflowRunner",
        f"--project={args.project}",
        f"--region={args.region}",
        f"--temp_location={args.temp_location}",
        f"--machine_type={args.machine_type}",
        f"--max_num_workers={args.max_num_workers}",
        f"--disk_size_gb={args.disk_size_gb}",
        # Workers run our image: it has the TFX stack, fairness-indicators (loaded by the
        # Evaluator's metrics) and this package. TFX then skips building and staging its
        # own source package. Custom worker containers need Dataflow Runner v2.
        "--experiments=use_runner_v2",
        f"--sdk_container_image={args.image}",
        *args.beam_arg,
    ]


def vertex_training_config(args: argparse.Namespace) -> dict:
    """Trainer custom_config keys that make `tfx.extensions.google_cloud_ai_platform.Trainer`
    run `run_fn` in a Vertex AI custom job on our image."""
    from tfx.v1.extensions import google_cloud_ai_platform as gcai

    machine_spec = {"machine_type": args.training_machine_type}
    if args.training_accelerator_type:
        machine_spec["accelerator_type"] = args.training_accelerator_type
        machine_spec["accelerator_count"] = args.training_accelerator_count
    return {
        gcai.ENABLE_VERTEX_KEY: True,
        gcai.VERTEX_REGION_KEY: args.region,
        gcai.TRAINING_ARGS_KEY: {
            "project": args.project,
            "job_spec": {
                "worker_pool_specs": [
                    {
                        "machine_spec": machine_spec,
                        "replica_count": 1,
                        "container_spec": {"image_uri": args.image},
                    }
                ]
            },
        },
    }


def build_pipeline(args: argparse.Namespace):
    from pipeline.pipeline import create_pipeline

    extra = {}
    if args.vertex_training:
        extra["vertex_training"] = vertex_training_config(args)
    settings = cli.settings_from_args(args)
    return create_pipeline(
        pipeline_name=config.pipeline_name(settings.trainer),
        pipeline_root=args.pipeline_root,
        data_root=args.data_root,
        split_folders=not args.hash_split,
        schema_path=args.schema_path,
        serving_model_dir=args.serving_dir,
        settings=settings,
        # Vertex AI Pipelines keeps ML Metadata itself.
        metadata_connection_config=None,
        beam_pipeline_args=dataflow_beam_args(args),
        enable_cache=not args.no_cache,
        **extra,
    )


def compile_pipeline(args: argparse.Namespace) -> Path:
    from tfx import v1 as tfx

    built = build_pipeline(args)
    output_dir = Path(args.output_dir).resolve()
    filename = f"{built.pipeline_info.pipeline_name}.json"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=args.image),
        output_dir=str(output_dir),
        output_filename=filename,
    )
    try:
        runner.run(built)
    except ValueError as error:
        if "custom artifact type name" not in str(error):
            raise
        # The container entrypoint imports a custom artifact class by its TYPE_NAME, which
        # must read "<top-level module>.<Class>" (tensorflow/tfx#6102).
        raise SystemExit(
            f"error: cannot compile for Kubeflow Pipelines v2: {error}. A custom artifact's "
            "TYPE_NAME must be '<module>.<Class>' and importable by that path in the image."
        ) from None
    return output_dir / filename


def google_credentials():
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    except DefaultCredentialsError as error:
        raise SystemExit(
            "error: no Google Cloud credentials found, so nothing was submitted. Run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
            f"to a service-account key file. ({error})"
        ) from None
    return credentials


def submit_vertex(args: argparse.Namespace, job_path: Path, credentials) -> str:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from google.cloud import aiplatform

    name = job_path.stem
    try:
        job = aiplatform.PipelineJob(
            display_name=name,
            template_path=str(job_path),
            pipeline_root=args.pipeline_root,
            enable_caching=not args.no_cache,
            project=args.project,
            location=args.region,
            credentials=credentials,
        )
        job.submit(service_account=args.service_account)
    except (GoogleAPIError, GoogleAuthError) as error:
        raise SystemExit(f"error: Vertex AI did not accept the pipeline job: {error}") from None
    return job.resource_name


def kfp_package(job_path: Path) -> Path:
    """The KFP client takes a PipelineSpec YAML; the TFX runner writes a PipelineJob JSON."""
    job = json.loads(job_path.read_text(encoding="utf-8"))
    package = job_path.with_suffix(".yaml")
    package.write_text(yaml.safe_dump(job["pipelineSpec"], sort_keys=False), encoding="utf-8")
    return package


def submit_kfp(args: argparse.Namespace, job_path: Path) -> str:
    import kfp

    package = kfp_package(job_path)
    try:
        client = kfp.Client(host=args.kfp_endpoint)
        result = client.create_run_from_pipeline_package(
            str(package),
            run_name=job_path.stem,
            pipeline_root=args.pipeline_root,
            enable_caching=not args.no_cache,
            service_account=args.service_account,
        )
    except Exception as error:  # noqa: BLE001 - any client or connection failure ends here
        raise SystemExit(
            f"error: could not start a run on Kubeflow Pipelines at {args.kfp_endpoint}: {error}"
        ) from None
    return result.run_id


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    # Fail before compiling when the run could not be sent anyway.
    credentials = google_credentials() if args.command == "submit" and args.vertex else None
    job_path = compile_pipeline(args)
    print(job_path, flush=True)
    if args.command == "compile":
        return 0
    if args.vertex:
        print(f"Submitted to Vertex AI Pipelines: {submit_vertex(args, job_path, credentials)}")
    else:
        print(f"Started Kubeflow Pipelines run {submit_kfp(args, job_path)} at {args.kfp_endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
