"""Write and read Civil-Comments-style tf.Example records."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from contract import IDENTITY_COLUMNS, LABEL_KEY, TEXT_KEY


def make_example(text: str, toxicity: float, identities: Mapping[str, Sequence[str]] | None = None):
    """One tf.Example: text as bytes, label as float, identity columns as string lists."""
    import tensorflow as tf

    feature = {
        TEXT_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])),
        LABEL_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[float(toxicity)])),
    }
    for column in IDENTITY_COLUMNS:
        values = (identities or {}).get(column)
        if values is not None:
            feature[column] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values])
            )
    return tf.train.Example(features=tf.train.Features(feature=feature))


def write_examples(path: str, examples: Iterable) -> int:
    """Write tf.Examples to one TFRecord file atomically; returns the count."""
    import tensorflow as tf

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
            count += 1
    os.replace(tmp, path)
    return count


def read_examples(pattern: str) -> list:
    """Parse every record of the files matching a glob into tf.Examples (for tests and tools)."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    out = []
    for record in tf.data.TFRecordDataset(files):
        out.append(tf.train.Example.FromString(record.numpy()))
    return out
