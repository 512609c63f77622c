"""Benchmark: every remediation over several seeds, against controls and a naive peer, at each
model's own operating point. Prints and writes figures; it is not a test.

    .venv/bin/python bench/remediation.py [--datasets ghc embedded] [--seeds 1 2 3] [-- RUN FLAGS]

Methods, each per seed, all on the same rows:

- baseline, min_diff, tfco: `local_runner.py run --candidates ...`;
- min_diff_control (MinDiff weight 0) and tfco_control (epsilon 1): the method switched off;
- postprocess: the baseline model of the same seed with per-group thresholds fitted on its
  validation scores (trainer_modules.postprocess, the same functions the pipeline's
  `--postprocess group_thresholds` runs), applied to its eval scores;
- identity_masking: the naive peer a team tries first, identity terms masked in the text before a
  TF-IDF (word + char) logistic regression; deterministic, so one fit.

Each figure is at the model's own operating point (5% FPR on validation): AUC, TPR, overall FPR,
per-group FPR and FNR, the largest group FPR gap (groups with 30+ non-toxic eval rows). The
models trained on the Gab Hate Corpus also score the Wikipedia identity test set and Dixon et
al.'s madlibs. Writes bench/results/remediation.json and bench/results/remediation-tradeoff.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rates  # noqa: E402
from bench import common, peers  # noqa: E402
from bench.base_model import rows_the_model_saw  # noqa: E402
from contract import IDENTITY_KEYWORDS  # noqa: E402
from trainer_modules import operating_point as op  # noqa: E402
from trainer_modules import postprocess  # noqa: E402

PIPELINE_METHODS = {
    "baseline": ("baseline", []),
    "min_diff": ("min_diff", []),
    "min_diff_control": ("min_diff", ["--min-diff-weight", "0"]),
    "tfco": ("tfco", []),
    "tfco_control": ("tfco", ["--tfco-epsilon", "1"]),
}
MADLIBS_STRIDE = 4
KEYS = ("auc", "tpr", "overall_fpr", "max_gap", "group_fpr", "group_fnr")
_IDENTITY = re.compile(
    r"\b("
    + "|".join(sorted({k for ks in IDENTITY_KEYWORDS.values() for k in ks}, key=len, reverse=True))
    + r")\b",  # fmt: skip
    re.IGNORECASE,
)


def external_sets() -> dict[str, tuple[list[str], np.ndarray]]:
    """Texts and labels of the Wikipedia identity test set and the madlibs, when present."""
    wiki = common.shared_data_dir() / "wiki_toxicity"
    out = {}
    path = wiki / "toxicity_nonfuzzed_testset.csv"
    if path.exists():
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        out["wiki_identity"] = ([r["comment"] for r in rows],
                                np.array([r["toxic"] == "True" for r in rows], float))  # fmt: skip
    path = wiki / "bias_madlibs_77k.csv"
    if path.exists():
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        # Every 4th sentence (19,141 of 76,564; both labels, every term and template): scoring
        # all of them through 15 models costs more than the figures gain.
        rows = rows[::MADLIBS_STRIDE]
        out["madlibs"] = ([r["Text"] for r in rows],
                          np.array([r["Label"] == "BAD" for r in rows], float))  # fmt: skip
    return out


def tags_of(model, texts: list[str]) -> dict[str, np.ndarray]:
    """Identity tags of raw texts through the model's own Transform layer."""
    import tensorflow as tf

    from contract import IDENTITY_GROUPS, identity_feature
    from ingest.tfrecords import make_example

    tags = {g: [] for g in IDENTITY_GROUPS}
    for start in range(0, len(texts), 2048):
        batch = [make_example(t, 0.0).SerializeToString() for t in texts[start : start + 2048]]
        out = model.signatures["transform_features"](examples=tf.constant(batch))
        for g in IDENTITY_GROUPS:
            tags[g].append(out[identity_feature(g)].numpy().reshape(-1) > 0)
    return {g: np.concatenate(v) for g, v in tags.items()}


def scored_figures(scores, labels, groups, point: dict) -> dict:
    """Figures at a model's operating point, with post-processing when it has group
    thresholds."""
    if point.get("group_thresholds"):
        rest, own = point["threshold"], point["group_thresholds"]
        flagged = postprocess.decisions(scores, groups, rest, own)
        return common.figures(scores, labels, groups, rest, flagged)
    return common.figures(scores, labels, groups, point["threshold"])


def evaluate_model(model, point: dict, evaluation: dict, external: dict) -> dict:
    scores = common.score(model, evaluation["texts"])
    result = {"main": scored_figures(scores, evaluation["labels"], evaluation["groups"], point)}
    for name, (texts, labels) in external.items():
        result[name] = scored_figures(
            common.score(model, texts), labels, tags_of(model, texts), point
        )
    return result


def postprocessed(model, point: dict, validation: dict) -> dict:
    rest, own = postprocess.fit_group_thresholds(
        common.score(model, validation["texts"]), validation["labels"], validation["groups"],
        common.TARGET_FPR, 30, base=point["threshold"],
    )  # fmt: skip
    return {"threshold": rest, "group_thresholds": own, "source": "postprocess"}


def masked(texts: list[str]) -> list[str]:
    return [_IDENTITY.sub("identity", t) for t in texts]


