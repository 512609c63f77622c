"""Compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines (Beam on Dataflow) and submit it.

    python -m kubeflow.runner compile --config deploy.yaml [--candidates baseline,min_diff] [flags]
    python -m kubeflow.runner submit --vertex --config deploy.yaml [flags]
    python -m kubeflow.runner submit --kfp-endpoint https://HOST --config deploy.yaml [flags]

Settings come from flags or a JSON/YAML file (`--config`) whose keys are the long flag names
(`max-num-workers: 10`); flags given on the command line override the file. This module only
parses and dispatches: runners/kubeflow_flags.py, kubeflow_compile.py and kubeflow_submit.py
do the work.
"""

from __future__ import annotations

import argparse
import sys

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from runners import kubeflow_compile, kubeflow_flags, kubeflow_submit


def build_parser() -> tuple[argparse.ArgumentParser, list[argparse.Action]]:
    parser = argparse.ArgumentParser(
        prog="python -m kubeflow.runner", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    compile_parser = sub.add_parser("compile", help="write the pipeline JSON")
    actions = kubeflow_flags.add_settings_arguments(compile_parser)
    submit = sub.add_parser("submit", help="compile, then start a run")
    kubeflow_flags.add_settings_arguments(submit)
    kubeflow_flags.add_submit_arguments(submit)
    return parser, actions


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser, actions = build_parser()
    return kubeflow_flags.complete(
        parser.parse_args(kubeflow_flags.with_config_file(argv, actions))
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    # Fail before compiling when the run could not be sent anyway.
    vertex = args.command == "submit" and args.vertex
    credentials = kubeflow_submit.google_credentials() if vertex else None
    job_path = kubeflow_compile.compile_pipeline(args)
    print(job_path, flush=True)
    if args.command == "compile":
        return 0
    if vertex:
        resource = kubeflow_submit.submit_vertex(args, job_path, credentials)
        print(f"Submitted to Vertex AI Pipelines: {resource}")
    else:
        run_id = kubeflow_submit.submit_kfp(args, job_path)
        print(f"Started Kubeflow Pipelines run {run_id} at {args.kfp_endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
