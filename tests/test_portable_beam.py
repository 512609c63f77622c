"""The production path in one run: the pipeline on a real Beam engine (Beam's portable job
server and an external SDK worker pool, started as plain processes on loopback, through the
runner's --beam-arg; docs/beam.md) with ML Metadata on a MariaDB server (docs/reliability.md).

Every Beam component (ExampleGen, StatisticsGen, Transform, Evaluator) must arrive at that job
server as a job of its own, labelled by TFX with its executor, and finish there; the server
holds the run's metadata, and no SQLite file is written.
"""

import collections
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

import local_runner
from pipeline import mlmd
from pipeline.pipeline import component_ids
from runners import commands
from tests import runs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
JOB_SERVER = "apache_beam.runners.portability.local_job_service_main"
WORKER_POOL = "apache_beam.runners.worker.worker_pool_main"
LABELS_OPTION = "beam:option:labels:v1"
EXECUTOR_LABEL = "tfx_executor"
MYSQL = {"database": "mlmd", "user": "pipeline", "password": "s3cret"}


def test_local_beam_args_come_after_the_direct_runner_ones():
    parser = local_runner_parser()
    args = parser.parse_args(
        ["run", "--beam-workers", "2", "--beam-arg=--runner=PortableRunner", "--beam-arg=--a=b"]
    )
    assert commands.beam_args(args.beam_workers, args.beam_arg) == [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
        "--runner=PortableRunner",
        "--a=b",
    ]
    assert parser.parse_args(["run"]).beam_arg == []
    # No Beam argument by default: TFX then skips packaging itself for each component.
    assert commands.beam_args(1, []) == []


def test_a_local_run_does_not_package_tfx_for_its_beam_workers():
    from tfx.components.statistics_gen.executor import Executor
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.utils import dependency_utils

    infer = dependency_utils.make_beam_dependency_flags
    args = commands.beam_args(2, ["--runner=PortableRunner"])
    with commands.workers_use_this_environment():
        executor = Executor(BaseBeamExecutor.Context(beam_pipeline_args=args))
    # Only TFX's own labels are added: no --extra_package of a TFX sdist in a temporary folder.
    assert executor._beam_pipeline_args[: len(args)] == args
    assert not any("extra_package" in arg for arg in executor._beam_pipeline_args)
    assert dependency_utils.make_beam_dependency_flags is infer


def test_kubeflow_beam_args_come_after_the_dataflow_ones():
    from runners import kubeflow_compile

    args = kubeflow_parse(["--beam-arg=--subnetwork=regions/r/subnetworks/s", "--beam-arg=--x=1"])
    beam = kubeflow_compile.dataflow_beam_args(args)
    assert beam[0] == "--runner=DataflowRunner"
    assert beam[-2:] == ["--subnetwork=regions/r/subnetworks/s", "--x=1"]


def local_runner_parser():
    import argparse

    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser.add_subparsers(dest="command").add_parser("run"))
    return parser


