"""Benchmark: identity-swap robustness of Counterfactual Logit Pairing against the baseline and a
weight-0 control, trained on the Gab Hate Corpus. Prints and writes figures; it is not a test.

    .venv/bin/python bench/robustness.py tune [--weights 1 5] [--seed 1 [2 ...]] [CLP options]
    .venv/bin/python bench/robustness.py measure [--seeds 1 2 3] [--clp-weight W] [CLP options]
    CLP options: [--clp-pairs all|non_toxic] [--clp-oov swap|skip] (the trainer's flags)

Every figure is at the model's own operating point (5% FPR on validation), a comment counted as
toxic when its score is strictly above the threshold:

- flip rate: Wikipedia's `toxicity_nonfuzzed_testset.csv` against `toxicity_fuzzed_testset.csv`
  (the same comments, paired by `rev_id`, identity terms swapped): the share of pairs whose
  decision differs, over the pairs whose text differs once lower-cased and split into words
  as Transform does (identical pairs cannot flip); and the mean absolute score change there;
- GHC test: AUC, TPR, the largest group FPR gap (bench/common.figures);
- madlibs (Dixon et al.): per identity keyword of contract.py, the FPR over its NOT_BAD
  sentences and the AUC over its sentences.

`tune` picks the CLP weight on the validation split only: GHC validation comments that mention
a keyword, with each keyword swapped for another at random (seeded), scored against the
originals; with the validation AUC from the training stats; it lists every cached run of each
seed, so successive calls build one table, and with several seeds the mean changes per weight
and the rule's pick, and writes those rows under `tuning` in bench/results/robustness.json.
`measure` writes bench/results/robustness.json over the given seeds and
prints the flip cuts, of the means and per seed; figures kept under other keys by earlier
calls stay, and `--keep-previous KEY` also keeps the file's earlier CLP figures under KEY.
Runs are cached per method, weight, CLP options and seed in the output folder, under the code's
commit (`bench/provenance.py`'s cache key): adding a seed trains only that seed, and other code
trains again instead of reusing another commit's runs.
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
from bench import common  # noqa: E402
from bench.base_model import rows_the_model_saw  # noqa: E402
from contract import IDENTITY_KEYWORDS  # noqa: E402
from ingest.shared_data import wiki_swap_pairs, words  # noqa: E402
from trainer_modules import operating_point as op  # noqa: E402

SINGLE_WORD_TERMS = sorted({k for ks in IDENTITY_KEYWORDS.values() for k in ks if " " not in k})
ALL_TERMS = sorted({k for ks in IDENTITY_KEYWORDS.values() for k in ks}, key=len, reverse=True)
_SINGLE = re.compile(r"\b(" + "|".join(SINGLE_WORD_TERMS) + r")\b", re.IGNORECASE)
KEYS = ("flip_rate", "mean_abs_score_change", "auc", "tpr", "max_gap", "overall_fpr")


def fuzz_pairs() -> tuple[list[str], list[str]]:
    """Original and fuzzed Wikipedia comments paired by rev_id, where the words differ."""
    pairs = wiki_swap_pairs(common.shared_data_dir())
    if pairs is None:
        raise SystemExit(
            "Wikipedia swap sets not found: set FAIR_TOXICITY_DATA to the shared data folder"
        )
    return pairs


def madlibs() -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Sentences, labels (BAD = 1) and, per keyword, which sentences mention it (a multi-word
    keyword claims its words first: "african american" is not also "american")."""
    path = common.shared_data_dir() / "wiki_toxicity" / "bias_madlibs_77k.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [r["Text"] for r in rows]
    labels = np.array([r["Label"] == "BAD" for r in rows], float)
    terms = {t: np.zeros(len(texts), bool) for t in ALL_TERMS}
    for i, text in enumerate(texts):
        rest = " " + " ".join(words(text)) + " "
        for term in ALL_TERMS:
            if f" {term} " in rest:
                terms[term][i] = True
                rest = rest.replace(f" {term} ", " | ")
    return texts, labels, {t: m for t, m in terms.items() if m.any()}


def swap_figures(model, threshold: float, originals: list[str], swapped: list[str]) -> dict:
    before, after = common.score(model, originals), common.score(model, swapped)
    return {
        "flip_rate": float(np.mean((before > threshold) != (after > threshold))),
        "mean_abs_score_change": float(np.mean(np.abs(before - after))),
        "pairs": len(originals),
    }


