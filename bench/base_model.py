"""Benchmark: the pipeline's baseline model against two scikit-learn peers, on the same rows.

    .venv/bin/python bench/base_model.py [--datasets ghc embedded] [--seeds 1 2 3] [-- RUN FLAGS]

For each dataset and seed it runs the baseline through `local_runner.py run`, then scores the
eval split through the exported model at the model's own operating point (picked on validation
at 5% FPR). In the same run the peers (TF-IDF word 1-2 grams + logistic regression, and the same
with char_wb 2-5 grams) are fitted on the rows the model trained on, their threshold picked on
the same validation rows, and scored on the same eval rows. Writes
bench/results/base-model.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rates  # noqa: E402
from bench import common, peers  # noqa: E402
from trainer_modules import operating_point as op  # noqa: E402

KEYS = ("auc", "overall_fpr", "tpr", "max_gap", "threshold")


def rows_the_model_saw(model, data: Path) -> tuple[dict, dict, dict]:
    """Train, validation and eval rows exactly as the pipeline split them."""
    train = common.read_split(model, common.split_files(data, "train"))
    validation_dir = data / "validation"
    if validation_dir.is_dir():
        validation = common.read_split(model, common.split_files(data, "validation"))
    else:
        held = train["holdout"] == 0
        validation = _subset(train, held)
        train = _subset(train, ~held)
    return train, validation, common.read_split(model, common.split_files(data, "eval"))


def _subset(split: dict, mask: np.ndarray) -> dict:
    return {
        "texts": [t for t, keep in zip(split["texts"], mask, strict=True) if keep],
        "labels": split["labels"][mask],
        "holdout": split["holdout"][mask],
        "groups": {g: m[mask] for g, m in split["groups"].items()},
    }


def peer_figures(train, validation, evaluation, fit) -> dict:
    texts = validation["texts"] + evaluation["texts"]
    scores = fit(train["texts"], train["labels"], texts)
    val_scores, eval_scores = scores[: len(validation["texts"])], scores[len(validation["texts"]) :]
    threshold = rates.threshold_at_fpr(
        val_scores, op.toxic(validation["labels"]), common.TARGET_FPR
    )
    return common.figures(eval_scores, evaluation["labels"], evaluation["groups"], threshold)


def one_seed(data: Path, out: Path, seed: int, extra: list[str], with_peers: bool) -> dict:
    import tensorflow as tf

    run = common.run_pipeline(data, "baseline", out, ["--seed", str(seed), *extra],
                              f"baseline-seed{seed}")  # fmt: skip
    model = tf.saved_model.load(run["model_dir"])
    train, validation, evaluation = rows_the_model_saw(model, data)
    point = run["stats"]["operating_point"]
    result = common.figures(
        common.score(model, evaluation["texts"]), evaluation["labels"], evaluation["groups"],
        point["threshold"],
    )  # fmt: skip
    result.update(
        examples_per_second=run["stats"]["examples_per_second"],
        epochs=run["stats"]["epochs"],
        best_epoch=run["stats"]["best_epoch"],
        validation_fpr=point["validation_fpr"],
        blessed=run["blessed"],
    )
    if with_peers:
        result["peers"] = {
            "lr_peer": peer_figures(train, validation, evaluation, peers.word_peer),
            "lr_char_peer": peer_figures(train, validation, evaluation, peers.word_char_peer),
        }
    return result


def summarise(per_seed: list[dict], seeds: list[int]) -> dict:
    baseline = {"seeds": seeds, **common.collect(per_seed, (*KEYS, "examples_per_second"))}
    baseline["eval_overall_fpr"] = baseline["overall_fpr"]
    baseline["group_fpr"] = [s["group_fpr"] for s in per_seed]
    baseline["group_fnr"] = [s["group_fnr"] for s in per_seed]
    out = {"target_fpr": common.TARGET_FPR, "baseline": baseline}
    # The peers are deterministic: one fit (the first seed's rows, which every seed shares).
    first = per_seed[0].get("peers", {})
    for name, figures in first.items():
        out[name] = {k: figures[k] for k in (*KEYS, "group_fpr", "group_fnr")}
    return out


def table(name: str, result: dict) -> str:
    lines = [f"### {name}", "", "| model | AUC | eval FPR | TPR | max gap | examples/s |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    b = result["baseline"]
    lines.append(
        f"| baseline ({len(b['seeds'])} seeds) | {common.mean_sd(b['auc'])} | "
        f"{common.mean_sd(b['overall_fpr'])} | {common.mean_sd(b['tpr'])} | "
        f"{common.mean_sd(b['max_gap'])} | {common.mean_sd(b['examples_per_second'])} |"
    )
    for peer in ("lr_peer", "lr_char_peer"):
        if peer in result:
            p = result[peer]
            lines.append(
                f"| {peer} | {p['auc']:.3f} | {p['overall_fpr']:.3f} | {p['tpr']:.3f} | "
                f"{common.mean_sd([p['max_gap']])} | - |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ghc", "embedded"],
                        choices=sorted(common.PREPARE))  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--output", default=str(common.ROOT / "outputs" / "bench-base"))
    parser.add_argument("--results", default=str(common.ROOT / "bench" / "results"))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("runner_args", nargs="*", help="extra local_runner flags, after --")
    args = parser.parse_args(argv)

    provenance = common.stamp("bench/base_model.py", argv)
    path = Path(args.results) / "base-model.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for dataset in args.datasets:
        out = Path(args.output) / dataset
        out.mkdir(parents=True, exist_ok=True)
        data = common.PREPARE[dataset](out)
        per_seed = [
            one_seed(data, out, seed, args.runner_args, not args.no_peers and i == 0)
            for i, seed in enumerate(args.seeds)
        ]
        results[dataset] = summarise(per_seed, args.seeds)
        results[dataset]["per_seed"] = per_seed
        results[dataset]["provenance"] = provenance
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(table(dataset, results[dataset]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
