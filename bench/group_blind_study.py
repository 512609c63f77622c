"""Harness: instance reweighting as a group-blind remediation, against the threshold frontier.

    nice -n 10 .venv/bin/python bench/group_blind_study.py \
        --model outputs/bench-mindiff/ghc/pipelines/fair-toxicity/Trainer.baseline:8 \
        --data outputs/bench-mindiff/ghc/data/ghc [--seeds 1 2 3] \
        [--models peer keras conv conv20k minilm minilm_tfidf --embeddings /tmp/enc]

Outside TFX, on the pipeline's own rows: the GHC data folder the pipeline imported, split and
tagged through the Transform inside a trained model (`base_model.rows_the_model_saw`: train
less its hash-held-out validation tenth, validation, test), with the token ids the model sees.

Reweighting (Kamiran & Calders style; group-blind at inference, the tags are used only for the
training loss): the non-toxic training rows tagged with a remediated group (every group with
30+ non-toxic training rows, the trainers' default) weigh w, the others 1, rescaled to mean 1;
w = 1 is the control. `kc` is Kamiran & Calders' reweighing proper, on the attribute "tagged
with a remediated group": each (tagged, label) cell weighs P(tagged) P(label) / P(tagged, label).
Models: `peer`, word 1-2 + char_wb 2-5 TF-IDF + logistic regression (bench/peers.py, C 0.5;
deterministic, one fit), `keras`, the pipeline's model (`common.build_model`, GloVe, its
defaults, early stopping on validation AUC), and `conv`, the Conv1D GloVe model of
docs/benchmarks.md "Next: a stronger model" on the pipeline's 10,000-token vocabulary, and
`conv20k`, the same on a 20,000-token vocabulary built as Transform builds its own, each fitted
with sample weights, one model per seed. `minilm` and `minilm_tfidf`: logistic regression (one
fit) on sentence embeddings of the rows made outside (--embeddings; docs/benchmarks.md), alone
and beside the peer's TF-IDF features.

Each model is scored at its own operating point (5% FPR on validation) with `common.figures`,
on validation and test. For each control model, the threshold frontier: group-aware thresholds
on its validation scores (`gap_thresholds.fit_gap_bounded_thresholds`) applied to test. The pick,
on validation: the loosest w whose mean validation gap is >= 70% below its control's. Writes
bench/results/group-blind-study.json (figures per setting and seed, stamped with the command,
commit and date) and prints tables; rows and scores are cached per model under
--output/runs/COMMIT (bench/provenance.py's cache key), so a rerun of the same code only fits what
is missing, and other code fits everything again.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rates  # noqa: E402
from bench import common  # noqa: E402
from bench.base_model import rows_the_model_saw  # noqa: E402
from bench.gap_thresholds import fit_gap_bounded_thresholds  # noqa: E402
from bench.group_blind_models import (  # noqa: E402
    LINEAR_C,
    keras_scores,
    linear_features,
    peer_scores,
    with_vocabulary,
)
from bench.validation_sweep import existing_run  # noqa: E402
from contract import HOLDOUT_KEY, TOKENS_KEY  # noqa: E402
from trainer_modules import operating_point as op  # noqa: E402
from trainer_modules import postprocess  # noqa: E402

SETTINGS = ("w1", "w2", "w4", "w8", "w16", "kc")
CONTROL = "w1"
CUT, AUC_LOSS, TPR_LOSS = 0.70, 0.01, 0.03
GAPS = tuple(round(g, 3) for g in np.arange(0.0, 0.301, 0.01))
KEYS = ("auc", "tpr", "overall_fpr", "max_gap")


def load_rows(model_spec: str, data: Path, cache: Path) -> dict:
    """{"train"|"validation"|"test": texts, labels, groups, tokens}, as the pipeline split them."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    import tensorflow as tf

    model = tf.saved_model.load(existing_run(model_spec)["model_dir"])
    train, validation, test = rows_the_model_saw(model, data)
    (train_tokens, held), (test["tokens"], _) = (
        _tokens(model, common.split_files(data, name)) for name in ("train", "eval")
    )
    train["tokens"], validation["tokens"] = train_tokens[~held], train_tokens[held]
    vocab = (Path(existing_run(model_spec)["model_dir"]) / "assets" / "tokens").read_bytes()
    rows = {"train": train, "validation": validation, "test": test,
            "vocabulary": vocab.splitlines()}  # fmt: skip
    cache.write_bytes(pickle.dumps(rows))
    return rows