def madlibs_figures(model, threshold: float, data) -> dict:
    texts, labels, terms = data
    scores = common.score(model, texts)
    negative = labels < 0.5
    flagged = scores > threshold
    per_term = {
        t: {
            "fpr": float(flagged[m & negative].mean()),
            "auc": rates.auc(scores[m], op.toxic(labels[m])),
        }
        for t, m in terms.items()
    }
    return {"overall_fpr": float(flagged[negative].mean()),
            "auc": rates.auc(scores, op.toxic(labels)), "terms": per_term}  # fmt: skip


def validation_swaps(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    """Validation comments that mention a keyword, and the same with each keyword (the same
    way throughout a comment) swapped for another keyword drawn at random."""
    rng = np.random.default_rng(seed)
    originals, swapped = [], []
    for text in texts:
        found = {m.lower() for m in _SINGLE.findall(text)}
        if not found:
            continue
        choice = {t: rng.choice([o for o in SINGLE_WORD_TERMS if o != t]) for t in found}
        originals.append(text)
        swapped.append(_SINGLE.sub(lambda m, c=choice: c[m.group(0).lower()], text))
    return originals, swapped


def variant_flags(pairs: str, oov: str) -> tuple[str, list[str]]:
    """The tag suffix and trainer flags of CLP options; no suffix for "all" and "swap", so the
    runs cached before the options existed keep their tags. The flags are always passed: the
    trainer's defaults may differ from these."""
    suffix = "" if pairs == "all" else f"-{pairs}"
    suffix += "" if oov == "swap" else f"-oov{oov}"
    return suffix, ["--clp-pairs", pairs, "--clp-oov", oov]


def run_cache(out: Path) -> Path:
    """The folder of the cached runs of this code: one per commit (and dirty tree)."""
    return out / "runs" / common.cache_key()


def run_once(data: Path, out: Path, method: str, weight: float, seed: int, extra,
             variant: tuple[str, list[str]] = ("", [])) -> dict:  # fmt: skip
    """Train one model (cached by method, weight, CLP options, seed and the code's commit) and
    score everything."""
    import tensorflow as tf

    suffix, options = ("", []) if method == "baseline" else variant
    tag = f"{method}-w{weight:g}{suffix}-seed{seed}"
    cached = run_cache(out) / f"{tag}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    trainer = "baseline" if method == "baseline" else "clp"
    flags = [] if method == "baseline" else ["--clp-weight", str(weight), *options]
    run = common.run_pipeline(data, trainer, out, ["--seed", str(seed), *flags, *extra], tag)
    model = tf.saved_model.load(run["model_dir"])
    stats = run["stats"]
    threshold = stats["operating_point"]["threshold"]
    _, validation, evaluation = rows_the_model_saw(model, data)
    main = common.figures(common.score(model, evaluation["texts"]), evaluation["labels"],
                          evaluation["groups"], threshold)  # fmt: skip
    result = {
        "tag": tag,
        "commit": common.commit(),
        "threshold": threshold,
        "validation_auc": stats["validation_auc_by_epoch"][stats["best_epoch"] - 1],
        "validation_swap": swap_figures(
            model, threshold, *validation_swaps(validation["texts"], 0)
        ),
        "wiki_swap": swap_figures(model, threshold, *fuzz_pairs()),
        "ghc_test": {k: main[k] for k in ("auc", "tpr", "overall_fpr", "max_gap", "group_fpr")},
        "madlibs": madlibs_figures(model, threshold, madlibs()),
        "seconds_per_step": stats.get("seconds_per_step"),
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result, indent=2) + "\n")
    return result


def summary_of(runs: list[dict], seeds: list[int]) -> dict:
    entry = {"seeds": seeds}
    for key in ("flip_rate", "mean_abs_score_change"):
        entry[key] = [r["wiki_swap"][key] for r in runs]
    for key in ("auc", "tpr", "max_gap", "overall_fpr"):
        entry[key] = [r["ghc_test"][key] for r in runs]
    entry["validation_auc"] = [r["validation_auc"] for r in runs]
    entry["validation_flip_rate"] = [r["validation_swap"]["flip_rate"] for r in runs]
    entry["madlibs_auc"] = [r["madlibs"]["auc"] for r in runs]
    entry["madlibs_fpr"] = [r["madlibs"]["overall_fpr"] for r in runs]
    terms = sorted(runs[0]["madlibs"]["terms"])
    entry["madlibs_terms"] = {
        t: {k: [r["madlibs"]["terms"][t][k] for r in runs] for k in ("fpr", "auc")} for t in terms
    }
    return entry


