"""Find the newest complete pushed model in a serving folder and score texts with it.

The serving folder holds one folder per pushed version, named by an integer (TF Serving's
layout). `components.pusher` copies a model into a hidden temporary folder, renames it to its
version and only then writes `COMPLETE_MARKER` into it, so a version counts as complete when
it has the marker and a `saved_model.pb`. Names starting with '.' are never versions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

from contract import (
    COMPLETE_MARKER,
    DECISION_KEY,
    KNOWN_TOKENS_KEY,
    OPERATING_POINT_FILE,
    PREDICTION_KEY,
    TEXT_KEY,
    load_text_ops,
)

SIGNATURE = "score_text"
DEFAULT_BATCH_SIZE = 256
# Beside a text the model knows no word of: its is_toxic is the served rule's, not the score's.
NO_KNOWN_TOKEN_NOTE = "no word the model knows: served as not toxic"


class ServingError(RuntimeError):
    """No model to serve: a missing serving folder, or no complete version in it."""


def version_folders(serving_dir: str) -> list[tuple[int, str]]:
    """(version, path) of every integer-named folder, complete or not, oldest first."""
    if not os.path.isdir(serving_dir):
        return []
    versions = []
    for name in os.listdir(serving_dir):
        path = os.path.join(serving_dir, name)
        if name.isdigit() and os.path.isdir(path):
            versions.append((int(name), path))
    return sorted(versions)


def read_operating_point(model_dir: str) -> dict | None:
    """The operating point written beside a model by its Trainer (None for older models)."""
    from tfx.dsl.io import fileio

    path = os.path.join(model_dir, OPERATING_POINT_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return json.loads(f.read())


def read_marker(model_dir: str) -> dict:
    """The completion marker the Pusher wrote: the candidate, its blessing, the operating
    point ({} when it is not JSON, as in versions pushed before it was)."""
    try:
        with open(os.path.join(model_dir, COMPLETE_MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def is_complete(model_dir: str) -> bool:
    return os.path.isfile(os.path.join(model_dir, COMPLETE_MARKER)) and os.path.isfile(
        os.path.join(model_dir, "saved_model.pb")
    )


def complete_versions(serving_dir: str) -> list[tuple[int, str]]:
    return [(v, path) for v, path in version_folders(serving_dir) if is_complete(path)]


def latest_model_dir(serving_dir: str) -> str:
    """The highest complete version folder; ServingError says why there is none."""
    if not os.path.isdir(serving_dir):
        raise ServingError(
            f"serving folder not found: {serving_dir} (run the pipeline until a model is "
            "blessed and pushed, or pass --serving-dir)"
        )
    complete = complete_versions(serving_dir)
    if complete:
        return complete[-1][1]
    incomplete = [os.path.basename(p) for _, p in version_folders(serving_dir)]
    detail = (
        f"; version folders without {COMPLETE_MARKER} (incomplete, ignored): "
        + ", ".join(incomplete)
        if incomplete
        else ""
    )
    raise ServingError(f"no complete pushed model in {serving_dir}{detail}")


Scorer = Callable[[Sequence[str]], list[dict]]


def load_scorer(model_dir: str) -> Scorer:
    """A function from texts to {"toxicity": probability, "is_toxic": decision at the model's
    operating point, "known_tokens": how many of its words the vocabulary knows}, via the
    model's score_text signature. Models exported before a field existed lack it."""
    import tensorflow as tf

    load_text_ops()
    loaded = tf.saved_model.load(model_dir)
    if SIGNATURE not in loaded.signatures:
        raise ServingError(
            f"{model_dir} has no {SIGNATURE!r} signature (found: {sorted(loaded.signatures)})"
        )
    signature = loaded.signatures[SIGNATURE]

    def score(texts: Sequence[str]) -> list[dict]:
        if not texts:
            return []
        # Lone surrogates (undecodable bytes in argv) cannot be encoded strictly.
        batch = [t.encode("utf-8", "replace") for t in texts]
        out = signature(**{TEXT_KEY: tf.constant(batch, dtype=tf.string)})
        records = [{PREDICTION_KEY: float(p)} for p in out[PREDICTION_KEY].numpy().reshape(-1)]
        # Each field only where the model exports it: older pushes are still served.
        for key, kind in ((DECISION_KEY, bool), (KNOWN_TOKENS_KEY, int)):
            if key in out:
                for record, value in zip(records, out[key].numpy().reshape(-1), strict=True):
                    record[key] = kind(value)
        return records

    # The signature's variables live as long as `loaded`; keep it reachable from the closure.
    score.model = loaded
    return score


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_lines(stream) -> Iterator[str]:
    """One text per line of a binary stream; invalid UTF-8 becomes U+FFFD, as in Transform."""
    for raw in stream:
        yield raw.rstrip(b"\r\n").decode("utf-8", "replace")


def predict(scorer: Scorer, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE):
    """Yield {"text", "toxicity", "is_toxic", "known_tokens"} records in input order, with a
    "note" where no word of the text is known (its not-toxic is a rule, not a score)."""
    for batch in batched(texts, batch_size):
        for text, scored in zip(batch, scorer(batch), strict=True):
            record = {"text": text, **scored}
            if record.get(KNOWN_TOKENS_KEY) == 0:
                record["note"] = NO_KNOWN_TOKEN_NOTE
            yield record


def to_json_line(record: dict) -> str:
    text = record["text"].encode("utf-8", "replace").decode("utf-8")
    return json.dumps({**record, "text": text}, ensure_ascii=False)
