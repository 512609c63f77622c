"""Benchmark: one remediation setting swept through the pipeline, picked on validation only.

    .venv/bin/python bench/validation_sweep.py --trainer tfco --flag=--tfco-epsilon \
        --values 0.03 0.06 0.1 --seeds 1 2 3 \
        [--existing baseline@1=COMPONENT_DIR:ID ...]

Each (value, seed) runs `local_runner.py run --candidates TRAINER --seed S FLAG VALUE` on the Gab
Hate Corpus; the baseline of each seed runs too, unless `--existing` names a model already
trained with the same code and seed (training is deterministic per seed: the same seed gives the
same threshold to the last digit; a TFCO model from an older commit did not, so name only models
of the current code). `--existing KEY=DIR:ID` takes the model of execution ID under
DIR, a Trainer's output folder (`.../Trainer.baseline`); KEY is `baseline@SEED` or `VALUE@SEED`.

Every model is scored on the VALIDATION split (the hash-held-out tenth of train the pipeline
picks the operating point on), at its own operating point (5% FPR on validation): AUC, TPR,
overall FPR, per-group FPR, the largest group FPR gap. The pick: the loosest value (TFCO's
largest epsilon, MinDiff's smallest weight) whose validation gap, mean over seeds, is at least
70% below the baseline's mean on the same seeds.
Writes bench/results/remediation-sweep-TRAINER.json, stamped with the command, the commit and the
date. The runs are cached in the output folder under the code's commit (bench/provenance.py), so
other code trains again.

The picked setting is then measured on the test split by bench/remediation.py with the same
flag after `--`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.base_model import rows_the_model_saw  # noqa: E402

CUT = 0.70
KEYS = ("auc", "tpr", "overall_fpr", "max_gap")


def existing_run(spec: str) -> dict:
    folder, run_id = spec.rsplit(":", 1)
    return common.trained_model(str(Path(folder, "model", run_id)),
                                str(Path(folder, "model_run", run_id)))  # fmt: skip


def trained(args, data: Path, out: Path, key: str, seed: int, existing: dict) -> dict:
    """The run of `key` (`baseline` or a value) for `seed`: named, cached, or trained now."""
    name = f"{key}@{seed}"
    cache = out / "runs" / common.cache_key() / f"{args.trainer}-{name}.json"
    if name in existing:
        return existing_run(existing[name])
    if cache.exists():
        return json.loads(cache.read_text())
    trainer, flags = ("baseline", []) if key == "baseline" else (args.trainer, [args.flag, key])
    run = common.run_pipeline(data, trainer, out, ["--seed", str(seed), *flags, *args.runner_args],
                              f"{args.trainer}-{key}-seed{seed}")  # fmt: skip
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(
        json.dumps({**run, "commit": common.commit()}, indent=2, sort_keys=True) + "\n"
    )
    return run


def validation_figures(run: dict, rows: dict) -> dict:
    import tensorflow as tf

    model = tf.saved_model.load(run["model_dir"])
    scores = common.score(model, rows["texts"])
    result = common.figures(scores, rows["labels"], rows["groups"],
                            run["stats"]["operating_point"]["threshold"])  # fmt: skip
    result["seconds_per_step"] = run["stats"].get("seconds_per_step")
    result["model_dir"] = run["model_dir"]
    return result


def summary(per_key: dict, trainer: str) -> dict:
    """Mean figures per key, the gap cut against the baseline's mean gap, and the pick."""
    base = per_key["baseline"]
    mean = {k: sum(v[k] for v in base.values()) / len(base) for k in KEYS}
    out = {"baseline": mean, "values": {}}
    for key, seeds in per_key.items():
        if key == "baseline":
            continue
        m = {k: sum(v[k] for v in seeds.values()) / len(seeds) for k in KEYS}
        m["gap_cut"] = 1.0 - m["max_gap"] / mean["max_gap"]
        m["auc_loss"] = mean["auc"] - m["auc"]
        m["tpr_loss"] = mean["tpr"] - m["tpr"]
        out["values"][key] = m
    passing = [k for k, m in out["values"].items() if m["gap_cut"] >= CUT]
    # The loosest setting: TFCO's largest epsilon, MinDiff's smallest weight.
    loosest = min if trainer == "min_diff" else max
    out["pick"] = loosest(passing, key=float) if passing else None
    out["rule"] = f"loosest value whose mean validation gap is >= {CUT:.0%} below the baseline's"
    return out


def table(per_key: dict, result: dict) -> str:
    lines = ["| setting | seeds | AUC | TPR | FPR | max gap | gap cut |", "| --- " * 7 + "|"]
    for key, seeds in per_key.items():
        cut = result["values"].get(key, {}).get("gap_cut")
        lines.append(
            f"| {key} | {sorted(seeds)} | "
            + " | ".join(common.mean_sd([v[k] for v in seeds.values()]) for k in KEYS)
            + f" | {'-' if cut is None else f'{cut:.0%}'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainer", required=True, choices=["tfco", "min_diff"])
    parser.add_argument("--flag", required=True, help="the local_runner flag swept")
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--existing", nargs="*", default=[], help="KEY@SEED=TRAINER_DIR:ID")
    parser.add_argument("--output", default=str(common.ROOT / "outputs" / "bench-sweep"))
    parser.add_argument("--results", default=str(common.ROOT / "bench" / "results"))
    parser.add_argument("runner_args", nargs="*", help="extra local_runner flags, after --")
    args = parser.parse_args(argv)

    provenance = common.stamp("bench/validation_sweep.py", argv)
    existing = dict(spec.split("=", 1) for spec in args.existing)
    out = Path(args.output) / "ghc"
    out.mkdir(parents=True, exist_ok=True)
    data = common.PREPARE["ghc"](out)
    path = Path(args.results) / f"remediation-sweep-{args.trainer}.json"
    per_key: dict = {}
    rows = None
    for seed in args.seeds:
        for key in ("baseline", *args.values):
            run = trained(args, data, out, key, seed, existing)
            if rows is None:
                import tensorflow as tf

                rows = rows_the_model_saw(tf.saved_model.load(run["model_dir"]), data)[1]
            figures = validation_figures(run, rows)
            per_key.setdefault(key, {})[seed] = figures
            result = summary(per_key, args.trainer)
            document = {"split": "validation", "flag": args.flag, "per_seed": per_key, **result,
                        "provenance": provenance}  # fmt: skip
            path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            print(f"{key}@{seed}: " + ", ".join(f"{k} {figures[k]:.3f}" for k in KEYS),
                  flush=True)  # fmt: skip
    print(table(per_key, result))
    print(f"pick ({result['rule']}): {result['pick']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