def kubeflow_parse(extra: list[str]):
    from kubeflow import runner

    return runner.parse_args(
        ["compile", "--project=p", "--region=r", "--pipeline-root=gs://b/root", "--image=i",
         "--data-root=gs://b/data", "--challenge-root=gs://b/challenge", "--serving-dir=gs://b/serving", *extra]
    )  # fmt: skip


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    # The pool starts each SDK worker as a plain `python`: this venv's must come first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Workers import this checkout's code (the dotted preprocessing_fn), not an installed copy.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    # Workers import TFMA and TensorFlow before any project package that would set it, and
    # the Evaluator's model loads only with Keras 2 (as the image's ENV sets it).
    env["TF_USE_LEGACY_KERAS"] = "1"
    return env


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.5)
    pytest.fail(f"{process.args} did not listen on port {port} in {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """The server and whatever it started (the pool's SDK workers): its whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    # Workers can outlive the pool after SIGTERM; nothing of the group may stay behind.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def beam_server(module: str, port_flag: str, log: Path):
    port = runs.free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, port_flag, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_env(),
            start_new_session=True,
        )
        try:
            wait_for_port(port, process, log)
            yield port
        finally:
            stop(process)


def job_infos(job_port: int) -> list[dict]:
    """Every job the server was given, through its job service API."""
    import grpc
    from apache_beam.portability.api import beam_job_api_pb2, beam_job_api_pb2_grpc

    with grpc.insecure_channel(f"localhost:{job_port}") as channel:
        stub = beam_job_api_pb2_grpc.JobServiceStub(channel)
        jobs = stub.GetJobs(beam_job_api_pb2.GetJobsRequest(), timeout=60).job_info
    return [
        {
            "id": job.job_id,
            "state": beam_job_api_pb2.JobState.Enum.Name(job.state),
            "options": json_format.MessageToDict(job.pipeline_options),
        }
        for job in jobs
    ]


def executor_label(options: dict) -> str:
    labels = dict(item.split("=", 1) for item in options.get(LABELS_OPTION, []))
    return labels.get(EXECUTOR_LABEL, "")


def beam_job_labels(built) -> collections.Counter:
    """The executor labels TFX gives the Beam jobs of this pipeline: one per Beam component."""
    from tfx.dsl.components.base.executor_spec import BeamExecutorSpec
    from tfx.utils import telemetry_utils

    labels: collections.Counter = collections.Counter()
    for component in built.components:
        spec = getattr(component, "executor_spec", None)
        if isinstance(spec, BeamExecutorSpec):
            path = f"{spec.executor_class.__module__}.{spec.executor_class.__name__}"
            # The same normalisation TFX applies when it labels the executor's Beam job.
            with telemetry_utils.scoped_labels({EXECUTOR_LABEL: path}):
                labels[telemetry_utils.make_labels_dict()[EXECUTOR_LABEL]] += 1
    return labels


def recording_pipelines(monkeypatch) -> list:
    """Every pipeline the runner builds from now on, as it built it."""
    import pipeline.pipeline

    built = []
    create = pipeline.pipeline.create_pipeline

    def recording(**kwargs):
        built.append(create(**kwargs))
        return built[-1]

    monkeypatch.setattr(pipeline.pipeline, "create_pipeline", recording)
    return built


def metadata_store(stack: contextlib.ExitStack, monkeypatch, root: Path):
    """(run flags, connection config, on MariaDB): a throwaway MariaDB server where mariadbd is
    installed, else the default SQLite file under `root`."""
    if runs.mariadb_binaries() is None:
        path = str(root / "metadata.sqlite")
        return ["--metadata", path], metadata.sqlite_metadata_connection_config(path), False
    monkeypatch.setenv("MLMD_MYSQL_PASSWORD", MYSQL["password"])
    port = stack.enter_context(runs.mariadb_server(**MYSQL))
    mysql = metadata_store_pb2.MySQLDatabaseConfig(host="127.0.0.1", port=port, **MYSQL)
    flags = ["--mysql-host", "127.0.0.1", "--mysql-port", str(port),
             "--mysql-database", MYSQL["database"], "--mysql-user", MYSQL["user"]]  # fmt: skip
    return flags, metadata_store_pb2.ConnectionConfig(mysql=mysql), True


@pytest.fixture(scope="module")
def production_run(tmp_path_factory):
    """One tiny run the way production runs: every Beam component as a job on Beam's portable
    job server with an external SDK worker pool (both on loopback), and ML Metadata on a
    throwaway MariaDB server where mariadbd is installed (else SQLite, and the MariaDB test
    skips). What the tests check is read before the servers stop, whatever happens."""
    folder = tmp_path_factory.mktemp("production")
    root = folder / "root"
    logs = folder / "job_server.log", folder / "worker_pool.log"
    printed = io.StringIO()
    with contextlib.ExitStack() as stack:
        job_port = stack.enter_context(beam_server(JOB_SERVER, "--port", logs[0]))
        pool_port = stack.enter_context(beam_server(WORKER_POOL, "--service_port", logs[1]))
        monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        built = recording_pipelines(monkeypatch)
        flags, connection, on_mariadb = metadata_store(stack, monkeypatch, root)
        with contextlib.redirect_stdout(printed):
            code = local_runner.main(
                ["run", "--output", str(root), *flags, *runs.tiny(300, 100), *runs.LENIENT,
                 "--beam-arg=--runner=PortableRunner", f"--beam-arg=--job_endpoint=localhost:{job_port}",
                 "--beam-arg=--environment_type=EXTERNAL",
                 f"--beam-arg=--environment_config=localhost:{pool_port}"]
            )  # fmt: skip
        with metadata.Metadata(connection) as m:
            states = [e.last_known_state for e in m.store.get_executions()]
            nodes = {c.name.split(".", 1)[1] for c in m.store.get_contexts_by_type("node")}
        return {
            "code": code,
            "printed": printed.getvalue(),
            "root": root,
            "on_mariadb": on_mariadb,
            "outcome": mlmd.latest_outcome(connection, runs.PIPELINE) if code == 0 else None,
            "states": states,
            "nodes": nodes,
            "built": built,
            "jobs": job_infos(job_port),
            "pool_port": pool_port,
            "logs": logs,
        }


@pytest.mark.e2e
def test_every_beam_component_runs_as_a_job_on_the_portable_job_server(production_run):
    run = production_run
    job_log, pool_log = run["logs"]
    assert run["code"] == 0, run["printed"][-3000:] + job_log.read_text()[-3000:]
    assert run["states"] and set(run["states"]) == {metadata_store_pb2.Execution.COMPLETE}
    (built,) = run["built"]
    expected = beam_job_labels(built)
    assert {"tfx-components-example_gen-import_example_gen-executor-executor",
            "tfx-components-statistics_gen-executor-executor",
            "tfx-components-transform-executor-executor",
            "tfx-components-evaluator-executor-executor"} <= set(expected)  # fmt: skip

    jobs = run["jobs"]
    assert collections.Counter(executor_label(job["options"]) for job in jobs) == expected
    server_log = job_log.read_text()
    for job in jobs:
        assert job["state"] == "DONE", job
        assert job["options"]["beam:option:environment_type:v1"] == "EXTERNAL"
        assert (
            job["options"]["beam:option:environment_config:v1"] == f"localhost:{run['pool_port']}"
        )
        assert f"Running job '{job['id']}'" in server_log
    # The SDK harnesses ran in processes the external pool started, one per job at least.
    assert pool_log.read_text().count("Starting worker with command") >= len(jobs)


@pytest.mark.e2e
def test_the_same_run_kept_its_metadata_on_mariadb(production_run):
    run = production_run
    if not run["on_mariadb"]:
        pytest.skip("mariadbd not found: install Debian's mariadb-server to run this test")
    assert run["code"] == 0, run["printed"][-3000:]
    outputs = run["outcome"]
    assert outputs.report["blessed"] is True and outputs.pushed is True
    assert outputs.pushed_destination.startswith(str(run["root"] / "serving"))
    assert run["nodes"] == set(component_ids(["baseline"]))
    assert set(run["states"]) == {metadata_store_pb2.Execution.COMPLETE}
    assert not (run["root"] / "metadata.sqlite").exists()
