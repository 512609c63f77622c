"""ChallengeEvaluator: every candidate at its served decision on the identity challenge suite.

The suite (ingest/challenge_suite.py, docs/challenge_suite.md) is ingested by an ExampleGen of its
own. This step feeds its examples to the candidate's `serving_default` signature, the one a
deployment calls, so the decision judged is `is_toxic` with the model's own Transform graph,
keyword tags and (post-processed) group thresholds. TFMA cannot judge what the suite asks: a
flip rate over paired comments, and rates per identity term; the figures here are counts and
their Wilson intervals, read by the FairnessGate.

A row's groups are the suite's own labels (what the row is about by construction), not the
model's keyword tags: a term the keyword lists miss is still counted in its group.
"""

import json
import os
import re
from collections import defaultdict

import numpy as np
from tfx import v1 as tfx
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.utils import path_utils

from components.intervals import Rate
from contract import (
    CHALLENGE_CASE_KEY,
    CHALLENGE_GROUP_KEY,
    CHALLENGE_PAIR_KEY,
    CHALLENGE_SOURCE_KEY,
    CHALLENGE_SPLIT,
    CHALLENGE_TERM_KEY,
    DECISION_KEY,
    KNOWN_TOKENS_KEY,
    LABEL_KEY,
    PREDICTION_KEY,
    TEXT_KEY,
    load_text_ops,
)

RESULT_FILE = "challenge.json"
# Raised whenever what the step computes changes, so that a rerun recomputes it instead of
# taking an older result from the cache (the pipeline passes it with the suite's manifest).
METRICS_VERSION = 2
BATCH = 512
# How many flagged non-toxic texts per group the result keeps, to show a person what went wrong.
EXAMPLES_KEPT = 3


class ChallengeResult(Artifact):
    """A candidate's rates on the identity challenge suite (challenge.json)."""

    TYPE_NAME = "components.ChallengeResult"


def _side_spec():
    import tensorflow as tf

    return {
        TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        LABEL_KEY: tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
        CHALLENGE_SOURCE_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        CHALLENGE_GROUP_KEY: tf.io.VarLenFeature(tf.string),
        CHALLENGE_TERM_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        CHALLENGE_PAIR_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        CHALLENGE_CASE_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }


def score_suite(model_dir: str, files: list[str]) -> dict[str, np.ndarray | list]:
    """The suite's rows with the served decision of the model in `model_dir`."""
    import tensorflow as tf

    load_text_ops()
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    columns = defaultdict(list)
    dataset = tf.data.TFRecordDataset(files, compression_type=_compression(files)).batch(BATCH)
    for serialized in dataset:
        side = tf.io.parse_example(serialized, _side_spec())
        out = serve(examples=serialized)
        columns["decision"].append(out[DECISION_KEY].numpy().reshape(-1).astype(bool))
        columns["score"].append(out[PREDICTION_KEY].numpy().reshape(-1))
        if KNOWN_TOKENS_KEY in out:
            columns["known"].append(out[KNOWN_TOKENS_KEY].numpy().reshape(-1))
        groups = tf.sparse.to_dense(side[CHALLENGE_GROUP_KEY], default_value=b"").numpy()
        columns["groups"] += [[g.decode() for g in row if g] for row in groups]
        for key, name in ((TEXT_KEY, "text"), (CHALLENGE_SOURCE_KEY, "source"),
                          (CHALLENGE_TERM_KEY, "term"), (CHALLENGE_CASE_KEY, "case")):  # fmt: skip
            columns[name] += [v.decode("utf-8", "replace") for v in side[key].numpy()]
        columns["label"].append(side[LABEL_KEY].numpy() >= 0.5)
        columns["pair"].append(side[CHALLENGE_PAIR_KEY].numpy())
    rows = {k: (np.concatenate(v) if k in ("decision", "score", "known", "label", "pair") else v)
            for k, v in columns.items()}  # fmt: skip
    for name in ("source", "term", "case"):
        rows[name] = np.asarray(rows.get(name, []), dtype=object)
    return rows


def _compression(files: list[str]) -> str:
    return "GZIP" if files and files[0].endswith(".gz") else ""


def _rate(flags: np.ndarray, mask: np.ndarray) -> Rate:
    return Rate(int((flags & mask).sum()), int(mask.sum()))


def _group_masks(rows, within: np.ndarray) -> dict[str, np.ndarray]:
    names = sorted({g for i in np.flatnonzero(within) for g in rows["groups"][i]})
    return {g: within & np.array([g in gs for gs in rows["groups"]]) for g in names}


