"""Benchmark: TFCO with a held-out constraint set (--tfco-constraint-holdout) against the control.

    bench/tfco_holdout.py record RUN_FOLDER NAME [INTO]  # after a `local_runner.py run --candidates
                                                   # tfco` into RUN_FOLDER: note its TFCO model
    bench/tfco_holdout.py score RECORD.json ...    # validation and eval figures of each

`record` writes RUN_FOLDER/NAME.model.json: the latest run's TFCO model folder, its training
stats and the gate's verdict figures and failed checks for it. `score` scores each recorded
model on the validation split (the hash-held-out tenth of train, where settings are chosen) and
on the eval split (measurement only) at its own served threshold, and prints one JSON line each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.base_model import rows_the_model_saw  # noqa: E402
from bench.certificate import read_run  # noqa: E402

PIPELINE = common.config.PIPELINE_NAME
DATA = Path("/work/main/outputs/bench-certificate/data/ghc")


def record(folder: Path, name: str, into: Path | None = None) -> dict:
    from pipeline import nodes
    from pipeline.mlmd import Reader, latest_outcome, sqlite_connection

    metadata = folder / "metadata.sqlite"
    outcome = latest_outcome(sqlite_connection(metadata, read_only=True), PIPELINE)
    with Reader(sqlite_connection(metadata, read_only=True)) as reader:
        outputs = reader.run_outputs(outcome.run_id)[nodes.node_id(nodes.TRAINER, "tfco")]
    model = common.trained_model(outputs["model"][0].uri, outputs["model_run"][0].uri)
    run = read_run(folder)
    result = {"name": name, "run_id": outcome.run_id, **model, "gate": run}
    (into or folder).joinpath(f"{name}.model.json").write_text(
        json.dumps(result, indent=2, default=str) + "\n"
    )
    return result


def score(paths: list[str]) -> None:
    import tensorflow as tf

    rows = None
    for path in paths:
        run = json.loads(Path(path).read_text())
        model = tf.saved_model.load(run["model_dir"])
        if rows is None:
            rows = rows_the_model_saw(model, DATA)[1:]
        threshold = run["stats"]["operating_point"]["threshold"]
        out = {"path": path, "best_epoch": run["stats"].get("best_epoch")}
        for split, r in zip(("validation", "eval"), rows, strict=True):
            scores = common.score(model, r["texts"])
            out[split] = common.figures(scores, r["labels"], r["groups"], threshold)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        score(sys.argv[2:])