def _tokens(model, files: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids, and the validation mask (holdout bucket 0, as `rows_the_model_saw`)."""
    import tensorflow as tf

    tokens, held = [], []
    for batch in tf.data.TFRecordDataset(files).batch(1024):
        transformed = model.signatures["transform_features"](examples=batch)
        tokens.append(transformed[TOKENS_KEY].numpy())
        held.append(transformed[HOLDOUT_KEY].numpy().reshape(-1) == 0)
    return np.concatenate(tokens), np.concatenate(held)


def remediated(split: dict) -> list[str]:
    negative = split["labels"] < 0.5
    return [
        g for g, m in split["groups"].items() if int((m & negative).sum()) >= common.MIN_NEGATIVES
    ]


def sample_weights(split: dict, groups: list[str], setting: str) -> np.ndarray:
    """Per-row training weights of a setting, mean 1."""
    tagged = np.zeros(len(split["labels"]), dtype=bool)
    for g in groups:
        tagged |= split["groups"][g]
    toxic = split["labels"] >= 0.5
    if setting == "kc":
        weights = np.ones(len(toxic))
        for a in (False, True):
            for y in (False, True):
                cell = (tagged == a) & (toxic == y)
                weights[cell] = (tagged == a).mean() * (toxic == y).mean() / cell.mean()
    else:
        weights = np.where(tagged & ~toxic, float(setting[1:]), 1.0)
    return weights / weights.mean()


def _slim(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k != "group_rows"}


def bpsn_auc(scores, split: dict) -> dict[str, float]:
    """Per judged group, the AUC of the toxic rows outside it against its non-toxic rows
    (Borkan et al.'s BPSN): how well the scores keep the group's non-toxic posts below the
    other toxic ones, which is what a group FPR gap at a common threshold measures."""
    negative = split["labels"] < 0.5
    out = {}
    for g, mask in split["groups"].items():
        if int((mask & negative).sum()) >= common.MIN_NEGATIVES:
            rows = (mask & negative) | (~mask & ~negative)
            out[g] = rates.auc(scores[rows], op.toxic(split["labels"][rows]))
    return out


def measure(rows: dict, val_scores, test_scores) -> dict:
    """Validation and test figures at the model's own operating point (5% FPR on validation)."""
    val, test = rows["validation"], rows["test"]
    threshold = rates.threshold_at_fpr(val_scores, op.toxic(val["labels"]), common.TARGET_FPR)
    test_figures = _slim(common.figures(test_scores, test["labels"], test["groups"], threshold))
    return {
        "validation": _slim(common.figures(val_scores, val["labels"], val["groups"], threshold)),
        "test": {**test_figures, "bpsn_auc": bpsn_auc(test_scores, test)},
    }


def frontier(rows: dict, val_scores, test_scores, base: dict) -> dict:
    """Group-aware thresholds on a control model's scores: test figures per validation bound."""
    val, test = rows["validation"], rows["test"]
    out = {}
    for gap in GAPS:
        out[str(gap)] = _bounded(val, val_scores, common.TARGET_FPR, gap, test, test_scores, base)
    # The cheapest bound that cuts the test gap by CUT (chosen on test: a generous reference).
    enough = [v for v in out.values() if v["gap_cut"] >= CUT]
    return {"bounds": out, "control_tpr": base["tpr"],
            "tpr_loss_at_cut": min((v["tpr_loss"] for v in enough), default=None),
            "oracle": oracle(test, test_scores, base),
            "group_recall_cost": group_recall_cost(test, test_scores, base)}  # fmt: skip


def group_recall_cost(test: dict, scores, base: dict) -> dict:
    """Per judged group over the CUT bound: its own threshold raised until its test FPR is
    within (1 - CUT) of the control's max gap; the group's TPR before and after, its subgroup
    AUC, and the toxic rows lost as a share of all toxic test rows (before the common threshold
    is lowered to give the freed false positives back elsewhere)."""
    toxic = test["labels"] >= 0.5
    ceiling = base["overall_fpr"] + (1.0 - CUT) * base["max_gap"]
    out = {}
    for g, fpr in base["group_fpr"].items():
        if fpr <= ceiling:
            continue
        mask = test["groups"][g]
        negatives = np.sort(scores[mask & ~toxic])[::-1]
        k = int(np.floor(ceiling * len(negatives)))
        threshold = max(negatives[k], base["threshold"])
        before = scores[mask & toxic] > base["threshold"]
        after = scores[mask & toxic] > threshold
        out[g] = {"fpr": fpr, "fpr_after": float((scores[mask & ~toxic] > threshold).mean()),
                  "tpr": float(before.mean()), "tpr_after": float(after.mean()),
                  "subgroup_auc": rates.auc(scores[mask], op.toxic(test["labels"][mask])),
                  "overall_tpr_share": float((before.sum() - after.sum()) / toxic.sum())}  # fmt: skip
    return out


def oracle(test: dict, scores, base: dict) -> dict:
    """The same rule fitted on the TEST rows themselves, at the control's own test FPR, each
    group's gap bounded by (1 - CUT) of the control's max gap: what a CUT cut costs in recall
    with these scores when neither the thresholds' sampling error nor a drift of the overall
    FPR enters (the validation-fitted bounds let the test FPR rise, which shrinks the gap)."""
    bound = (1.0 - CUT) * base["max_gap"]
    return _bounded(test, scores, base["overall_fpr"], bound, test, scores, base)


def _bounded(fit: dict, fit_scores, target_fpr: float, gap: float, test: dict, scores, base):
    """Test figures of group-aware thresholds (`fit_gap_bounded_thresholds`) fitted on `fit`,
    with their TPR loss and gap cut against the control's `base` figures."""
    rest, own = fit_gap_bounded_thresholds(
        fit_scores, fit["labels"], fit["groups"], target_fpr, gap, common.MIN_NEGATIVES
    )
    flagged = postprocess.decisions(scores, test["groups"], rest, own)
    f = common.figures(scores, test["labels"], test["groups"], rest, flagged)
    return {"tpr": f["tpr"], "overall_fpr": f["overall_fpr"], "max_gap": f["max_gap"],
            "tpr_loss": base["tpr"] - f["tpr"], "gap_cut": 1.0 - f["max_gap"] / base["max_gap"]}  # fmt: skip


def run_one(kind: str, setting: str, seed: int, rows: dict, groups, features, cache: Path):
    path = cache / f"{kind}-{setting}-seed{seed}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["validation"], saved["test"], float(saved["seconds"])
    weights = sample_weights(rows["train"], groups, setting)
    start = time.monotonic()
    if kind in LINEAR_C:
        val_scores, test_scores = peer_scores(rows, weights, features, LINEAR_C[kind])
    else:
        val_scores, test_scores = keras_scores(rows, weights, seed, kind)
    seconds = time.monotonic() - start
    np.savez(path, validation=val_scores, test=test_scores, seconds=seconds)
    return val_scores, test_scores, seconds


def threshold_cut_at(per_seed: dict, frontiers: dict) -> float:
    """Mean over seeds of the largest test gap cut that group-aware thresholds on the same
    seed's control buy for no more TPR loss than this setting pays (0 when none does)."""
    cuts = []
    for seed, run in per_seed.items():
        loss = frontiers[seed]["control_tpr"] - run["test"]["tpr"]
        bounds = frontiers[seed]["bounds"].values()
        cuts.append(max([b["gap_cut"] for b in bounds if b["tpr_loss"] <= loss], default=0.0))
    return float(np.mean(cuts))


def summarise(per_model: dict, kind: str, frontiers: dict) -> dict:
    """Per setting: test and validation figures over seeds, and losses and cut against the mean
    of the control's; the validation pick and whether any setting meets the target on test."""
    runs = per_model[kind]
    out = {}
    for split in ("validation", "test"):
        base = {k: float(np.mean([r[split][k] for r in runs[CONTROL].values()])) for k in KEYS}
        for setting, seeds in runs.items():
            values = {k: [r[split][k] for r in seeds.values()] for k in KEYS}
            mean = {k: float(np.mean(v)) for k, v in values.items()}
            out.setdefault(setting, {"seeds": sorted(seeds)})[split] = {
                **values,
                "gap_cut": 1.0 - mean["max_gap"] / base["max_gap"],
                "auc_loss": base["auc"] - mean["auc"],
                "tpr_loss": base["tpr"] - mean["tpr"],
                "group_fpr": {g: float(np.mean([r[split]["group_fpr"].get(g, np.nan)
                                                for r in seeds.values()]))
                              for g in next(iter(seeds.values()))[split]["group_fpr"]},
            }  # fmt: skip
    for setting, seeds in runs.items():
        test = out[setting]["test"]
        test["threshold_cut_at_same_tpr_loss"] = threshold_cut_at(seeds, frontiers)
        first = next(iter(seeds.values()))["test"]["bpsn_auc"]
        test["bpsn_auc"] = {g: float(np.mean([r["test"]["bpsn_auc"][g] for r in seeds.values()]))
                            for g in first}  # fmt: skip
    ladder = [s for s in SETTINGS if s.startswith("w") and s in out and s != CONTROL]
    picked = next((s for s in ladder if out[s]["validation"]["gap_cut"] >= CUT), None)
    met = [s for s, v in out.items() if s != CONTROL and v["test"]["gap_cut"] >= CUT
           and v["test"]["auc_loss"] <= AUC_LOSS and v["test"]["tpr_loss"] <= TPR_LOSS]  # fmt: skip
    return {"settings": out, "validation_pick": picked, "meets_target_on_test": met}


def table(summary: dict, frontiers: dict) -> str:
    lines = ["| setting | seeds | test AUC | test TPR | test FPR | test max gap | cut | AUC loss "
             "| TPR loss | validation cut | thresholds' cut at that TPR loss |",
             "| --- " * 11 + "|"]  # fmt: skip
    for setting, v in summary["settings"].items():
        t = v["test"]
        lines.append(
            f"| {setting} | {len(v['seeds'])} | {common.mean_sd(t['auc'])} | "
            f"{common.mean_sd(t['tpr'])} | {common.mean_sd(t['overall_fpr'])} | "
            f"{common.mean_sd(t['max_gap'])} | {t['gap_cut']:.0%} | {t['auc_loss']:+.3f} | "
            f"{t['tpr_loss']:+.3f} | {v['validation']['gap_cut']:.0%} | "
            f"{t['threshold_cut_at_same_tpr_loss']:.0%} |"
        )
    losses = [f["tpr_loss_at_cut"] for f in frontiers.values()]
    lines.append(f"\nthreshold frontier on the controls, TPR loss of a {CUT:.0%} test cut, per "
                 f"seed: {', '.join('-' if x is None else f'{x:.3f}' for x in losses)}")  # fmt: skip
    oracle = [
        f"{f['oracle']['tpr_loss']:.3f} ({f['oracle']['gap_cut']:.0%})" for f in frontiers.values()
    ]
    lines.append(f"the same fitted on test (oracle), TPR loss (cut): {', '.join(oracle)}")
    for g in sorted({g for f in frontiers.values() for g in f["group_recall_cost"]}):
        cost = [f["group_recall_cost"].get(g) for f in frontiers.values()]
        lines.append(f"{g} alone to a {CUT:.0%} cut: TPR in group, subgroup AUC, overall TPR lost: "
                     + ", ".join("-" if c is None else f"{c['tpr']:.2f} -> {c['tpr_after']:.2f}, "
                                 f"{c['subgroup_auc']:.3f}, {c['overall_tpr_share']:.3f}"
                                 for c in cost))  # fmt: skip
    lines.append(f"validation pick: {summary['validation_pick']}; meets the target on test: "
                 f"{summary['meets_target_on_test'] or 'none'}")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="TRAINER_DIR:ID of a pipeline model "
                        "trained on --data (its Transform splits and tags the rows)")  # fmt: skip
    parser.add_argument("--data", type=Path, required=True, help="the imported GHC folder")
    parser.add_argument("--models", nargs="+", default=["peer", "keras"],
                        choices=["keras", "conv", "conv20k", *LINEAR_C])  # fmt: skip
    parser.add_argument("--embeddings", type=Path, help="folder of {train,validation,test}"
                        "-minilm.npy, for --models minilm / minilm_tfidf")  # fmt: skip
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--output", type=Path, default=common.ROOT / "outputs" / "group-blind")
    parser.add_argument("--results", type=Path, default=common.ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    args.provenance = common.stamp("bench/group_blind_study.py", argv)
    # Rows and scores are cached per commit of the code: other code computes them again.
    cache = args.output / "runs" / common.cache_key()
    cache.mkdir(parents=True, exist_ok=True)
    rows = load_rows(args.model, args.data, cache / "rows.pkl")
    groups = remediated(rows["train"])
    print({k: len(rows[k]["labels"]) for k in ("train", "validation", "test")}, groups, flush=True)
    settings = [CONTROL, *[s for s in args.settings if s != CONTROL]]
    per_model, frontiers, seconds, result = {}, {}, {}, {}
    for kind in args.models:
        features, model_rows = None, rows
        if kind == "conv20k":
            model_rows = with_vocabulary(rows, 20_000)
        if kind in LINEAR_C:
            features = linear_features(kind, rows, args.embeddings)
        for setting in settings:
            for seed in [0] if kind in LINEAR_C else args.seeds:
                scores = run_one(kind, setting, seed, model_rows, groups, features, cache)
                figures = measure(rows, scores[0], scores[1])
                per_model.setdefault(kind, {}).setdefault(setting, {})[seed] = figures
                seconds[f"{kind}-{setting}-seed{seed}"] = scores[2]
                if setting == CONTROL:
                    frontiers.setdefault(kind, {})[seed] = frontier(rows, *scores[:2],
                                                                    figures["test"])  # fmt: skip
                print(f"{kind} {setting} seed {seed}: test " + ", ".join(
                    f"{k} {figures['test'][k]:.3f}" for k in KEYS), flush=True)  # fmt: skip
            result = write(args, rows, groups, per_model, frontiers, seconds)
    for kind in per_model:
        print(f"\n### {kind}\n\n{table(result[kind]['summary'], frontiers[kind])}")
    return 0


def write(args, rows, groups, per_model, frontiers, seconds) -> dict:
    """The results file, rewritten after every setting so a stopped run keeps what it measured."""
    result = {
        "provenance": args.provenance,
        "target_fpr": common.TARGET_FPR,
        "remediated_groups": groups,
        "rows": {k: len(rows[k]["labels"]) for k in ("train", "validation", "test")},
        "fit_seconds": seconds,
    }
    for kind, runs in per_model.items():
        result[kind] = {"summary": summarise(per_model, kind, frontiers[kind]),
                        "frontier": frontiers[kind],
                        "per_seed": {s: {str(k): v for k, v in r.items()}
                                     for s, r in runs.items()}}  # fmt: skip
    path = args.results / "group-blind-study.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=float) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(main())