def _rates(rows, within: np.ndarray) -> dict:
    """FPR on the non-toxic rows and FNR on the toxic rows of `within`."""
    flagged, toxic = rows["decision"], rows["label"]
    return {
        "fpr": _rate(flagged, within & ~toxic).to_json(),
        "fnr": _rate(~flagged, within & toxic).to_json(),
    }


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _flip(rows, pairs: np.ndarray) -> tuple[Rate, dict[str, Rate]]:
    """The share of Wikipedia comments whose served decision changes when their identity terms
    are swapped (the fuzzed twin), overall and per group of the original comment. Only pairs
    whose words differ count: about half the comments hold no term the swap knew, and a pair
    of identical texts cannot flip (counting them halved the rate)."""
    source, pair = rows["source"], rows["pair"]
    original = {pair[i]: i for i in np.flatnonzero((source == "wiki") & pairs)}
    twin = {pair[i]: i for i in np.flatnonzero((source == "wiki_fuzzed") & pairs)}
    matched = sorted(
        p
        for p in set(original) & set(twin)
        if _words(rows["text"][original[p]]) != _words(rows["text"][twin[p]])
    )
    flips = np.array([rows["decision"][original[p]] != rows["decision"][twin[p]] for p in matched])
    by_group: dict[str, list[bool]] = defaultdict(list)
    for p, flipped in zip(matched, flips, strict=True):
        for group in rows["groups"][original[p]]:
            by_group[group].append(bool(flipped))
    overall = Rate(int(flips.sum()) if len(flips) else 0, len(matched))
    return overall, {g: Rate(sum(v), len(v)) for g, v in sorted(by_group.items())}


def suite_metrics(rows) -> dict:
    """Every rate the gate judges on the suite, as JSON: per source its overall and per-group
    rates, per madlibs term and functional case, the flip rate, and a few flagged texts."""
    n = len(rows["label"])
    source = rows["source"]
    out: dict = {"rows": n, "sources": {}, "groups": {}, "terms": {}, "cases": {}}
    for name in sorted(set(source)):
        within = source == name
        out["sources"][name] = {"rows": int(within.sum()), **_rates(rows, within)}
        out["groups"][name] = {g: _rates(rows, m) for g, m in _group_masks(rows, within).items()}
    for name, key, field in (("madlibs", "terms", "term"), ("functional", "cases", "case")):
        within = source == name
        values = sorted(set(rows[field][within]) - {""})
        out[key][name] = {v: _rates(rows, within & (rows[field] == v)) for v in values}
    overall, by_group = _flip(rows, rows["pair"] >= 0)
    out["flip"] = {
        "overall": overall.to_json(),
        "groups": {g: r.to_json() for g, r in by_group.items()},
    }
    if "known" in rows:
        none_known = rows["known"] == 0
        out["no_known_token"] = {"rows": int(none_known.sum()),
                                 "flagged": int((none_known & rows["decision"]).sum())}  # fmt: skip
    out["flagged_examples"] = _flagged_examples(rows)
    return out


def _flagged_examples(rows) -> dict[str, list[dict]]:
    """Per group, a few non-toxic functional rows the model flags (the plainest evidence)."""
    wrong = (rows["source"] == "functional") & ~rows["label"] & rows["decision"]
    kept: dict[str, list[dict]] = {}
    for i in np.flatnonzero(wrong):
        for group in rows["groups"][i] or ["(no group)"]:
            if len(kept.setdefault(group, [])) < EXAMPLES_KEPT:
                kept[group].append({"text": rows["text"][i], "score": float(rows["score"][i]),
                                    "case": rows["case"][i]})  # fmt: skip
    return kept


def suite_files(examples_uri: str) -> list[str]:
    import tensorflow as tf

    return sorted(tf.io.gfile.glob(os.path.join(examples_uri, "*")))


def evaluate_suite(model_dir: str, files: list[str], manifest: dict | None = None) -> dict:
    metrics = suite_metrics(score_suite(model_dir, files))
    metrics["suite"] = manifest or {}
    return metrics


def write_result(result: dict, directory: str) -> None:
    fileio.makedirs(directory)
    with fileio.open(os.path.join(directory, RESULT_FILE), "w") as f:
        f.write(json.dumps(result, indent=2, sort_keys=True))


def read_result(directory: str) -> dict:
    with fileio.open(os.path.join(directory, RESULT_FILE)) as f:
        return json.loads(f.read())


@component
def ChallengeEvaluator(
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    result: tfx.dsl.components.OutputArtifact[ChallengeResult],
    suite_note: tfx.dsl.components.Parameter[str] = "",
):
    split_uri = artifact_utils.get_split_uri([examples], CHALLENGE_SPLIT)
    manifest = json.loads(suite_note) if suite_note else {}
    metrics = evaluate_suite(
        path_utils.serving_model_path(model.uri), suite_files(split_uri), manifest
    )
    write_result(metrics, result.uri)
    print(
        f"Challenge suite: {metrics['rows']} rows; flip rate {Rate.from_json(metrics['flip']['overall']).text()}"
    )
