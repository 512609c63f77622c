"""Helpers for the reliability tests: tiny pipeline runs, folder snapshots, ML Metadata queries."""

import contextlib
import hashlib
import io
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from contract import TRAINERS
from ingest.embedded_data import write_dataset
from ingest.tfrecords import make_example, write_examples
from pipeline import config
from pipeline.candidates import POSTPROCESSED

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PIPELINE = config.PIPELINE_NAME
# The one candidate of most tiny runs (the run of every candidate is conftest's pushed_run).
ONE = ["--candidates", "baseline"]
# Every trainer, and the baseline with per-group thresholds (which reuses its weights).
CANDIDATES = (*TRAINERS, f"baseline{POSTPROCESSED}")
# The data of the run of every candidate: larger than TINY so that every trainer has slices to
# judge at a slice size of 10.
CANDIDATES_SIZES = (600, 300)


# A sparser sample of the challenge suite's madlibs templates: every group and term is still
# there, in a tenth of the rows, so each ChallengeEvaluator of a test run takes seconds; and no
# identity augmentation, whose 5,775 rows would outnumber a tiny run's training rows.
SMALL_SUITE = ["--suite-madlibs-stride", "40", "--identity-augmentation", "none"]


def tiny(train: int = 400, eval_: int = 100, *extra: str) -> list[str]:
    """Flags of a tiny run on the embedded data: one epoch on a few hundred examples, the
    baseline as the only candidate."""
    return ["--train-size", str(train), "--eval-size", str(eval_), "--epochs", "1", *ONE,
            *SMALL_SUITE, *extra]  # fmt: skip


TINY = tiny()
# Tiny data cannot meet the real gate; these bounds bless any model that trains.
LENIENT_BOUNDS = [
    "--min-auc", "0", "--min-tpr", "0", "--max-group-fpr", "1", "--max-fpr-gap", "1",
    "--max-fnr-gap", "1", "--max-auc-drop", "1", "--max-tpr-drop", "1",
    "--max-group-fpr-increase", "1", "--max-suite-group-fpr", "1", "--max-suite-term-fpr", "1",
    "--max-flip-rate", "1", "--min-suite-recall", "0", "--max-suite-fnr-gap", "1", "--allow-harm",
]  # fmt: skip
LENIENT = [*LENIENT_BOUNDS, "--min-slice-size", "1"]
# The flags of conftest's pushed_run, every candidate under the lenient bounds: a rerun on its
# output with them takes its steps from the cache.
# Its validation rows (a hash tenth of 600) give each group a few non-toxic rows: 3 are enough
# for the post-processed candidate to fit thresholds of its own.
PUSHED = ["--epochs", "1", "--candidates", ",".join(CANDIDATES), *LENIENT_BOUNDS,
          "--min-slice-size", "10", "--postprocess-min-rows", "3", *SMALL_SUITE]  # fmt: skip

# MLMD Execution.State values, for queries through plain sqlite3.
RUNNING, COMPLETE, FAILED, CACHED = 2, 3, 4, 5

WEIRD_COMMENTS = {
    "empty": ("", 0.0),
    "whitespace only": ("   ", 0.0),
    "100,000 characters": ("word " * 20_000, 0.0),
    "invalid UTF-8": ("caf\udcc3 na\udcefve", 0.0),
    "control and bidi characters": ("tab\tbell\x07nul\x00 \u202eright-to-left \U0001f600", 1.0),
}


def write_data(folder: Path, train: int = 400, eval_: int = 100, weird: bool = False) -> Path:
    """Embedded train/ and eval/ split folders; with `weird`, extra valid-but-odd comments:
    empty, whitespace, 100,000 characters, invalid UTF-8 and control characters."""
    write_dataset(str(folder), train, eval_, seed=0)
    if weird:
        for split in ("train", "eval"):
            write_examples(str(folder / split / "weird.tfrecord"), weird_examples())
    return folder


def weird_examples() -> list:
    examples = []
    for text, label in WEIRD_COMMENTS.values():
        example = make_example("", label)
        # Written as bytes so that invalid UTF-8 reaches the pipeline as it would from a file.
        raw = text.encode("utf-8", "surrogateescape")
        example.features.feature["comment_text"].bytes_list.value[0] = raw
        examples.append(example)
    return examples


