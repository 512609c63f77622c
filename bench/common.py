"""What the benchmarks share: the datasets, a pipeline run in a subprocess, scoring a split
through the exported model, and the figures at a model's own operating point.

Every figure counts a comment as toxic when its score is strictly above the threshold (TFMA's
rule), and a group is judged only on at least MIN_NEGATIVES non-toxic rows, as the gate does.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import rates  # noqa: E402
from bench.provenance import cache_key, commit, stamp  # noqa: E402,F401  (results entries' stamps)
from contract import (  # noqa: E402
    HOLDOUT_KEY,
    IDENTITY_GROUPS,
    LABEL_KEY,
    OVERALL,
    TEXT_KEY,
    identity_feature,
)
from ingest.shared_data import shared_data_dir  # noqa: E402
from pipeline import config, nodes  # noqa: E402
from trainer_modules import operating_point as op  # noqa: E402

MIN_NEGATIVES = 30
TARGET_FPR = 0.05


def mean_sd(values) -> str:
    """ "mean ± sd" of the values present over seeds ("-" when none)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def prepare_embedded(out: Path) -> Path:
    from ingest.embedded_data import write_dataset

    return Path(write_dataset(str(out / "data" / "embedded")))


def prepare_ghc(out: Path) -> Path:
    from ingest.importers import import_generic

    folder = out / "data" / "ghc"
    ghc = shared_data_dir() / "gab_hate_corpus"
    if not ghc.is_dir():
        raise SystemExit(f"Gab Hate Corpus not found at {ghc} (set FAIR_TOXICITY_DATA)")
    for split, name in (("train", "ghc_train.tsv"), ("eval", "ghc_test.tsv")):
        target = folder / split / "data.tfrecord"
        if not target.exists():
            report = import_generic(str(ghc / name), str(target), "text", ["hd", "cv"])
            print(report.summary())
    return folder


PREPARE = {"embedded": prepare_embedded, "ghc": prepare_ghc}


def run_pipeline(data: Path, trainer: str, out: Path, args: list[str], tag: str) -> dict:
    """`local_runner.py run` in a subprocess; the trained model's folder and training stats."""
    from pipeline.mlmd import Reader, latest_outcome

    log = out / f"{tag}.log"
    command = [sys.executable, str(ROOT / "local_runner.py"), "run", "--data", str(data),
               "--candidates", trainer, "--output", str(out), *args]  # fmt: skip
    print(f"$ {' '.join(command)}  (log: {log})", flush=True)
    start = time.monotonic()
    with open(log, "w") as f:
        code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - start
    if code not in (0, 3):
        raise SystemExit(f"{tag} failed (exit {code}); see {log}")
    metadata = str(out / "metadata.sqlite")
    outcome = latest_outcome(metadata, config.PIPELINE_NAME)
    with Reader(metadata) as reader:
        run = reader.run_outputs(outcome.run_id)
    trainer_outputs = run[nodes.node_id(nodes.TRAINER, trainer)]
    model = trained_model(trainer_outputs["model"][0].uri, trainer_outputs["model_run"][0].uri)
    return {**model, "blessed": outcome.blessed, "pipeline_seconds": wall}


def trained_model(model_uri: str, model_run_uri: str) -> dict:
    """A Trainer's exported model folder and its training stats, from its two outputs."""
    with open(os.path.join(model_run_uri, "training_stats.json")) as f:
        stats = json.load(f)
    return {"model_dir": os.path.join(model_uri, "Format-Serving"), "stats": stats}


def read_split(model, files: list[str]) -> dict:
    """Raw texts, and through the model's Transform: labels, identity tags, holdout bucket."""
    import tensorflow as tf

    texts, labels, holdout, tags = [], [], [], {g: [] for g in IDENTITY_GROUPS}
    for batch in tf.data.TFRecordDataset(files).batch(1024):
        transformed = model.signatures["transform_features"](examples=batch)
        parsed = tf.io.parse_example(batch, {TEXT_KEY: tf.io.FixedLenFeature([], tf.string)})
        texts += [t.decode("utf-8", "replace") for t in parsed[TEXT_KEY].numpy()]
        labels.append(transformed[LABEL_KEY].numpy().reshape(-1))
        holdout.append(transformed[HOLDOUT_KEY].numpy().reshape(-1))
        for g in IDENTITY_GROUPS:
            tags[g].append(transformed[identity_feature(g)].numpy().reshape(-1) > 0)
    return {
        "texts": texts,
        "labels": np.concatenate(labels),
        "holdout": np.concatenate(holdout),
        "groups": {g: np.concatenate(v) for g, v in tags.items()},
    }


def split_files(data: Path, split: str) -> list[str]:
    return sorted(str(p) for p in (data / split).iterdir() if not p.name.startswith("."))


def score(model, texts: list[str]) -> np.ndarray:
    import tensorflow as tf

    out = []
    for start in range(0, len(texts), 1024):
        batch = [t.encode("utf-8") for t in texts[start : start + 1024]]
        out.append(model.signatures["score_text"](**{TEXT_KEY: tf.constant(batch)})["toxicity"])
    return np.concatenate([o.numpy().reshape(-1) for o in out])


def figures(scores, labels, groups: dict, threshold: float, flagged=None) -> dict:
    """AUC, and at `threshold` (or given decisions `flagged`): overall FPR and TPR, per-group
    FPR and FNR, the largest group FPR gap over the groups with enough non-toxic rows."""
    flagged = scores > threshold if flagged is None else np.asarray(flagged, dtype=bool)
    everyone = np.ones(len(labels), dtype=bool)
    found = rates.group_rates(flagged, labels >= 0.5, {OVERALL: everyone, **groups})
    # A split without toxic or non-toxic rows has NaN overall rates, as numpy's mean gives.
    overall_fpr, overall_fnr = (
        math.nan if v is None else v for v in (found[OVERALL]["fpr"], found[OVERALL]["fnr"])
    )
    per_group = {g: found[g] for g in groups}
    group_fpr = {g: r["fpr"] for g, r in per_group.items() if r["negatives"] >= MIN_NEGATIVES}
    return {
        "auc": rates.auc(scores, op.toxic(labels)),
        "threshold": float(threshold),
        "overall_fpr": overall_fpr,
        "tpr": 1.0 - overall_fnr,
        "group_fpr": group_fpr,
        "group_fnr": {g: r["fnr"] for g, r in per_group.items() if r["positives"] > 0},
        "group_rows": {
            g: {k: r[k] for k in ("negatives", "positives")} for g, r in per_group.items()
        },
        "max_gap": max((v - overall_fpr for v in group_fpr.values()), default=None),
    }


def collect(per_seed: list[dict], keys) -> dict:
    """{key: [value per seed]} from a list of per-seed figure dicts."""
    return {k: [s.get(k) for s in per_seed] for k in keys}
