"""The Kubeflow Pipelines v2 / Vertex AI runner's submission and its errors. No test reaches the
network: submission goes to fakes of the Vertex AI and KFP clients."""

import json
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import runner
from pipeline import config
from pipeline.pipeline import component_ids
from tests.test_kubeflow import DEPLOY, JOB_FILE, compile_args, component_of, write_config


def test_submit_needs_an_explicit_destination(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["submit", "--config", str(write_config(tmp_path))])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "--vertex" in err and "--kfp-endpoint" in err
    assert "Traceback" not in err


def test_config_file_cannot_submit_by_itself(tmp_path, capsys):
    path = write_config(tmp_path, {**DEPLOY, "kfp-endpoint": "https://kfp.example"})
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["submit", "--config", str(path)])
    assert "--kfp-endpoint on the command line" in str(exit_info.value.code)


def test_config_file_errors_are_plain_messages(tmp_path):
    unknown = write_config(tmp_path, {**DEPLOY, "max-workers": 3})
    with pytest.raises(SystemExit, match="unknown key 'max-workers'"):
        runner.parse_args(["compile", "--config", str(unknown)])
    with pytest.raises(SystemExit, match="cannot read --config"):
        runner.parse_args(["compile", "--config", str(tmp_path / "missing.yaml")])


def test_local_paths_are_refused(tmp_path, capsys):
    path = write_config(tmp_path, {**DEPLOY, "data-root": str(tmp_path)})
    with pytest.raises(SystemExit) as exit_info:
        runner.parse_args(["compile", "--config", str(path)])
    assert exit_info.value.code == 2
    assert "must be a gs:// path" in capsys.readouterr().err


def test_submit_to_vertex_without_credentials_stops_before_compiling(tmp_path, monkeypatch, capsys):
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(*args, **kwargs):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    argv = ["submit", "--vertex", *compile_args(tmp_path, "baseline")[1:]]
    with pytest.raises(SystemExit) as exit_info:
        runner.main(argv)
    message = str(exit_info.value.code)
    assert "no Google Cloud credentials" in message
    assert "gcloud auth application-default login" in message
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_submit_to_vertex_sends_the_compiled_job(tmp_path, monkeypatch):
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    credentials = AnonymousCredentials()
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (credentials, "fair-proj"))
    sent = {}

    class FakePipelineJob:
        def __init__(self, **kwargs):
            sent["job"] = kwargs
            self.resource_name = "projects/1/locations/europe-west4/pipelineJobs/j1"

        def submit(self, **kwargs):
            sent["submit"] = kwargs

    monkeypatch.setattr(aiplatform, "PipelineJob", FakePipelineJob)
    argv = ["submit", "--vertex", "--service-account", "runner@fair-proj.iam", "--no-cache"]
    assert runner.main(argv + compile_args(tmp_path, "min_diff")[1:]) == 0

    job = sent["job"]
    assert job["template_path"] == str(tmp_path / "out" / JOB_FILE)
    assert json.loads(Path(job["template_path"]).read_text())["displayName"] == config.PIPELINE_NAME
    assert job["display_name"] == config.PIPELINE_NAME
    assert (job["project"], job["location"]) == ("fair-proj", "europe-west4")
    assert job["pipeline_root"] == "gs://fair-bucket/pipeline-root"
    assert job["enable_caching"] is False
    assert job["credentials"] is credentials
    assert sent["submit"] == {"service_account": "runner@fair-proj.iam"}


def test_submit_to_kfp_sends_the_pipeline_spec(tmp_path, monkeypatch):
    import kfp

    sent = {}

    class FakeClient:
        def __init__(self, host=None, **kwargs):
            sent["host"] = host

        def create_run_from_pipeline_package(self, pipeline_file, **kwargs):
            sent["file"], sent["run"] = pipeline_file, kwargs

            class Result:
                run_id = "run-1"

            return Result()

    monkeypatch.setattr(kfp, "Client", FakeClient)
    argv = ["submit", "--kfp-endpoint", "https://kfp.example"]
    assert runner.main(argv + compile_args(tmp_path, "tfco")[1:]) == 0

    assert sent["host"] == "https://kfp.example"
    package = yaml.safe_load(Path(sent["file"]).read_text())
    spec = json_format.ParseDict(package, pipeline_spec_pb2.PipelineSpec())
    assert {component_of(t) for t in spec.root.dag.tasks} == set(component_ids(["tfco"]))
    assert sent["run"]["pipeline_root"] == "gs://fair-bucket/pipeline-root"
    assert sent["run"]["enable_caching"] is True


def test_unreachable_kfp_endpoint_is_a_plain_error(tmp_path, monkeypatch):
    import kfp

    class UnreachableClient:
        def __init__(self, host=None, **kwargs):
            raise TimeoutError("Failed getting healthz endpoint after 5 attempts.")

    monkeypatch.setattr(kfp, "Client", UnreachableClient)
    argv = ["submit", "--kfp-endpoint", "https://kfp.example"]
    with pytest.raises(SystemExit) as exit_info:
        runner.main(argv + compile_args(tmp_path, "baseline")[1:])
    message = str(exit_info.value.code)
    assert message.startswith("error: could not start a run on Kubeflow Pipelines")
    assert "healthz" in message
