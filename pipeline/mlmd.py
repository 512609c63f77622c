"""The one ML Metadata reader: connections, a pipeline's artifacts, one run's outputs, cache
status. The runners, the report, the progress lines, the benchmarks and the tests read ML
Metadata through it.

A run is identified by its run id, the name of its `pipeline_run` context. Every execution of
the run, cached or not, is attached to that context, and a cached execution has OUTPUT events
to the artifacts it reused, so "this run's gate report" is exact even when another run of the
same pipeline (other data, same output folder) wrote newer artifacts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pipeline import nodes

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"


def sqlite_connection(path: str | os.PathLike, read_only: bool = False):
    """A SQLite store; `read_only` lets a reader poll while a pipeline process writes."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata

    config = metadata.sqlite_metadata_connection_config(os.fspath(path))
    if read_only:
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return config


def as_connection(connection):
    """A ConnectionConfig from a SQLite file path or a ConnectionConfig."""
    if isinstance(connection, str | os.PathLike):
        return sqlite_connection(connection)
    return connection


def mysql_connection(host: str, port: int, database: str, user: str, password: str):
    from ml_metadata.proto import metadata_store_pb2

    return metadata_store_pb2.ConnectionConfig(
        mysql=metadata_store_pb2.MySQLDatabaseConfig(
            host=host, port=port, database=database, user=user, password=password
        )
    )