def identity_masking(model, train, validation, evaluation, external) -> dict:
    texts = masked(validation["texts"]) + masked(evaluation["texts"])
    extra = {name: masked(t) for name, (t, _) in external.items()}
    everything = texts + [t for ts in extra.values() for t in ts]
    scores = peers.word_char_peer(masked(train["texts"]), train["labels"], everything)
    n_val, n_eval = len(validation["texts"]), len(evaluation["texts"])
    threshold = rates.threshold_at_fpr(
        scores[:n_val], op.toxic(validation["labels"]), common.TARGET_FPR
    )
    point = {"threshold": threshold}
    result = {"main": scored_figures(scores[n_val : n_val + n_eval], evaluation["labels"],
                                     evaluation["groups"], point)}  # fmt: skip
    offset = n_val + n_eval
    for name, (texts, labels) in external.items():
        part = scores[offset : offset + len(texts)]
        offset += len(texts)
        result[name] = scored_figures(part, labels, tags_of(model, texts), point)
    return result


def one_seed(data: Path, out: Path, seed: int, methods, extra, external) -> dict:
    import tensorflow as tf

    per_method, rows = {}, None
    for name in methods:
        if name not in PIPELINE_METHODS:
            continue
        trainer, flags = PIPELINE_METHODS[name]
        run = common.run_pipeline(data, trainer, out, ["--seed", str(seed), *flags, *extra],
                                  f"{name}-seed{seed}")  # fmt: skip
        model = tf.saved_model.load(run["model_dir"])
        if rows is None:
            rows = rows_the_model_saw(model, data)
        point = run["stats"]["operating_point"]
        per_method[name] = evaluate_model(model, point, rows[2], external)
        per_method[name]["step_seconds"] = run["stats"].get("seconds_per_step")
        per_method[name]["examples_per_second"] = run["stats"]["examples_per_second"]
        per_method[name]["blessed"] = run["blessed"]
        if name == "baseline" and "postprocess" in methods:
            pp = postprocessed(model, point, rows[1])
            per_method["postprocess"] = evaluate_model(model, pp, rows[2], external)
            per_method["postprocess"]["group_thresholds"] = pp["group_thresholds"]
        if name == "baseline" and "identity_masking" in methods and seed == 1:
            per_method["identity_masking"] = identity_masking(model, *rows, external)
    return per_method


def summarise(per_seed: dict[int, dict], part: str) -> dict:
    out: dict = {"target_fpr": common.TARGET_FPR}
    methods = {m for results in per_seed.values() for m in results}
    for method in sorted(methods):
        seeds = [s for s, r in per_seed.items() if method in r and part in r[method]]
        entry = {"seeds": seeds}
        for key in KEYS:
            entry[key] = [per_seed[s][method][part][key] for s in seeds]
        if part == "main":
            for key in ("step_seconds", "examples_per_second"):
                entry[key] = [per_seed[s][method].get(key) for s in seeds]
        out[method] = entry
    return out


def table(name: str, summary: dict) -> str:
    lines = [f"### {name}", "", "| method | seeds | AUC | TPR | eval FPR | max gap | s/step |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for method, e in summary.items():
        if not isinstance(e, dict) or "seeds" not in e:  # target_fpr, provenance
            continue
        lines.append(
            f"| {method} | {len(e['seeds'])} | {common.mean_sd(e['auc'])} | "
            f"{common.mean_sd(e['tpr'])} | {common.mean_sd(e['overall_fpr'])} | "
            f"{common.mean_sd(e['max_gap'])} | {common.mean_sd(e.get('step_seconds', []))} |"
        )
    return "\n".join(lines)


def tradeoff_chart(results: dict, path: Path) -> None:
    """Max group FPR gap against TPR, one point per method and seed, per dataset."""
    import altair as alt
    import pandas as pd

    rows = [
        {"dataset": dataset, "method": method, "TPR": tpr, "max group FPR gap": gap}
        for dataset, summary in results.items() if isinstance(summary, dict)
        for method, e in summary.items() if isinstance(e, dict) and "tpr" in e
        for tpr, gap in zip(e["tpr"], e["max_gap"], strict=True) if gap is not None
    ]  # fmt: skip
    chart = (
        alt.Chart(pd.DataFrame(rows), title="What each method buys, at 5% overall FPR")
        .mark_point(filled=True, size=70)
        .encode(
            x="TPR:Q",
            y="max group FPR gap:Q",
            color="method:N",
            shape="method:N",
            tooltip=["dataset", "method", "TPR", "max group FPR gap"],
        )  # fmt: skip
        .properties(width=320, height=260)
        .facet(column="dataset:N")
    )
    chart.save(str(path), format="png", scale_factor=2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ghc", "embedded"],
                        choices=sorted(common.PREPARE))  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=[*PIPELINE_METHODS, "postprocess",
                                                         "identity_masking"])  # fmt: skip
    parser.add_argument("--output", default=str(common.ROOT / "outputs" / "bench-remediation"))
    parser.add_argument("--results", default=str(common.ROOT / "bench" / "results"))
    parser.add_argument("runner_args", nargs="*", help="extra local_runner flags, after --")
    args = parser.parse_args(argv)

    provenance = common.stamp("bench/remediation.py", argv)
    path = Path(args.results) / "remediation.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for dataset in args.datasets:
        out = Path(args.output) / dataset
        out.mkdir(parents=True, exist_ok=True)
        data = common.PREPARE[dataset](out)
        external = external_sets() if dataset == "ghc" else {}
        per_seed = {s: one_seed(data, out, s, args.methods, args.runner_args, external)
                    for s in args.seeds}  # fmt: skip
        results[dataset] = summarise(per_seed, "main")
        for name in external:
            results[name] = summarise(per_seed, name)
        for name in [dataset, *external]:
            results[name]["provenance"] = provenance
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        for name in [dataset, *external]:
            print(table(name, results[name]), flush=True)
    tradeoff_chart(results, Path(args.results) / "remediation-tradeoff.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
