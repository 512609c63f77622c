"""One line per pipeline component as LocalDagRunner starts and finishes it.

    [7/11] Transform running...
    [7/11] Transform still running (60 s)
    [7/11] Transform done in 74 s
    [8/11] Trainer cached in 0 s

LocalDagRunner runs the nodes one after another in its own thread, each through
`tfx.orchestration.portable.launcher.Launcher.launch()`. While `track()` is active that method
is wrapped: the wrapper prints the start line, runs the original, and prints how it ended. A
cached result is recognised by its execution's state in ML Metadata, read after the launch
returns, in the same thread, so there is never a second connection open while the launcher
writes (polling MLMD from another thread could meet SQLite's write lock).

Before the first component starts, a line names each execution of an earlier run of the same
pipeline that ML Metadata still holds as RUNNING and that no run has redone since: what a
killed run leaves behind (`mlmd.interrupted_executions`).

Two alternatives were tried or rejected: a logging handler on TFX's "Component %s is running."
records went silent from the Transform step on in a real run (the components' own set-up
changes absl's logger), so it would hang on other libraries' logging configuration; polling
ML Metadata from a thread risks "database is locked" in the run itself.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

# A long step (Transform, Trainer or Evaluator on real data) says it is still alive this often.
HEARTBEAT_SECONDS = 60.0


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class Progress:
    """Numbered start/finish lines for `total` components, with a heartbeat for long ones."""

    def __init__(self, total: int, stream=None, heartbeat: float = HEARTBEAT_SECONDS):
        self.total = total
        self._stream = stream
        self.heartbeat = heartbeat
        self.index = 0
        self.current: str | None = None
        self.started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def stream(self):
        # Looked up on each write so that a redirected stdout (tests, notebooks) is honoured.
        return self._stream or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _prefix(self) -> str:
        return f"[{self.index}/{self.total}]"

    def start(self, node: str) -> None:
        with self._lock:
            self.index += 1
            self.current, self.started = node, time.monotonic()
        self._print(f"{self._prefix()} {node} running...")
        self._start_ticker(node)

    def finish(self, cached: bool = False) -> None:
        self._end("cached in" if cached else "done in")

    def fail(self) -> None:
        self._end("failed after")

    def _end(self, outcome: str) -> None:
        self._stop_ticker()
        with self._lock:
            node, elapsed, self.current = self.current, time.monotonic() - self.started, None
        if node is not None:
            self._print(f"{self._prefix()} {node} {outcome} {duration(elapsed)}")

    def _start_ticker(self, node: str) -> None:
        if self.heartbeat <= 0:
            return
        stop = self._stop = threading.Event()

        def tick():
            while not stop.wait(self.heartbeat):
                with self._lock:
                    if self.current != node:
                        return
                    elapsed = time.monotonic() - self.started
                self._print(f"{self._prefix()} {node} still running ({duration(elapsed)})")

        self._ticker = threading.Thread(target=tick, name="pipeline-progress", daemon=True)
        self._ticker.start()

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self._ticker = None


def _was_cached(connection_config, execution_info) -> bool:
    if connection_config is None or execution_info is None:
        return False
    from pipeline import mlmd

    with mlmd.Reader(connection_config) as reader:
        return reader.was_cached(execution_info.execution_id)


def interrupted_lines(connection_config, pipeline_name: str, run_id: str) -> list[str]:
    """One line per execution of an earlier run of this pipeline that never finished and
    that no run has redone since: what a killed run leaves in ML Metadata."""
    from pipeline import mlmd

    return [
        f"Interrupted earlier: {item.node} of run {item.run_id} never finished (ML Metadata "
        "still says RUNNING: that run was killed, or is still going in another process)"
        for item in mlmd.interrupted_executions(connection_config, pipeline_name)
        if not item.resumed and item.run_id != run_id
    ]


def _pipeline_and_run(launcher_instance) -> tuple[str, str]:
    info = getattr(launcher_instance, "_pipeline_info", None)
    spec = getattr(launcher_instance, "_pipeline_runtime_spec", None)
    run_id = spec.pipeline_run_id.field_value.string_value if spec is not None else ""
    return getattr(info, "id", ""), run_id


@contextlib.contextmanager
def track(total: int, connection_config=None, stream=None, heartbeat: float = HEARTBEAT_SECONDS):
    """Prints progress lines for the components launched inside the block.

    `total` is the number of pipeline nodes (`len(pipeline.components)`);
    `connection_config` the run's ML Metadata connection, to tell cached steps apart.
    """
    from tfx.orchestration.portable import launcher

    progress = Progress(total, stream, heartbeat)
    original = launcher.Launcher.launch
    looked_back = False

    def launch(self):
        nonlocal looked_back
        if not looked_back and connection_config is not None:
            looked_back = True
            try:
                for line in interrupted_lines(connection_config, *_pipeline_and_run(self)):
                    progress._print(line)
            except Exception:  # noqa: BLE001 - a look back must never fail a run
                pass
        node_info = getattr(getattr(self, "_pipeline_node", None), "node_info", None)
        progress.start(getattr(node_info, "id", "") or "component")
        try:
            execution_info = original(self)
        except BaseException:
            progress.fail()
            raise
        try:
            cached = _was_cached(connection_config, execution_info)
        except Exception:  # noqa: BLE001 - a progress line must never fail a run
            cached = False
        progress.finish(cached)
        return execution_info

    launcher.Launcher.launch = launch
    try:
        yield progress
    finally:
        progress._stop_ticker()
        launcher.Launcher.launch = original