class Reader:
    """Read-only queries on one ML Metadata store; use as a context manager."""

    def __init__(self, connection):
        self._connection = as_connection(connection)
        self._handle = None

    def __enter__(self) -> Reader:
        from tfx.orchestration import metadata

        self._handle = metadata.Metadata(self._connection)
        self.store = self._handle.__enter__().store
        return self

    def __exit__(self, *exc) -> None:
        self._handle.__exit__(*exc)

    def run_executions(self, run_id: str) -> dict[str, object]:
        """Node id -> the execution of that node in this run (cached ones included)."""
        context = self.store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
        if context is None:
            return {}
        executions = self.store.get_executions_by_context(context.id)
        out = {}
        for execution in sorted(executions, key=lambda e: e.id):
            node = node_of(self.store, execution)
            if node:
                out[node] = execution
        return out

    def run_outputs(self, run_id: str) -> dict[str, dict[str, list]]:
        """Node id -> output key -> the artifacts this run's execution of it output or reused."""
        from ml_metadata.proto import metadata_store_pb2

        executions = self.run_executions(run_id)
        if not executions:
            return {}
        by_execution = {e.id: node for node, e in executions.items()}
        events = self.store.get_events_by_execution_ids(list(by_execution))
        outputs = [e for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
        artifacts = {
            a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in outputs])
        }
        out: dict[str, dict[str, list]] = {}
        for event in outputs:
            key = event.path.steps[0].key if event.path.steps else ""
            node = by_execution[event.execution_id]
            out.setdefault(node, {}).setdefault(key, []).append(artifacts[event.artifact_id])
        return out

    def latest_run_id(self, pipeline_name: str) -> str | None:
        """The newest run of a pipeline, for readers given no run id."""
        pipeline = self.store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
        if pipeline is None:
            return None
        run_type = _context_type_id(self.store, RUN_CONTEXT)
        runs = {
            context.id: context
            for execution in self.store.get_executions_by_context(pipeline.id)
            for context in self.store.get_contexts_by_execution(execution.id)
            if context.type_id == run_type
        }
        if not runs:
            return None
        return max(runs.values(), key=lambda c: (c.create_time_since_epoch, c.id)).name

    def run_of(self, execution_id: int) -> str:
        """The run an execution belongs to ("" when none is recorded)."""
        run_type = _context_type_id(self.store, RUN_CONTEXT)
        for context in self.store.get_contexts_by_execution(execution_id):
            if context.type_id == run_type:
                return context.name
        return ""

    def node_executions(
        self, pipeline_name: str, node: str, run_id: str | None = None, finished: bool = True
    ) -> list:
        """A node's executions, oldest first: only those of one run when `run_id` is given,
        and with `finished` only those that completed or were cached."""
        from ml_metadata.proto import metadata_store_pb2

        context = self.store.get_context_by_type_and_name(NODE_CONTEXT, f"{pipeline_name}.{node}")
        if context is None:
            return []
        executions = self.store.get_executions_by_context(context.id)
        if run_id is not None:
            run = self.store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
            in_run = {e.id for e in self.store.get_executions_by_context(run.id)} if run else set()
            executions = [e for e in executions if e.id in in_run]
        if finished:
            done = {metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED}
            executions = [e for e in executions if e.last_known_state in done]
        return sorted(executions, key=lambda e: e.id)

    def candidates(self, pipeline_name: str, run_id: str | None = None) -> list[str]:
        """The candidates evaluated in a run (default: in any run), in execution order."""
        first = {}
        for context in self.store.get_contexts_by_type(NODE_CONTEXT):
            pipeline, _, node = context.name.partition(".")
            name = nodes.candidate_of(node, nodes.EVALUATOR)
            if pipeline == pipeline_name and name:
                executions = self.node_executions(pipeline_name, node, run_id)
                if executions:
                    first[name] = executions[0].id
        return sorted(first, key=first.get)

    def execution_artifacts(self, execution_id: int, inputs: bool = False) -> dict[str, list]:
        """Output key (input key with `inputs`) -> the artifacts of one execution."""
        from ml_metadata.proto import metadata_store_pb2

        wanted = metadata_store_pb2.Event.INPUT if inputs else metadata_store_pb2.Event.OUTPUT
        events = [
            e
            for e in self.store.get_events_by_execution_ids([execution_id])
            if e.type == wanted and e.path.steps
        ]
        artifacts = {
            a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in events])
        }
        out: dict[str, list] = {}
        for event in events:
            out.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
        return out

    def readers_of(self, artifact_id: int) -> set[int]:
        """Ids of the executions that took an artifact as input."""
        from ml_metadata.proto import metadata_store_pb2

        return {
            e.execution_id
            for e in self.store.get_events_by_artifact_ids([artifact_id])
            if e.type == metadata_store_pb2.Event.INPUT
        }

    def states_by_run(self) -> dict[str, dict[str, list[int]]]:
        """Run id -> node id -> the states of that node's executions in the run."""
        run_type = _context_type_id(self.store, RUN_CONTEXT)
        out: dict[str, dict[str, list[int]]] = {}
        for execution in sorted(self.store.get_executions(), key=lambda e: e.id):
            node = node_of(self.store, execution)
            for context in self.store.get_contexts_by_execution(execution.id):
                if context.type_id == run_type and node:
                    runs = out.setdefault(context.name, {})
                    runs.setdefault(node, []).append(execution.last_known_state)
        return out

    def node_seconds(self) -> tuple[dict[str, float], float]:
        """Seconds per pipeline node over all its executions, and the span from the first
        execution's start to the last one's end."""
        seconds: dict[str, float] = {}
        starts, ends = [], []
        for context in self.store.get_contexts_by_type(NODE_CONTEXT):
            executions = self.store.get_executions_by_context(context.id)
            starts += [e.create_time_since_epoch for e in executions]
            ends += [e.last_update_time_since_epoch for e in executions]
            total = sum(
                e.last_update_time_since_epoch - e.create_time_since_epoch for e in executions
            )
            seconds[context.name.split(".", 1)[-1]] = round(total / 1000, 1)
        span = (max(ends) - min(starts)) / 1000 if starts else 0.0
        return seconds, round(span, 1)

    def was_cached(self, execution_id: int) -> bool:
        from ml_metadata.proto import metadata_store_pb2

        executions = self.store.get_executions_by_id([execution_id])
        return bool(executions) and (
            executions[0].last_known_state == metadata_store_pb2.Execution.CACHED
        )


def _context_type_id(store, name: str) -> int | None:
    try:
        return store.get_context_type(name).id
    except Exception:  # noqa: BLE001 - the type does not exist before the first run
        return None


def node_of(store, execution) -> str:
    """The node id of an execution, from its `node` context ("<pipeline>.<node>")."""
    node_type = _context_type_id(store, NODE_CONTEXT)
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id == node_type:
            return context.name.split(".", 1)[-1]
    return ""


