"""A run killed mid-way leaves executions RUNNING in ML Metadata; the next run says so, naming
the node and the run, and `mlmd.interrupted_executions` lists them for the report."""

import io
import types

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from tfx.orchestration.portable import launcher

from pipeline import mlmd
from runners import progress

PIPELINE = "fair-toxicity"


class Store:
    """A SQLite ML Metadata store with TFX's context layout: pipeline, pipeline_run, node."""

    def __init__(self, path):
        self.connection = mlmd.sqlite_connection(path)
        self.store = metadata_store.MetadataStore(self.connection)
        self.types = {
            name: self.store.put_context_type(pb.ContextType(name=name))
            for name in (mlmd.PIPELINE_CONTEXT, mlmd.RUN_CONTEXT, mlmd.NODE_CONTEXT)
        }
        self.execution_type = self.store.put_execution_type(pb.ExecutionType(name="Component"))
        self.contexts = {}

    def context(self, kind, name):
        if (kind, name) not in self.contexts:
            [self.contexts[kind, name]] = self.store.put_contexts(
                [pb.Context(type_id=self.types[kind], name=name)]
            )
        return pb.Context(id=self.contexts[kind, name], type_id=self.types[kind], name=name)

    def execute(self, run, node, state):
        contexts = [
            self.context(mlmd.PIPELINE_CONTEXT, PIPELINE),
            self.context(mlmd.RUN_CONTEXT, run),
            self.context(mlmd.NODE_CONTEXT, f"{PIPELINE}.{node}"),
        ]
        execution = pb.Execution(type_id=self.execution_type, last_known_state=state)
        execution_id, _, _ = self.store.put_execution(execution, [], contexts)
        return execution_id


def killed_then_rerun(path):
    store = Store(path)
    store.execute("run-1", "ExampleGen", pb.Execution.COMPLETE)
    killed = store.execute("run-1", "Trainer", pb.Execution.RUNNING)
    store.execute("run-2", "ExampleGen", pb.Execution.CACHED)
    return store, killed


def test_a_running_execution_of_an_earlier_run_is_listed(tmp_path):
    store, killed = killed_then_rerun(tmp_path / "metadata.sqlite")
    [item] = mlmd.interrupted_executions(store.connection, PIPELINE)
    assert (item.node, item.run_id, item.execution_id, item.resumed) == (
        "Trainer",
        "run-1",
        killed,
        False,
    )
    assert mlmd.interrupted_executions(store.connection, PIPELINE, run_id="run-2") == []
    assert mlmd.interrupted_executions(store.connection, "another-pipeline") == []
    # Once a later run has trained, the interruption is history: still listed, as resumed.
    store.execute("run-2", "Trainer", pb.Execution.COMPLETE)
    [item] = mlmd.interrupted_executions(store.connection, PIPELINE, run_id="run-1")
    assert item.resumed


def fake_launcher(run_id):
    info = types.SimpleNamespace(id=PIPELINE)
    spec = types.SimpleNamespace(
        pipeline_run_id=types.SimpleNamespace(
            field_value=types.SimpleNamespace(string_value=run_id)
        )
    )
    node = types.SimpleNamespace(node_info=types.SimpleNamespace(id="ExampleGen"))
    return types.SimpleNamespace(
        _pipeline_info=info, _pipeline_runtime_spec=spec, _pipeline_node=node
    )


def launch_first_node(connection, run_id, monkeypatch) -> list[str]:
    monkeypatch.setattr(launcher.Launcher, "launch", lambda self: None)
    out = io.StringIO()
    with progress.track(11, connection, stream=out, heartbeat=0):
        launcher.Launcher.launch(fake_launcher(run_id))
    return out.getvalue().splitlines()


def test_the_next_run_names_the_node_and_the_run_once(tmp_path, monkeypatch):
    store, _ = killed_then_rerun(tmp_path / "metadata.sqlite")
    lines = launch_first_node(store.connection, "run-2", monkeypatch)
    assert lines[0] == (
        "Interrupted earlier: Trainer of run run-1 never finished (ML Metadata still says "
        "RUNNING: that run was killed, or is still going in another process)"
    )
    assert lines[1:] == ["[1/11] ExampleGen running...", "[1/11] ExampleGen done in 0 s"]
    store.execute("run-2", "Trainer", pb.Execution.COMPLETE)
    assert not any("Interrupted" in line for line in launch_first_node(
        store.connection, "run-3", monkeypatch
    ))  # fmt: skip
