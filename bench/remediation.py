"""Benchmark: baseline vs MinDiff vs TFCO through the whole pipeline, on the embedded data and
on the Gab Hate Corpus. Prints and writes figures; it is not a test.

    .venv/bin/python bench/remediation.py [--datasets embedded ghc] [--variants ...]

For each dataset and variant it runs `local_runner.py run` in a subprocess, loads the trained
model (blessed or not) and scores the eval split itself, so every variant is measured the
same way: AUC; FPR overall and per group at 0.5 and at the threshold whose overall eval FPR
is 5% (the one operating point at which models are compared); the largest group-minus-overall
FPR gap over groups with at least 30 non-toxic eval examples; TPR at the matched threshold.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from contract import IDENTITY_GROUPS, identity_feature  # noqa: E402
from ingest.shared_data import shared_data_dir  # noqa: E402
from pipeline import config  # noqa: E402

SHARED_DATA = shared_data_dir()
MIN_NEGATIVES = 30
MATCHED_FPR = 0.05


def prepare_embedded(out: Path) -> Path:
    from ingest.embedded_data import write_dataset

    return Path(write_dataset(str(out / "data" / "embedded")))


def prepare_ghc(out: Path) -> Path:
    from ingest.importers import import_generic

    folder = out / "data" / "ghc"
    ghc = SHARED_DATA / "gab_hate_corpus"
    if not ghc.is_dir():
        raise SystemExit(f"Gab Hate Corpus not found at {ghc}")
    for split, name in (("train", "ghc_train.tsv"), ("eval", "ghc_test.tsv")):
        target = folder / split / "data.tfrecord"
        if not target.exists():
            report = import_generic(str(ghc / name), str(target), "text", ["hd", "cv"])
            print(report.summary())
    return folder


def latest_artifacts(metadata_path: str, pipeline_name: str) -> dict[str, str]:
    """The newest artifact's URI of each type in a pipeline's ML Metadata."""
    from runners.mlmd import Reader

    with Reader(metadata_path) as reader:
        return {
            name: found[-1].uri for name, found in reader.artifacts_by_type(pipeline_name).items()
        }


def score_eval_split(model_dir: str, data_folder: Path):
    """Scores, labels and identity tags of every eval example, through the exported model."""
    import tensorflow as tf

    model = tf.saved_model.load(model_dir)
    files = sorted(str(p) for p in (data_folder / "eval").iterdir())
    scores, labels, tags = [], [], {g: [] for g in IDENTITY_GROUPS}
    for batch in tf.data.TFRecordDataset(files).batch(512):
        scores.append(model.signatures["serving_default"](examples=batch)["toxicity"].numpy())
        transformed = model.signatures["transform_features"](examples=batch)
        labels.append(transformed["toxicity"].numpy())
        for g in IDENTITY_GROUPS:
            tags[g].append(transformed[identity_feature(g)].numpy())
    return (
        np.concatenate(scores).reshape(-1),
        np.concatenate(labels).reshape(-1),
        {g: np.concatenate(v).reshape(-1) > 0 for g, v in tags.items()},
    )


def fairness_figures(scores, labels, groups) -> dict:
    from sklearn.metrics import roc_auc_score

    negative = labels < 0.5

    def fpr(mask, threshold):
        return float((scores[mask & negative] >= threshold).mean())

    judged = [g for g, m in groups.items() if (m & negative).sum() >= MIN_NEGATIVES]
    matched = float(np.quantile(scores[negative], 1.0 - MATCHED_FPR))
    everyone = np.ones_like(negative)
    overall, overall_matched = fpr(everyone, 0.5), fpr(everyone, matched)
    group_fpr = {g: fpr(groups[g], 0.5) for g in judged}
    group_fpr_matched = {g: fpr(groups[g], matched) for g in judged}
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "overall_fpr": overall,
        "group_fpr": group_fpr,
        "max_gap": max((v - overall for v in group_fpr.values()), default=None),
        "threshold_matched": matched,
        "overall_fpr_matched": overall_matched,
        "group_fpr_matched": group_fpr_matched,
        "max_gap_matched": max(
            (v - overall_matched for v in group_fpr_matched.values()), default=None
        ),
        "tpr_matched": float((scores[~negative] >= matched).mean()),
        "non_toxic_eval_examples": {g: int((groups[g] & negative).sum()) for g in groups},
    }


def run_variant(data_folder: Path, variant: str, out: Path, extra_args: list[str]) -> dict:
    name = config.pipeline_name(variant)
    log = out / f"{data_folder.name}-{variant}.log"
    command = [
        sys.executable,
        str(ROOT / "local_runner.py"),
        "run",
        "--data",
        str(data_folder),
        "--trainer",
        variant,
        "--output",
        str(out),
        *extra_args,
    ]
    print(f"$ {' '.join(command)}  (log: {log})", flush=True)
    start = time.monotonic()
    with open(log, "w") as f:
        code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - start
    if code != 0:
        raise SystemExit(f"{variant} on {data_folder.name} failed (exit {code}); see {log}")
    artifacts = latest_artifacts(str(out / "metadata.sqlite"), name)
    with open(os.path.join(artifacts["ModelRun"], "training_stats.json")) as f:
        stats = json.load(f)
    figures = fairness_figures(
        *score_eval_split(os.path.join(artifacts["Model"], "Format-Serving"), data_folder)
    )
    figures.update(
        train_seconds=stats["train_seconds"],
        examples_per_second=stats["examples_per_second"],
        epochs=stats["epochs"],
        pipeline_seconds=wall,
    )
    for key in ("tfco_multipliers", "tfco_constraints", "min_diff_loss"):
        if key in stats:
            figures[key] = stats[key]
    return figures


def markdown(dataset: str, variants: dict) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    lines = [
        f"### {dataset}",
        "",
        "| variant | AUC | overall FPR@0.5 | max gap@0.5 | threshold@5% FPR | max gap@5% | TPR@5% | train s | examples/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in variants.items():
        lines.append(
            f"| {name} | {f(r['auc'])} | {f(r['overall_fpr'])} | {f(r['max_gap'])} | "
            f"{f(r['threshold_matched'])} | {f(r['max_gap_matched'])} | {f(r['tpr_matched'])} | "
            f"{r['train_seconds']:.0f} | {r['examples_per_second']:.0f} |"
        )
    groups = sorted({g for r in variants.values() for g in r["group_fpr_matched"]})
    lines += ["", "Group FPR at the matched threshold (5% overall FPR):", ""]
    lines.append("| variant | " + " | ".join(groups) + " |")
    lines.append("| --- |" + " --- |" * len(groups))
    for name, r in variants.items():
        lines.append(
            f"| {name} | " + " | ".join(f(r["group_fpr_matched"].get(g)) for g in groups) + " |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["embedded", "ghc"], choices=["embedded", "ghc"]
    )
    parser.add_argument(
        "--variants", nargs="+", default=list(config.TRAINERS), choices=config.TRAINERS
    )
    parser.add_argument("--output", default=str(ROOT / "outputs" / "bench"))
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("runner_args", nargs="*", help="extra local_runner flags, after --")
    args = parser.parse_args(argv)

    for dataset in args.datasets:
        out = Path(args.output) / dataset
        out.mkdir(parents=True, exist_ok=True)
        folder = prepare_embedded(out) if dataset == "embedded" else prepare_ghc(out)
        results_path = Path(args.results) / f"remediation-{dataset}.json"
        results = {"variants": {}}
        if results_path.exists():
            results = json.loads(results_path.read_text())
        for variant in args.variants:
            results["variants"][variant] = run_variant(folder, variant, out, args.runner_args)
            results["command"] = " ".join(["bench/remediation.py", *(argv or sys.argv[1:])])
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
            print(json.dumps({variant: results["variants"][variant]}, indent=1), flush=True)
        print(markdown(dataset, results["variants"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
