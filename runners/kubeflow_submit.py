"""Send a compiled pipeline to Vertex AI Pipelines or to a Kubeflow Pipelines endpoint; every
failure of the services or of the credentials is one line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


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
