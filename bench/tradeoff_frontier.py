"""Benchmark: what a group FPR gap bound costs in recall on the baseline's own scores, with the
identity tags at inference (a feasibility reference for the group-blind methods).

    .venv/bin/python bench/tradeoff_frontier.py --baseline 1=TRAINER_DIR:ID 2=... 3=... \
        [--gaps 0.02 0.05 0.08 0.112 0.15 0.2]

For each baseline model (one per seed; TRAINER_DIR is its Trainer's output folder, ID the
execution id) and each bound g: per-group thresholds fitted on the model's VALIDATION scores
(`gap_thresholds.fit_gap_bounded_thresholds`: overall FPR 5%, each group with 30+ non-toxic
validation rows at FPR <= 5% + g, groups within the bound left at the common threshold), then
applied to the TEST split: TPR and its loss against the model's own operating point, overall
FPR, the largest group FPR gap (groups with 30+ non-toxic test rows) and its cut. AUC does not
move (the scores are the baseline's). Writes bench/results/remediation-frontier.json, stamped with the command, commit and date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.base_model import rows_the_model_saw  # noqa: E402
from bench.gap_thresholds import fit_gap_bounded_thresholds  # noqa: E402
from bench.validation_sweep import existing_run  # noqa: E402
from trainer_modules import postprocess  # noqa: E402

GAPS = (0.02, 0.05, 0.08, 0.112, 0.15, 0.2)
KEYS = ("tpr", "tpr_loss", "overall_fpr", "max_gap", "gap_cut", "validation_max_gap")


def one_seed(run: dict, rows, gaps) -> dict:
    import tensorflow as tf

    model = tf.saved_model.load(run["model_dir"])
    validation, test = rows[1], rows[2]
    val_scores = common.score(model, validation["texts"])
    test_scores = common.score(model, test["texts"])
    threshold = run["stats"]["operating_point"]["threshold"]
    base = common.figures(test_scores, test["labels"], test["groups"], threshold)
    out = {"baseline": base, "bounds": {}}
    for gap in gaps:
        rest, own = fit_gap_bounded_thresholds(
            val_scores, validation["labels"], validation["groups"], common.TARGET_FPR, gap,
            common.MIN_NEGATIVES,
        )  # fmt: skip
        on_val = common.figures(val_scores, validation["labels"], validation["groups"], rest,
                                postprocess.decisions(val_scores, validation["groups"], rest, own))  # fmt: skip
        flagged = postprocess.decisions(test_scores, test["groups"], rest, own)
        figures = common.figures(test_scores, test["labels"], test["groups"], rest, flagged)
        figures.update(
            tpr_loss=base["tpr"] - figures["tpr"],
            gap_cut=1.0 - figures["max_gap"] / base["max_gap"],
            validation_max_gap=on_val["max_gap"],
            validation_group_fpr=on_val["group_fpr"],
            group_thresholds=own,
        )
        out["bounds"][str(gap)] = figures
    return out


def table(per_seed: dict, gaps) -> str:
    lines = [
        "| bound g | test TPR | TPR loss | test FPR | test max gap | gap cut | validation max gap |",
        "| --- " * 7 + "|",
    ]
    base = [r["baseline"] for r in per_seed.values()]
    lines.append(
        f"| none (baseline) | {common.mean_sd([b['tpr'] for b in base])} | - | "
        f"{common.mean_sd([b['overall_fpr'] for b in base])} | "
        f"{common.mean_sd([b['max_gap'] for b in base])} | - | - |"
    )
    for gap in gaps:
        rows = [r["bounds"][str(gap)] for r in per_seed.values()]
        cells = [common.mean_sd([r[k] for r in rows]) for k in KEYS]
        lines.append(f"| {gap} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", nargs="+", required=True, help="SEED=TRAINER_DIR:ID")
    parser.add_argument("--gaps", nargs="+", type=float, default=list(GAPS))
    parser.add_argument("--output", default=str(common.ROOT / "outputs" / "bench-frontier"))
    parser.add_argument("--results", default=str(common.ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    provenance = common.stamp("bench/tradeoff_frontier.py", argv)

    import tensorflow as tf

    out = Path(args.output) / "ghc"
    out.mkdir(parents=True, exist_ok=True)
    data = common.PREPARE["ghc"](out)
    runs = {int(k): existing_run(v) for k, v in (s.split("=", 1) for s in args.baseline)}
    rows = rows_the_model_saw(tf.saved_model.load(next(iter(runs.values()))["model_dir"]), data)
    per_seed = {seed: one_seed(run, rows, args.gaps) for seed, run in runs.items()}
    summary = {
        "auc": [r["baseline"]["auc"] for r in per_seed.values()],
        "validation_negatives": {
            g: int((m & (rows[1]["labels"] < 0.5)).sum()) for g, m in rows[1]["groups"].items()
        },  # fmt: skip
        "test_negatives": {
            g: int((m & (rows[2]["labels"] < 0.5)).sum()) for g, m in rows[2]["groups"].items()
        },  # fmt: skip
    }
    for gap in args.gaps:
        summary[str(gap)] = {k: [r["bounds"][str(gap)][k] for r in per_seed.values()]
                             for k in KEYS}  # fmt: skip
    result = {"seeds": sorted(per_seed), "target_fpr": common.TARGET_FPR, "summary": summary,
              "per_seed": per_seed, "provenance": provenance}  # fmt: skip
    path = Path(args.results) / "remediation-frontier.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=float) + "\n")
    print(f"AUC (unchanged by thresholds): {common.mean_sd(summary['auc'])}")
    print(f"non-toxic rows per group: validation {summary['validation_negatives']}, "
          f"test {summary['test_negatives']}")  # fmt: skip
    print(table(per_seed, args.gaps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
