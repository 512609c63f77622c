"""The sentence encoder in TF ops: its file reader, its masking and its match with the
reference implementation (sentence-transformers' figures, recorded below)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from trainer_modules import sentence_encoder as se  # noqa: E402

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "i", "love", "gay", "people", ".", "hate",
              "##s", "muslim", "not"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoder")
    se.write_folder(se.random_weights(VOCABULARY, seed=3), str(folder))
    return se.load_weights(str(folder))


def test_a_safetensors_file_round_trips(tmp_path):
    tensors = {
        "a.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.ones(4, np.float32),
    }
    se.write_safetensors(tensors, str(tmp_path / "m.safetensors"))
    back = se.read_safetensors(str(tmp_path / "m.safetensors"))
    assert set(back) == set(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(back[name], array)


def test_word_pieces_are_framed_and_cut_to_the_limit(tiny):
    encoder = se.SentenceEncoder(tiny, max_word_pieces=5)
    pieces = encoder.word_pieces(tf.constant(["I love gay people.", "", "hates"])).to_list()
    cls, sep = VOCABULARY.index("[CLS]"), VOCABULARY.index("[SEP]")
    assert pieces[0] == [cls, 4, 5, 6, sep]  # cut to 5 with [CLS] and [SEP]
    assert pieces[1] == [cls, sep]
    assert pieces[2] == [cls, VOCABULARY.index("hate"), VOCABULARY.index("##s"), sep]


def test_an_encoding_does_not_depend_on_the_rest_of_its_batch(tiny):
    encoder = se.SentenceEncoder(tiny)
    alone = encoder(tf.constant(["i love people"])).numpy()
    padded = encoder(tf.constant(["i love people", "i love gay people . not muslim hate"])).numpy()
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-6)
    assert padded.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(padded, axis=1), 1.0, atol=1e-6)
    assert np.abs(padded[0] - padded[1]).max() > 1e-3


def test_a_text_longer_than_the_positions_is_cut_to_them(tiny):
    encoder = se.SentenceEncoder(tiny)
    assert encoder.max_word_pieces == tiny.config["max_position_embeddings"] == 64
    long = " ".join(["love"] * 200)
    pieces = encoder.word_pieces(tf.constant([long])).to_list()[0]
    assert len(pieces) == 64
    assert encoder(tf.constant([long])).numpy().shape == (1, 8)


def test_a_folder_without_its_files_names_them(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(se.EncoderError, match="no vocab.txt, model.safetensors"):
        se.load_weights(str(tmp_path))


# sentence-transformers 6.3 (torch 2.13, CPU) on the packaged all-MiniLM-L6-v2: the first six
# dimensions of each encoding, and its cosine with the first text's.
REFERENCE = {
    "I love gay people.": ([-0.005204, -0.00568, 0.043246, -0.017784, 0.004587, -0.026498], 1.0),
    "Muslims are not terrorists.": (
        [0.036897, 0.032963, -0.044001, -0.003809, -0.023246, -0.033581], 0.012867),
    "": ([-0.118838, 0.048299, -0.002548, -0.011011, 0.051951, 0.010292], 0.206742),
}  # fmt: skip


def test_the_packaged_encoder_matches_the_reference_implementation():
    try:
        weights = se.load_weights(se.SENTENCE_ENCODER)
    except se.EncoderError as error:
        pytest.skip(str(error))
    texts = list(REFERENCE)
    out = se.SentenceEncoder(weights)(tf.constant(texts)).numpy()
    for row, text in zip(out, texts, strict=True):
        first, cosine = REFERENCE[text]
        np.testing.assert_allclose(row[:6], first, atol=2e-6)
        assert row @ out[0] == pytest.approx(cosine, abs=1e-5)


def test_chunks_sorted_by_length_give_each_text_its_own_encoding(tiny):
    encoder = se.SentenceEncoder(tiny)
    rng = np.random.default_rng(0)
    words = VOCABULARY[4:]
    texts = [
        " ".join(rng.choice(words, size=rng.integers(0, 40))) for _ in range(se.CHUNK_ROWS * 2 + 5)
    ]
    together = encoder(tf.constant(texts)).numpy()
    alone = np.concatenate(
        [encoder(tf.constant([t])).numpy() for t in texts[:: se.CHUNK_ROWS // 2]]
    )
    np.testing.assert_allclose(together[:: se.CHUNK_ROWS // 2], alone, atol=1e-5)
    assert together.shape == (len(texts), 8)