def table(results: dict) -> str:
    lines = ["| method | seeds | flip rate | mean abs score change | GHC AUC | TPR | max gap | "
             "madlibs max term FPR |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for method in ("baseline", "clp", "clp_control"):
        e = results.get(method)
        if not e:
            continue
        worst = [
            max(v["fpr"][i] for v in e["madlibs_terms"].values()) for i in range(len(e["seeds"]))
        ]
        lines.append(
            f"| {method} | {len(e['seeds'])} | {common.mean_sd(e['flip_rate'])} | "
            f"{common.mean_sd(e['mean_abs_score_change'])} | {common.mean_sd(e['auc'])} | "
            f"{common.mean_sd(e['tpr'])} | {common.mean_sd(e['max_gap'])} | "
            f"{common.mean_sd(worst)} |"
        )
    return "\n".join(lines)


def flip_cuts(results: dict) -> str:
    """CLP's flip-rate cut against the baseline and against the control: of the means over the
    seeds, and seed by seed."""
    clp = results["clp"]["flip_rate"]
    lines = []
    for ref in ("baseline", "clp_control"):
        base = results[ref]["flip_rate"]
        per_seed = " / ".join(f"{c / b - 1:+.1%}" for c, b in zip(clp, base, strict=True))
        lines.append(f"clp against {ref}: {np.mean(clp) / np.mean(base) - 1:+.1%} of the means; "
                     f"per seed {per_seed}")  # fmt: skip
    return "\n".join(lines)


def tuning_table(base: dict, out: Path, seed: int) -> str:
    """Validation figures of the baseline and of every cached CLP run of the seed, with the
    changes against the baseline that the choice rule reads."""
    runs = [
        json.loads(p.read_text()) for p in sorted(run_cache(out).glob(f"clp-w*-seed{seed}.json"))
    ]
    lines = ["| run | validation AUC | AUC change | validation flip rate | flip change | "
             "validation mean abs change |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    base_flip = base["validation_swap"]["flip_rate"]
    for r in [base, *sorted(runs, key=lambda r: r["tag"])]:
        v = r["validation_swap"]
        cut = (v["flip_rate"] - base_flip) / base_flip if base_flip else float("nan")
        lines.append(f"| {r['tag']} | {r['validation_auc']:.4f} | "
                     f"{r['validation_auc'] - base['validation_auc']:+.4f} | "
                     f"{v['flip_rate']:.4f} | {cut:+.0%} | {v['mean_abs_score_change']:.4f} |")  # fmt: skip
    return "\n".join(lines)


def write_tuning(path: Path, out: Path, seeds: list[int], provenance: dict) -> None:
    """The validation figures of every cached run of each tuned seed (the rows `tune` prints),
    under `tuning` in the results file, each seed's entry with the stamp of the call that
    wrote it."""
    results = json.loads(path.read_text()) if path.exists() else {}
    tuning = results.setdefault("tuning", {})
    for seed in seeds:
        runs = [
            json.loads(p.read_text()) for p in sorted(run_cache(out).glob(f"*-seed{seed}.json"))
        ]
        tuning[f"seed{seed}"] = {
            "provenance": provenance,
            "runs": {r["tag"]: {"validation_auc": r["validation_auc"],
                                "validation_flip_rate": r["validation_swap"]["flip_rate"],
                                "validation_mean_abs_change":
                                    r["validation_swap"]["mean_abs_score_change"]}
                     for r in runs},
        }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def mean_tuning_table(bases: dict[int, dict], out: Path, suffix: str) -> str:
    """Per CLP weight of the given options run at every seed: the validation AUC change and
    flip cut against the same seed's baseline, averaged over the seeds, and the rule's pick
    (the largest mean cut whose mean AUC change is within 0.01)."""
    seeds = sorted(bases)
    by_weight: dict[str, list[dict]] = {}
    cache = run_cache(out)
    for p in sorted(cache.glob(f"clp-w*{suffix}-seed{seeds[0]}.json")):
        weight = p.name[len("clp-w") : -len(f"{suffix}-seed{seeds[0]}.json")]
        paths = [cache / f"clp-w{weight}{suffix}-seed{s}.json" for s in seeds]
        if "-" not in weight and all(q.exists() for q in paths):
            by_weight[weight] = [json.loads(q.read_text()) for q in paths]
    lines = [f"| weight ({suffix or 'all/swap'}), seeds {' '.join(map(str, seeds))} | "
             "mean AUC change | mean flip change | per seed flip change |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    pick, best = None, 0.0
    for weight, runs in sorted(by_weight.items(), key=lambda kv: float(kv[0])):
        auc = [
            r["validation_auc"] - bases[s]["validation_auc"]
            for r, s in zip(runs, seeds, strict=True)
        ]
        base_flips = [bases[s]["validation_swap"]["flip_rate"] for s in seeds]
        cut = [
            r["validation_swap"]["flip_rate"] / b - 1 for r, b in zip(runs, base_flips, strict=True)
        ]
        if np.mean(auc) >= -0.01 and np.mean(cut) < best:
            pick, best = weight, float(np.mean(cut))
        lines.append(f"| {weight} | {np.mean(auc):+.4f} | {np.mean(cut):+.0%} | "
                     f"{' / '.join(f'{c:+.0%}' for c in cut)} |")  # fmt: skip
    lines.append(f"\nRule's pick over seeds {' '.join(map(str, seeds))}: {pick or 'none'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("tune", "measure"))
    parser.add_argument("--weights", nargs="+", type=float, default=[1.0, 5.0])
    parser.add_argument("--seed", nargs="+", type=int, default=[1],
                        help="tune: the seeds (more than one adds their mean)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--clp-weight", type=float, default=None,
                        help="measure: the CLP weight (default: the trainer's default)")  # fmt: skip
    parser.add_argument("--clp-pairs", choices=("all", "non_toxic"), default="all")
    parser.add_argument("--clp-oov", choices=("swap", "skip"), default="swap")
    parser.add_argument("--keep-previous", metavar="KEY",
                        help="measure: keep the results file's earlier CLP figures under KEY")  # fmt: skip
    parser.add_argument("--output", default=str(common.ROOT / "outputs" / "bench-robustness"))
    parser.add_argument("--results", default=str(common.ROOT / "bench" / "results"))
    parser.add_argument("runner_args", nargs="*", help="extra local_runner flags, after --")
    args = parser.parse_args(argv)

    out = Path(args.output) / "ghc"
    out.mkdir(parents=True, exist_ok=True)
    data = common.PREPARE["ghc"](out)
    variant = variant_flags(args.clp_pairs, args.clp_oov)
    if args.mode == "tune":
        bases = {}
        for seed in args.seed:
            bases[seed] = run_once(data, out, "baseline", 0.0, seed, args.runner_args)
            for w in args.weights:
                run_once(data, out, "clp", w, seed, args.runner_args, variant)
            print(f"seed {seed}\n{tuning_table(bases[seed], out, seed)}\n", flush=True)
        if len(bases) > 1:
            print(mean_tuning_table(bases, out, variant[0]))
        write_tuning(Path(args.results) / "robustness.json", out, list(bases),
                     common.stamp("bench/robustness.py", argv))  # fmt: skip
        return 0

    from trainer_modules.settings import TrainerSettings

    provenance = common.stamp("bench/robustness.py", argv)
    weight = TrainerSettings().clp_weight if args.clp_weight is None else args.clp_weight
    results = {"target_fpr": common.TARGET_FPR, "clp_weight": weight,
               "clp_pairs": args.clp_pairs, "clp_oov": args.clp_oov}  # fmt: skip
    for method, w in (("baseline", 0.0), ("clp", weight), ("clp_control", 0.0)):
        runs = [run_once(data, out, method, w, s, args.runner_args, variant) for s in args.seeds]
        results[method] = summary_of(runs, list(args.seeds))
    results["provenance"] = provenance
    path = Path(args.results) / "robustness.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    # Figures kept by earlier calls travel on, with or without --keep-previous.
    results.update(
        {k: v for k, v in previous.items() if isinstance(v, dict) and ("clp" in v or k == "tuning")}
    )
    if args.keep_previous and previous:
        # An entry written before issue 27 names its command alone, not under provenance.
        kept = ("clp", "clp_control", "clp_weight", "clp_pairs", "clp_oov", "command", "provenance")
        results[args.keep_previous] = {k: previous[k] for k in kept if k in previous}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(table(results), flip_cuts(results), sep="\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
