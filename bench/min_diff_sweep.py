"""MinDiff sweep on the Gab Hate Corpus, scored on validation only (never the test split).

    .venv/bin/python bench/min_diff_sweep.py [--configs NAME ...] [--seed 1] [--out FILE]

Reproduces the pipeline's data path in numpy: GHC train less its md5-hash tenth is trained on,
that tenth is validation; text normalized as Transform does (lower case, runs of non letters or
digits to one space), the 20,000 most frequent training tokens of the first 100, identity tags
as whole-word keyword matches (contract.IDENTITY_KEYWORDS). The model is the project's own
`model.build_model` with `embeddings.embedding_matrix`, wrapped in MinDiffModel as `min_diff.fit`
did before its single-pass step (the same loss; the `min_diff_pools` rows, target groups = every
group with >= 30 non-toxic training rows), with early stopping on validation AUC
(`early_stopping.BestEpoch`). For each configuration: validation AUC, and at the threshold where
the overall validation FPR is 5%: TPR, each group's FPR and the largest group FPR gap over the
groups with >= 30 non-toxic validation rows; seconds per epoch (median of epochs after the
first). Data from `ingest.shared_data.shared_data_dir()`/gab_hate_corpus.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import csv
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf  # noqa: E402
from tensorflow_model_remediation import min_diff as md  # noqa: E402

import rates  # noqa: E402
from bench.provenance import stamp  # noqa: E402
from contract import IDENTITY_GROUPS, IDENTITY_KEYWORDS, TOKENS_KEY, identity_feature  # noqa: E402
from ingest.shared_data import shared_data_dir  # noqa: E402
from trainer_modules import embeddings, min_diff  # noqa: E402
from trainer_modules import operating_point as op  # noqa: E402
from trainer_modules.datasets import model_inputs  # noqa: E402
from trainer_modules.early_stopping import BestEpoch  # noqa: E402
from trainer_modules.model import build_model, logits_of  # noqa: E402
from trainer_modules.settings import TrainerSettings, TransformSettings  # noqa: E402

MIN_ROWS = 30
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _gaussian(length=0.1):
    return md.losses.GaussianKernel(kernel_length=length)


def _laplacian(length=0.1):
    return md.losses.LaplacianKernel(kernel_length=length)


# name: (weight, loss factory, MMD on logits)
CONFIGS = {
    "w0_control": (0.0, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w0.1_gauss": (0.1, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w0.2_gauss": (0.2, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w0.3_gauss": (0.3, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w0.5_gauss": (0.5, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w1.0_gauss": (1.0, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w1.5_gauss": (1.5, lambda: md.losses.MMDLoss(_gaussian()), False),
    "w1.0_laplace": (1.0, lambda: md.losses.MMDLoss(_laplacian()), False),
    "w1.0_adjusted_gauss": (1.0, lambda: md.losses.AdjustedMMDLoss(_gaussian()), False),
    "w1.0_logits_gauss_l1": (1.0, lambda: md.losses.MMDLoss(_gaussian(1.0)), True),
    "w0.3_logits_gauss_l1": (0.3, lambda: md.losses.MMDLoss(_gaussian(1.0)), True),
    "w1.0_logits_gauss_l2": (1.0, lambda: md.losses.MMDLoss(_gaussian(2.0)), True),
}


def read_tsv(path: Path) -> tuple[list[str], np.ndarray]:
    csv.field_size_limit(2**31 - 1)
    texts, labels = [], []
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        ti, hi, ci = header.index("text"), header.index("hd"), header.index("cv")
        for row in reader:
            if row:
                texts.append(row[ti])
                labels.append(float(float(row[hi]) >= 0.5 or float(row[ci]) >= 0.5))
    return texts, np.asarray(labels, dtype="float32")


def normalize(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def tags(normalized: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for g in IDENTITY_GROUPS:
        pattern = re.compile(" (" + "|".join(sorted(IDENTITY_KEYWORDS[g])) + ") ")
        out[g] = np.array([bool(pattern.search(t)) for t in normalized])
    return out


def load(max_tokens: int, vocab_size: int) -> dict:
    texts, labels = read_tsv(shared_data_dir() / "gab_hate_corpus" / "ghc_train.tsv")
    held = np.array([int(hashlib.md5(t.encode()).hexdigest(), 16) % 10 == 0 for t in texts])
    norm = [normalize(t) for t in texts]
    toks = [t.split()[:max_tokens] for t in norm]
    counts = Counter(w for i, t in enumerate(toks) if not held[i] for w in t)
    vocab = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:vocab_size]]
    index = {w: i + 1 for i, w in enumerate(vocab)}
    ids = np.zeros((len(toks), max_tokens), dtype="int64")
    for r, t in enumerate(toks):
        row = [index.get(w, len(vocab) + 1) for w in t]
        ids[r, : len(row)] = row
    group_tags = tags(norm)

    def part(mask):
        return ids[mask], labels[mask], {g: v[mask] for g, v in group_tags.items()}

    return {"vocab": vocab, "train": part(~held), "val": part(held)}


def figures(scores, labels, groups, target_fpr: float) -> dict:
    threshold = rates.threshold_at_fpr(scores, op.toxic(labels), target_fpr)
    negative = labels < 0.5
    flagged = scores > threshold
    overall = float(flagged[negative].mean())
    group_fpr = {
        g: round(float(flagged[m & negative].mean()), 4)
        for g, m in groups.items()
        if (m & negative).sum() >= MIN_ROWS
    }
    return {
        "auc": round(rates.auc(scores, op.toxic(labels)), 4),
        "fpr": round(overall, 4),
        "tpr": round(float(flagged[~negative].mean()), 4),
        "group_fpr": group_fpr,
        "max_gap": round(max(v - overall for v in group_fpr.values()), 4),
    }


class EpochTimer(tf.keras.callbacks.Callback):
    """Training seconds per epoch; listed before BestEpoch, so its scoring is not counted."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def run_config(name: str, data: dict, settings: TrainerSettings, max_tokens: int) -> dict:
    weight, make_loss, on_logits = CONFIGS[name]
    tr_ids, tr_y, tr_groups = data["train"]
    va_ids, va_y, va_groups = data["val"]
    negative = tr_y < 0.5
    targets = tuple(g for g in IDENTITY_GROUPS if (tr_groups[g] & negative).sum() >= MIN_ROWS)

    tf.keras.utils.set_random_seed(settings.seed)
    vectors = embeddings.embedding_matrix(settings.glove_path, data["vocab"], settings.seed)
    model = build_model(len(data["vocab"]), max_tokens, settings, vectors)
    trained = logits_of(model) if on_logits else model

    features = {TOKENS_KEY: tr_ids}
    features.update({identity_feature(g): tr_groups[g].astype("int64") for g in IDENTITY_GROUPS})
    examples = tf.data.Dataset.from_tensor_slices((features, tr_y.reshape(-1, 1)))
    train = examples.shuffle(len(tr_y), seed=settings.seed).batch(settings.batch_size)
    sensitive, nonsensitive = min_diff.min_diff_pools(train, targets, "all")
    packed = md.keras.utils.input_utils.pack_min_diff_data(
        original_dataset=model_inputs(train),
        sensitive_group_dataset=min_diff._endless(
            sensitive, settings.min_diff_batch_size, settings.seed
        ),
        nonsensitive_group_dataset=min_diff._endless(
            nonsensitive, settings.min_diff_batch_size, settings.seed + 1
        ),
    )
    wrapped = md.keras.MinDiffModel(trained, make_loss(), weight)
    wrapped.compile(
        optimizer=tf.keras.optimizers.Adam(settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=on_logits),
    )
    timer, best = EpochTimer(), BestEpoch(model, va_ids, va_y, settings.patience)
    wrapped.fit(packed, epochs=settings.epochs, callbacks=[timer, best], verbose=0)
    best.restore()
    result = {"config": name, "weight": weight, "logits": on_logits, "targets": list(targets)}
    result.update(figures(best.scores(), va_y, va_groups, settings.target_fpr))
    later = timer.seconds[1:] or timer.seconds
    result.update(
        best_epoch=best.best_epoch,
        val_auc_by_epoch=[round(v, 4) for v in best.history],
        epoch_s=round(float(np.median(later)), 1),
        first_epoch_s=round(timer.seconds[0], 1),
    )
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="append one JSON line per configuration here")
    a = p.parse_args()
    provenance = stamp("bench/min_diff_sweep.py")
    transform = TransformSettings()
    settings = TrainerSettings(seed=a.seed)
    data = load(transform.max_tokens, transform.vocab_size)
    va_y, va_groups = data["val"][1], data["val"][2]
    rows = {g: int((m & (va_y < 0.5)).sum()) for g, m in va_groups.items()}
    print(f"train {len(data['train'][1])} val {len(va_y)}; non-toxic val rows {rows}", flush=True)
    for name in a.configs:
        r = {**run_config(name, data, settings, transform.max_tokens), "provenance": provenance}
        print(json.dumps(r), flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
