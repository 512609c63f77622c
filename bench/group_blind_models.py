"""The models of bench/group_blind_study.py, each fitted with per-row weights: the linear ones
(the TF-IDF peer, logistic regression on sentence embeddings made outside the harness) and the
Keras ones (the pipeline's model, the Conv1D GloVe model), and the rows re-tokenized with
another vocabulary size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import peers
from contract import TOKENS_KEY

# The logistic regressions (one deterministic fit each) and their C: the peer's own, and for
# the encoder models the best control validation AUC over 0.1, 0.5, 2, 8, 32.
LINEAR_C = {"peer": 0.5, "minilm": 2.0, "minilm_tfidf": 0.5}


def peer_scores(rows: dict, weights: np.ndarray, features: list, c: float):
    from sklearn.linear_model import LogisticRegression

    x_train, x_val, x_test = features
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
    model.fit(x_train, rows["train"]["labels"], sample_weight=weights)
    return model.predict_proba(x_val)[:, 1], model.predict_proba(x_test)[:, 1]


def linear_features(kind: str, rows: dict, folder: Path | None) -> list:
    """Train, validation, test features of the peer (TF-IDF), `minilm` (the embeddings in
    folder) or `minilm_tfidf` (both side by side; each block's rows have unit norm)."""
    from scipy import sparse

    splits = ("train", "validation", "test")
    if kind != "minilm":
        tfidf = peers.word_char_features(*(rows[k]["texts"] for k in splits))
    if kind == "peer":
        return tfidf
    if folder is None:
        raise SystemExit(f"--models {kind} needs --embeddings FOLDER (see docs/benchmarks.md)")
    out = [np.load(folder / f"{k}-minilm.npy") for k in splits]
    for k, x in zip(splits, out, strict=True):
        if len(x) != len(rows[k]["labels"]):
            raise SystemExit(f"{folder / k}-minilm.npy: {len(x)} rows, the study's {k} split has "
                             f"{len(rows[k]['labels'])}; re-encode the texts load_rows gives")  # fmt: skip
    if kind == "minilm":
        return out
    return [sparse.hstack(pair).tocsr() for pair in zip(out, tfidf, strict=True)]


def conv_model(vectors: np.ndarray, max_tokens: int, seed: int):
    """The Conv1D GloVe model of docs/benchmarks.md ("Next: a stronger model"), on the
    pipeline's tokens: filters of widths 1, 2, 3 x 64, global max pooling."""
    import tensorflow as tf

    layers = tf.keras.layers
    tokens = tf.keras.Input(shape=(max_tokens,), dtype=tf.int64, name=TOKENS_KEY)
    init = tf.keras.initializers.Constant(vectors)
    x = layers.Embedding(vectors.shape[0], vectors.shape[1], embeddings_initializer=init)(tokens)
    x = layers.SpatialDropout1D(0.2, seed=seed)(x)
    x = layers.Concatenate()([layers.GlobalMaxPooling1D()(
        layers.Conv1D(64, k, activation="relu", padding="same")(x)) for k in (1, 2, 3)])  # fmt: skip
    x = layers.Dense(64, activation="relu")(layers.Dropout(0.3, seed=seed)(x))
    probability = layers.Activation("sigmoid")(layers.Dense(1, name="logits")(x))
    return tf.keras.Model(tokens, probability)


def keras_scores(rows: dict, weights: np.ndarray, seed: int, kind: str):
    """(validation, test) scores of the pipeline's model (`keras`; the baseline trainer's loss,
    epochs and early stopping) or the Conv1D model (`conv`: lr 2e-3, at most 12 epochs,
    patience 3), fitted with per-row weights."""
    import tensorflow as tf

    from trainer_modules import embeddings
    from trainer_modules.early_stopping import BestEpoch
    from trainer_modules.model import build_model
    from trainer_modules.settings import TrainerSettings

    settings = TrainerSettings(seed=seed)
    if kind.startswith("conv"):
        settings = TrainerSettings(seed=seed, learning_rate=2e-3, epochs=12, patience=3)
    tf.keras.utils.set_random_seed(seed)
    vocab = rows["vocabulary"]
    train, val, test = rows["train"], rows["validation"], rows["test"]
    vectors = embeddings.embedding_matrix(settings.glove_path, vocab, seed)
    max_tokens = train["tokens"].shape[1]
    if kind.startswith("conv"):
        model = conv_model(vectors, max_tokens, seed)
    else:
        model = build_model(len(vocab), max_tokens, settings, vectors)
    model.compile(optimizer=tf.keras.optimizers.Adam(settings.learning_rate),
                  loss=tf.keras.losses.BinaryCrossentropy())  # fmt: skip
    best = BestEpoch(model, val["tokens"], val["labels"], settings.patience)
    model.fit(train["tokens"], train["labels"].astype("float32"), sample_weight=weights,
              batch_size=settings.batch_size, epochs=settings.epochs, callbacks=[best],
              shuffle=True, verbose=0)  # fmt: skip
    best.restore()
    test_scores = model.predict(test["tokens"], batch_size=1024, verbose=0).reshape(-1)
    return best.scores(), test_scores


def with_vocabulary(rows: dict, size: int) -> dict:
    """The rows re-tokenized as Transform does (`preprocessing_fn`: normalized words, the first
    100, a vocabulary of the `size` most frequent over the train files, ids from 1, one
    out-of-vocabulary id), with a vocabulary of another size."""
    from collections import Counter

    def words(text: str) -> list[str]:
        return peers.normalize(text).split()[: rows["train"]["tokens"].shape[1]]

    counts = Counter(w for k in ("train", "validation") for t in rows[k]["texts"] for w in words(t))
    vocabulary = [w for _, w in sorted(((n, w) for w, n in counts.items()), reverse=True)[:size]]
    ids = {w: i + 1 for i, w in enumerate(vocabulary)}
    out = {"vocabulary": [w.encode() for w in vocabulary]}
    for k in ("train", "validation", "test"):
        tokens = np.zeros_like(rows[k]["tokens"])
        for i, text in enumerate(rows[k]["texts"]):
            row = [ids.get(w, size + 1) for w in words(text)]
            tokens[i, : len(row)] = row
        out[k] = {**rows[k], "tokens": tokens}
    return out
