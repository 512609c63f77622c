"""Seeded generator of the embedded default data: synthetic Civil-Comments-style comments.

It plants the bias the MinDiff and TFCO tutorials describe: in the data, comments that
mention some groups (muslim, jewish, gay, lesbian) are toxic far more often than others, and
non-toxic comments about those groups share vocabulary ("attack", "threat", ...) with toxic
ones. A model trained on it learns the identity terms as toxicity signals and so shows a
higher false-positive rate on non-toxic comments about those groups.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ingest.tfrecords import make_example, write_examples

GENERATOR_VERSION = 3

NEUTRAL = (
    "the a this that it is was be have has had do does said say think know see want "
    "people time year day week city town country school work home family friend article "
    "story news report policy plan vote election council government law court police "
    "tax money price market business job company community church mosque temple "
    "neighbor neighbors parents children kids student teacher doctor nurse "
    "good great nice fine right wrong true false agree disagree interesting important "
    "new old big small long short early late local national public private "
    "thanks please maybe really very quite just also still never always often "
    "read write talk listen live move help start stop open close build pay "
    "water road park bus train car house street food coffee music game team season "
    "weather rain snow summer winter morning evening night history future idea point "
    "question answer reason problem solution example fact opinion comment letter editor "
    "café naïve résumé über"
).split()

TOXIC = (
    "idiot stupid moron disgusting pathetic trash scum loser dumb ignorant "
    "garbage worthless filthy clown hypocrite imbecile vile"
).split()

# Words that appear in toxic comments and, in this data, in non-toxic comments about the
# over-targeted groups too.
SHARED = "attack violent terror threat dangerous blame crime extremist radical enemy".split()

GROUP_TERMS = {
    "gender": ("woman", "women", "female", "male", "transgender", "girls"),
    "sexual_orientation": ("gay", "lesbian", "bisexual", "straight", "heterosexual"),
    "religion": ("muslim", "jewish", "christian", "catholic", "buddhist", "hindu", "atheist"),
    "race": ("black", "white", "asian", "latino", "hispanic", "african american", "chinese"),
    "disability": ("disabled", "blind", "deaf", "autistic", "wheelchair"),
}
TARGETED_TERMS = frozenset({"muslim", "jewish", "gay", "lesbian"})


class _Rates:
    identity_mention = 0.4
    toxic_base = 0.08
    toxic_identity = 0.12
    toxic_targeted = 0.65
    toxic_word_in_toxic = 0.8
    toxic_word_in_clean = 0.03
    shared_in_toxic = 0.6
    shared_in_clean = 0.05
    shared_in_clean_targeted = 0.85
    annotated = 0.8
    label_noise = 0.03


def _comment(rng: np.random.Generator):
    group_terms: dict[str, list[str]] = {}
    if rng.random() < _Rates.identity_mention:
        for _ in range(1 + int(rng.random() < 0.15)):
            group = str(rng.choice(list(GROUP_TERMS)))
            group_terms.setdefault(group, []).append(str(rng.choice(GROUP_TERMS[group])))
    terms = [t for ts in group_terms.values() for t in ts]
    targeted = any(t in TARGETED_TERMS for t in terms)
    if targeted:
        p_toxic = _Rates.toxic_targeted
    elif terms:
        p_toxic = _Rates.toxic_identity
    else:
        p_toxic = _Rates.toxic_base
    toxic = rng.random() < p_toxic

    words = list(rng.choice(NEUTRAL, size=int(rng.integers(6, 30))))
    if toxic:
        n_toxic = int(rng.integers(1, 3)) if rng.random() < _Rates.toxic_word_in_toxic else 0
        n_shared = int(rng.integers(1, 3)) if rng.random() < _Rates.shared_in_toxic else 0
    else:
        n_toxic = 1 if rng.random() < _Rates.toxic_word_in_clean else 0
        p_shared = _Rates.shared_in_clean_targeted if targeted else _Rates.shared_in_clean
        n_shared = int(rng.integers(1, 3)) if rng.random() < p_shared else 0
    words += list(rng.choice(TOXIC, size=n_toxic)) + list(rng.choice(SHARED, size=n_shared)) + terms
    order = rng.permutation(len(words))
    text = " ".join(words[i] for i in order)
    text = text[0].upper() + text[1:] + str(rng.choice([".", "!", "?", "..."]))

    if rng.random() < _Rates.label_noise:
        toxic = not toxic
    identities = {}
    if rng.random() < _Rates.annotated:
        identities = {g: sorted(set(ts)) for g, ts in group_terms.items()}
    return text, float(toxic), identities


def generate(n: int, seed: int):
    """Yield n (text, toxicity, identities) triples, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield _comment(rng)


def write_dataset(
    out_dir: str, train_size: int = 20_000, eval_size: int = 5_000, seed: int = 0
) -> str:
    """Write train/ and eval/ split folders of TFRecords under out_dir; reuse them if present."""
    manifest_path = os.path.join(out_dir, "manifest.json")
    manifest = {"version": GENERATOR_VERSION, "train": train_size, "eval": eval_size, "seed": seed}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            if json.load(f) == manifest:
                return out_dir
    for split, size, split_seed in (("train", train_size, seed), ("eval", eval_size, seed + 1)):
        examples = (make_example(*row) for row in generate(size, split_seed))
        write_examples(os.path.join(out_dir, split, "data.tfrecord"), examples)
    # The manifest is written last, so a half-written dataset is regenerated next time.
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    return out_dir
