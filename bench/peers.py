"""Scikit-learn peers for the Keras text classifier: TF-IDF n-grams + logistic regression.

    .venv/bin/python bench/peers.py [--all-train]

A Keras model is only worth its cost if it is not below these on the same rows, so a model
benchmark fits them beside it. `__main__` prints their test AUC on the Gab Hate Corpus, fitted
on train less the hash-held-out tenth that the Keras runs use for early stopping.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

GHC = Path(__file__).resolve().parents[2] / "shared" / "data" / "gab_hate_corpus"
# Same normalisation as trainer_modules.preprocessing.normalize_text, so the word peer sees
# the tokens the Keras model sees ([\W_] is Python's spelling of [^\pL\pN]).
_NON_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def _word_vectorizer() -> TfidfVectorizer:
    # Sublinear tf and min_df=2: the usual strong setting for short posts.
    return TfidfVectorizer(
        preprocessor=normalize,
        token_pattern=r"\S+",
        ngram_range=(1, 2),
        min_df=2,
        sublinear_tf=True,
    )


def _char_vectorizer() -> TfidfVectorizer:
    # char_wb n-grams catch spelling variants and slurs split or glued to other words.
    return TfidfVectorizer(
        preprocessor=normalize, analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
    )


def _fit_lr(x_train, y_train, x_eval, c: float) -> np.ndarray:
    # The peers' C values were picked on the validation tenth of GHC (word 2.0, word+char 0.5).
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
    model.fit(x_train, y_train)
    return model.predict_proba(x_eval)[:, 1]


def word_peer(train_texts, train_labels, eval_texts, c: float = 2.0) -> np.ndarray:
    """P(toxic) for eval_texts from word 1-2 gram TF-IDF + logistic regression."""
    words = _word_vectorizer()
    x_train = words.fit_transform(train_texts)
    return _fit_lr(x_train, np.asarray(train_labels), words.transform(eval_texts), c)


def word_char_features(train_texts, *other_texts) -> list:
    """Word 1-2 + char_wb 2-5 gram TF-IDF rows (CSR) of train_texts, which the vectorizers are
    fitted on, then of each list in other_texts."""
    words, chars = _word_vectorizer(), _char_vectorizer()
    out = [sparse.hstack([words.fit_transform(train_texts), chars.fit_transform(train_texts)])]
    out += [sparse.hstack([words.transform(t), chars.transform(t)]) for t in other_texts]
    return [x.tocsr() for x in out]


def word_char_peer(train_texts, train_labels, eval_texts, c: float = 0.5) -> np.ndarray:
    """P(toxic) for eval_texts from word 1-2 + char_wb 2-5 gram TF-IDF + logistic regression."""
    x_train, x_eval = word_char_features(train_texts, eval_texts)
    return _fit_lr(x_train, np.asarray(train_labels), x_eval, c)


def is_validation(text: str) -> bool:
    """The deterministic tenth of train held out for early stopping (md5 of the text)."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % 10 == 0


def read_ghc(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels (toxic = hd or cv) of a Gab Hate Corpus TSV."""
    csv.field_size_limit(2**31 - 1)
    texts, labels = [], []
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t")
        for row in rows:
            texts.append(row["text"])
            labels.append(int(float(row["hd"]) >= 0.5 or float(row["cv"]) >= 0.5))
    return texts, np.asarray(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=GHC)
    parser.add_argument("--all-train", action="store_true", help="keep the validation tenth")
    args = parser.parse_args()

    train_texts, train_labels = read_ghc(args.data / "ghc_train.tsv")
    test_texts, test_labels = read_ghc(args.data / "ghc_test.tsv")
    if not args.all_train:
        keep = [not is_validation(t) for t in train_texts]
        train_texts = [t for t, k in zip(train_texts, keep, strict=True) if k]
        train_labels = train_labels[np.asarray(keep)]
    print(f"train rows {len(train_texts)}, test rows {len(test_texts)}")
    for name, peer in (
        ("word 1-2 + LR", word_peer),
        ("word 1-2 + char_wb 2-5 + LR", word_char_peer),
    ):
        auc = roc_auc_score(test_labels, peer(train_texts, train_labels, test_texts))
        print(f"{name}: test AUC {auc:.4f}")


if __name__ == "__main__":
    main()