@dataclass
class RunOutcome:
    """What one run produced: each candidate's gate report, the selection and the push, as
    this run resolved them (a cached node's outputs are the artifacts it reused)."""

    run_id: str
    # Candidate name -> (gate report folder, gate report), in the pipeline's order.
    reports: dict[str, tuple[str, dict]] = field(default_factory=dict)
    selection: dict = field(default_factory=dict)
    selection_dir: str = ""
    pushed: bool = False
    pushed_destination: str = ""
    cached_nodes: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)

    @property
    def winner(self) -> str | None:
        return self.selection.get("winner")

    @property
    def blessed(self) -> bool:
        """A candidate was blessed and selected (what gets pushed)."""
        return self.winner is not None

    @property
    def report_dir(self) -> str:
        return self.reports.get(self._shown(), ("", {}))[0]

    @property
    def report(self) -> dict:
        """The gate report of the winner, or of the only candidate."""
        return self.reports.get(self._shown(), ("", {}))[1]

    def _shown(self) -> str | None:
        if self.winner:
            return self.winner
        return next(iter(self.reports)) if len(self.reports) == 1 else None


def run_outcome(connection, run_id: str) -> RunOutcome:
    """This run's gate reports, selection and push, read from the artifacts it resolved."""
    from ml_metadata.proto import metadata_store_pb2

    from components.gate import read_report
    from components.selector import read_decision

    outcome = RunOutcome(run_id)
    with Reader(connection) as reader:
        executions = reader.run_executions(run_id)
        outputs = reader.run_outputs(run_id)
        cached = metadata_store_pb2.Execution.CACHED
        outcome.cached_nodes = sorted(
            n for n, e in executions.items() if e.last_known_state == cached
        )
    for node in sorted(outputs, key=lambda n: executions[n].id if n in executions else 0):
        name = nodes.candidate_of(node, nodes.GATE)
        reports = outputs[node].get("report", [])
        if name and reports:
            outcome.reports[name] = (reports[-1].uri, read_report(reports[-1].uri))
    selections = outputs.get(nodes.SELECTOR, {}).get("selection", [])
    if selections:
        outcome.selection_dir = selections[-1].uri
        outcome.selection = read_decision(selections[-1].uri)
        # In the pipeline's candidate order, as the Selector lists them.
        order = [row["name"] for row in outcome.selection.get("candidates", [])]
        outcome.reports = dict(
            sorted(
                outcome.reports.items(),
                key=lambda item: order.index(item[0]) if item[0] in order else len(order),
            )
        )
    pushes = outputs.get(nodes.PUSHER, {}).get("pushed_model", [])
    if pushes:
        props = pushes[-1].custom_properties
        outcome.pushed = bool(props["pushed"].int_value) if "pushed" in props else False
        if "pushed_destination" in props:
            outcome.pushed_destination = props["pushed_destination"].string_value
    return outcome


def latest_outcome(connection, pipeline_name: str) -> RunOutcome:
    """The outcome of a pipeline's newest run (the report and tests; a runner knows its id)."""
    with Reader(connection) as reader:
        run_id = reader.latest_run_id(pipeline_name)
    return run_outcome(connection, run_id) if run_id else RunOutcome("")


@dataclass
class Interrupted:
    """An execution that never finished: ML Metadata still holds it as RUNNING (or NEW), as a
    killed run leaves it (or a run still going in another process)."""

    node: str
    run_id: str
    execution_id: int
    started_ms: int
    # A later execution of the same node finished (a rerun went past it).
    resumed: bool


def interrupted_executions(connection, pipeline_name: str, run_id: str | None = None) -> list:
    """A pipeline's unfinished executions, oldest first; with `run_id`, that run's only."""
    from ml_metadata.proto import metadata_store_pb2

    state = metadata_store_pb2.Execution
    out = []
    with Reader(connection) as reader:
        store = reader.store
        run_type = _context_type_id(store, RUN_CONTEXT)
        for context in store.get_contexts_by_type(NODE_CONTEXT):
            pipeline, _, node = context.name.partition(".")
            if pipeline != pipeline_name:
                continue
            executions = store.get_executions_by_context(context.id)
            finished = [
                e.id for e in executions if e.last_known_state in (state.COMPLETE, state.CACHED)
            ]
            for e in executions:
                if e.last_known_state not in (state.NEW, state.RUNNING):
                    continue
                runs = [
                    c.name for c in store.get_contexts_by_execution(e.id) if c.type_id == run_type
                ]
                run = runs[0] if runs else ""
                if run_id is None or run == run_id:
                    resumed = max(finished, default=0) > e.id
                    out.append(Interrupted(node, run, e.id, e.create_time_since_epoch, resumed))
    return sorted(out, key=lambda i: i.execution_id)
