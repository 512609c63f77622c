"""Scale benchmark of the local pipeline: wall time per component and of the whole run, and
peak memory, at several data sizes and numbers of Beam workers.

    .venv/bin/python bench/scale.py --sizes 20000 100000 --workers 1 2

Each run is `local_runner.py run` on generated data (train:eval 4:1) in a fresh output folder,
as a subprocess. Per-component seconds come from the run's ML Metadata store (an execution's
last update minus its creation); peak memory is the largest sum of RSS over the process and
all its descendants (Beam workers included), sampled every 0.5 s. Results are merged into
bench/results/scale.json, keyed by (examples, beam_workers, epochs), with the machine's
1-minute load average before and after each run (other work on a shared machine slows it) and
the run's provenance (the command, the commit and the date).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from bench.provenance import stamp  # noqa: E402
from pipeline.pipeline import component_ids  # noqa: E402

RESULTS = PROJECT_ROOT / "bench" / "results" / "scale.json"
GIB = 1024**3


def split_sizes(examples: int) -> tuple[int, int]:
    train = examples * 4 // 5
    return train, examples - train


def tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            # A Beam worker may exit between listing and reading.
            continue
    return total


def run_and_watch(
    command: list[str], log_path: Path, interval: float = 0.5
) -> tuple[int, float, int]:
    """Exit status, wall seconds and peak RSS (bytes) of the process tree."""
    with open(log_path, "w") as log:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        root = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss(root))
            time.sleep(interval)
        return process.returncode, time.monotonic() - start, peak


def component_seconds(metadata_path: Path) -> tuple[dict[str, float], float]:
    """Seconds per pipeline node, and from the first execution's start to the last one's end."""
    from pipeline import mlmd

    with mlmd.Reader(mlmd.sqlite_connection(metadata_path, read_only=True)) as reader:
        return reader.node_seconds()


def run_once(examples: int, workers: int, epochs: int, work_dir: Path, provenance=None) -> dict:
    train, eval_ = split_sizes(examples)
    output = work_dir / f"examples{examples}-workers{workers}"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "local_runner.py"),
        "run",
        "--output",
        str(output),
        "--train-size",
        str(train),
        "--eval-size",
        str(eval_),
        "--epochs",
        str(epochs),
        "--beam-workers",
        str(workers),
        "--no-cache",
        # The scale-out measured is Beam's; one candidate keeps the runs comparable with the
        # figures recorded before the pipeline trained several.
        "--candidates",
        "baseline",
    ]
    log_path = work_dir / f"{output.name}.log"
    print(f"running {examples} examples with {workers} Beam worker(s); log: {log_path}", flush=True)
    # Other work on a shared machine slows a run down; the load says how busy it was.
    load_before = os.getloadavg()[0]
    status, wall, peak = run_and_watch(command, log_path)
    # 0: blessed or not; 3 only with --require-blessing. Anything else is a failed run.
    if status != 0:
        raise SystemExit(f"error: run failed with status {status}; see {log_path}")
    components, span = component_seconds(output / "metadata.sqlite")
    return {
        "examples": examples,
        "beam_workers": workers,
        "epochs": epochs,
        "wall_seconds": round(wall, 1),
        "pipeline_seconds": span,
        "peak_memory_gib": round(peak / GIB, 2),
        "components": components,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "provenance": provenance,
    }


def merge(existing: list[dict], new: list[dict]) -> list[dict]:
    def key(run):
        return run["examples"], run["beam_workers"], run.get("epochs")

    by_key = {key(r): r for r in existing}
    by_key.update({key(r): r for r in new})
    return sorted(by_key.values(), key=key)


def table(runs: list[dict]) -> str:
    shown = [c for c in component_ids(["baseline"]) if any(c in r["components"] for r in runs)]
    header = ["examples", "workers", "wall s", "pipeline s", "peak GiB", *shown]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" for _ in header) + "|",
    ]
    for r in runs:
        cells = [
            f"{r['examples']:,}",
            str(r["beam_workers"]),
            f"{r['wall_seconds']:.0f}",
            f"{r['pipeline_seconds']:.0f}",
            f"{r['peak_memory_gib']:.2f}",
            *(f"{r['components'][c]:.1f}" if c in r["components"] else "-" for c in shown),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON (merged)")
    parser.add_argument("--work-dir", type=Path, help="run folders (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep each run's outputs")
    args = parser.parse_args(argv)
    provenance = stamp("bench/scale.py", argv)

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.output.read_text())["runs"] if args.output.exists() else []
    new = []
    for examples in args.sizes:
        for workers in args.workers:
            new.append(run_once(examples, workers, args.epochs, work_dir, provenance))
            if not args.keep:
                shutil.rmtree(work_dir / f"examples{examples}-workers{workers}")
            runs = merge(existing, new)
            # Written after every run, so a long sweep that is stopped keeps what it measured.
            args.output.parent.mkdir(parents=True, exist_ok=True)
            machine = {
                "cpus": os.cpu_count(),
                "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
                "provenance": provenance,  # the run that last wrote it
            }
            args.output.write_text(json.dumps({"machine": machine, "runs": runs}, indent=2) + "\n")
    print()
    print(table(merge(existing, new)))
    print(f"\nResults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