def snapshot(folder) -> dict[str, tuple[int, str]]:
    """Every file under folder (hidden ones too): relative path -> (size, sha1)."""
    out = {}
    if not os.path.isdir(folder):
        return out
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digest = hashlib.sha1(f.read()).hexdigest()
            out[os.path.relpath(path, folder)] = (os.path.getsize(path), digest)
    return out


def versions(serving) -> list[str]:
    if not os.path.isdir(serving):
        return []
    return sorted(v for v in os.listdir(serving) if not v.startswith("."))


def executions_by_run(metadata_path) -> dict[str, dict[str, list[int]]]:
    """Run id -> node id -> states of that node's executions in the run (read-only, so a test
    can poll while a pipeline process writes)."""
    from pipeline import mlmd

    with mlmd.Reader(mlmd.sqlite_connection(metadata_path, read_only=True)) as reader:
        return reader.states_by_run()


def latest_run(metadata_path) -> dict[str, list[int]]:
    runs = executions_by_run(metadata_path)
    return runs[max(runs)] if runs else {}


class Tee(io.StringIO):
    """Captures what a run prints while still showing it (pytest -s)."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def write(self, text):
        self.stream.write(text)
        return super().write(text)


def run_pipeline(*argv: str) -> tuple[int, str, str]:
    """`local_runner.py run ARGV` in this process: exit code, printed output, printed errors."""
    import local_runner

    out, err = Tee(sys.stdout), Tee(sys.stderr)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = local_runner.main(["run", *argv])
    return code, out.getvalue(), err.getvalue()


def report(output: Path, names: list[str], folder: Path, *extra: str) -> dict:
    """`local_runner.py report` on `names` into `folder`, and the runs the report was written
    from (each name's newest evaluation now; later runs on `output` would change them)."""
    import pytest

    import local_runner
    from report import command

    written = []
    build = command.report_command

    def recording(*args, **kwargs):
        written.append(build(*args, **kwargs))
        return written[-1]

    out = Tee(sys.stdout)
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(command, "report_command", recording)
        code = local_runner.main(["report", "--candidates", ",".join(names), "--output",
                                  str(output), "--report-dir", str(folder), *extra])  # fmt: skip
    [runs] = written
    return {"code": code, "printed": out.getvalue(), "folder": folder, "runs": runs}


def copy_output(output: Path, folder: Path) -> Path:
    """A copy of a run's --output folder for a test that reruns on it: its ML Metadata store
    names the original artifacts by absolute path, so cached steps stay cached."""
    return Path(shutil.copytree(output, folder, symlinks=True))


class WorkerWatch:
    """Polls the descendants of named processes for Beam SDK workers and records each worker's
    TF_USE_LEGACY_KERAS: name -> worker pid -> value."""

    def __init__(self):
        self.roots: dict[str, int] = {}
        self.workers: dict[str, dict[int, str | None]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def add(self, name: str, pid: int) -> None:
        self.workers[name] = {}
        self.roots[name] = pid

    def _poll(self):
        import psutil

        while not self._stop.wait(0.2):
            for name, pid in list(self.roots.items()):
                try:
                    children = psutil.Process(pid).children(recursive=True)
                except psutil.Error:
                    continue
                for child in children:
                    try:
                        if child.pid in self.workers[name] or "sdk_worker_main" not in " ".join(
                            child.cmdline()
                        ):
                            continue
                        self.workers[name][child.pid] = child.environ().get("TF_USE_LEGACY_KERAS")
                    except psutil.Error:
                        continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def runs_at_once(folder: Path, store: Path, workers: dict[str, int], timeout: float = 900):
    """Starts `local_runner.py run` per name at once, each on its own output folder
    (folder/name) with `workers` Beam workers, all on one SQLite store, without the cache.
    Returns name -> return code, and the watch of their Beam SDK workers."""
    started = {}
    with WorkerWatch() as watch:
        for name, count in workers.items():
            log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed below
            command = runner_command("run", "--output", str(folder / name), "--metadata",
                                     str(store), "--beam-workers", str(count), *TINY,
                                     "--no-cache")  # fmt: skip
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            started[name] = (process, log)
            watch.add(name, process.pid)
        for process, log in started.values():
            try:
                process.wait(timeout=timeout)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                log.close()
    return {name: process.returncode for name, (process, _) in started.items()}, watch


def kill_during_training(
    command: list[str],
    metadata: Path,
    log: Path,
    err: Path,
    trainer: str = "Trainer.baseline",
    timeout: float = 600,
) -> int:
    """Starts `command`, waits until `trainer` runs, lets it train for 3 s and SIGKILLs the
    whole process group. Returns the process's return code."""
    with own_session(command, log, err) as process:
        deadline = time.monotonic() + timeout
        while not _running(metadata, trainer):
            if process.poll() is not None:
                raise AssertionError(f"the run ended before {trainer} started:\n"
                                     f"{err.read_text(errors='replace')[-3000:]}")  # fmt: skip
            if time.monotonic() > deadline:
                raise AssertionError(f"{trainer} did not start in {timeout} s")
            time.sleep(0.5)
        # Into the training itself (it takes ~20 s), not just its registration.
        time.sleep(3)
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def _running(metadata: Path, node: str) -> bool:
    try:
        return metadata.exists() and bool(latest_run(metadata).get(node))
    except sqlite3.OperationalError:
        return False  # tables not created yet, or a write in progress


def run_watching(
    command: list[str], serving: Path, log: Path, err: Path, timeout: float = 600
) -> tuple[int, dict[str, list[dict[str, int]]]]:
    """Runs `command` to its end while looking at every version folder under `serving` every
    50 ms. Returns the return code and version -> what each look saw (path -> size)."""
    seen: dict[str, list[dict[str, int]]] = {}
    with own_session(command, log, err) as process:
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            for version in versions(serving):
                seen.setdefault(version, []).append(files_and_sizes(serving / version))
            time.sleep(0.05)
    return process.returncode, seen


@contextlib.contextmanager
def own_session(command: list[str], log: Path, err: Path):
    """`command` in a process session of its own, its output and errors in files; on the way
    out its whole process group is SIGKILLed if it still runs, whatever happened."""
    with open(log, "wb") as out, open(err, "wb") as errors:
        process = subprocess.Popen(command, stdout=out, stderr=errors, start_new_session=True)
        try:
            yield process
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def files_and_sizes(folder) -> dict[str, int]:
    return {path: size for path, (size, _) in snapshot(folder).items()}


def runner_command(*args: str) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "local_runner.py"), *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mariadb_binaries() -> tuple[str, str, str] | None:
    """(mariadbd, mariadb-install-db, mariadb) when the server is installed."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/usr/bin"
    found = [shutil.which(n, path=path) for n in ("mariadbd", "mariadb-install-db", "mariadb")]
    return tuple(found) if all(found) else None


@contextlib.contextmanager
def mariadb_server(database: str, user: str, password: str, timeout: float = 90):
    """A throwaway MariaDB server on 127.0.0.1 with one database; yields its port."""
    mariadbd, install_db, client = mariadb_binaries()
    # Not under pytest's tmp folder: that is private to root, and the server runs as mysql.
    base = tempfile.mkdtemp(prefix="mlmd-mariadb-")
    datadir, sock, port = os.path.join(base, "data"), os.path.join(base, "mysqld.sock"), free_port()
    as_root = os.geteuid() == 0
    user_flag = ["--user=mysql"] if as_root else []
    if as_root:
        shutil.chown(base, "mysql", "mysql")
    server = None
    log = open(os.path.join(base, "server.log"), "wb")  # noqa: SIM115 - closed in finally
    try:
        subprocess.run(
            [install_db, *user_flag, f"--datadir={datadir}", "--auth-root-authentication-method=normal",
             "--skip-test-db"],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        server = subprocess.Popen(
            [mariadbd, "--no-defaults", *user_flag, f"--datadir={datadir}", f"--socket={sock}",
             f"--port={port}", "--bind-address=127.0.0.1", "--skip-networking=0",
             f"--pid-file={os.path.join(base, 'mysqld.pid')}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        sql = (
            f"CREATE DATABASE {database}; CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; "
            f"GRANT ALL ON {database}.* TO '{user}'@'%';"
        )
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                [client, "--no-defaults", "-uroot", f"--socket={sock}", "-e", sql],
                capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = Path(base, "server.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"MariaDB did not start: {done.stderr}\n{tail}")
            time.sleep(0.5)
        yield port
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)
