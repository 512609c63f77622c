"""Compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines: Beam on Dataflow with
the project's image, and optionally the Trainer as a Vertex AI Training job."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import config
from runners import cli


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


def vertex_push_config(args: argparse.Namespace) -> dict:
    """Pusher custom_config that makes `tfx.extensions.google_cloud_ai_platform.Pusher` deploy
    the selected model to a Vertex AI endpoint, served by Google's prebuilt TF container."""
    from tfx.v1.extensions import google_cloud_ai_platform as gcai

    return {
        gcai.ENABLE_VERTEX_KEY: True,
        gcai.VERTEX_REGION_KEY: args.region,
        gcai.VERTEX_CONTAINER_IMAGE_URI_KEY: args.serving_image,
        gcai.SERVING_ARGS_KEY: {
            "project_id": args.project,
            "endpoint_name": args.vertex_endpoint,
            "machine_type": args.serving_machine_type,
        },
    }


def build_pipeline(args: argparse.Namespace):
    """The pipeline the flags describe: the Kubeflow runner's only call to create_pipeline."""
    from pipeline.pipeline import create_pipeline

    extra = {}
    if args.vertex_training:
        extra["vertex_training"] = vertex_training_config(args)
    if args.vertex_endpoint:
        extra["vertex_push"] = vertex_push_config(args)
    settings = cli.settings_from_args(args)
    return create_pipeline(
        pipeline_name=config.PIPELINE_NAME,
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
        challenge_root=args.challenge_root,
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
