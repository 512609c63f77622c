"""The identity challenge suite: labelled texts about identity groups that every candidate is
evaluated on, at its served decision, in the same pipeline run (issue 21).

Three parts, as tf.Examples in one TFRecord file that a TFX ImportExampleGen reads as one
split, "challenge" (read by pipeline/pipeline.py's ChallengeExampleGen):

- functional: the hand-written suite in ingest/functional_suite.csv (always present), labelled
  by construction: neutral, positive and emoji identity statements, counter-speech quoting
  abuse, negated abuse, toxic rows per group, and texts with no word the model can know;
- madlibs: every `stride`-th sentence of Dixon et al. 2018's bias_madlibs_77k.csv, with its
  identity term recovered from the text;
- wiki / wiki_fuzzed: the Wikipedia identity test set and its identity-swapped twin, paired.

The last two are read from the shared data folder (ingest/shared_data.py) and are left out,
with a note in the manifest, where it does not hold them. Rows carry the text, the label and
the challenge_* features of contract.py, never the annotated identity columns: the served
decision must tag a row by keyword only, as score_text does in production. None of this is
training data (docs/challenge_suite.md); `suite_texts` lets augmentation check that.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from contract import (
    CHALLENGE_CASE_KEY,
    CHALLENGE_GROUP_KEY,
    CHALLENGE_PAIR_KEY,
    CHALLENGE_PATTERN,
    CHALLENGE_SOURCE_KEY,
    CHALLENGE_SOURCES,
    CHALLENGE_SPLIT,
    CHALLENGE_TERM_KEY,
    IDENTITY_GROUPS,
    IDENTITY_KEYWORDS,
    LABEL_KEY,
    TEXT_KEY,
)
from ingest.keyword_tags import keyword_groups, normalize
from ingest.shared_data import shared_data_dir
from ingest.tfrecords import make_example, write_examples

# What ImportExampleGen reads: input_base=<output_dir>, one split, this pattern. The pattern
# keeps manifest.json and write_examples' temporary files out of the split.
SPLIT = CHALLENGE_SPLIT
RECORD_FILE = "suite.tfrecord"
SPLIT_PATTERN = CHALLENGE_PATTERN
MANIFEST_FILE = "manifest.json"
DEFAULT_MADLIBS_STRIDE = 4

FUNCTIONAL_CSV = Path(__file__).with_name("functional_suite.csv")
MADLIBS = "wiki_toxicity/bias_madlibs_77k.csv"
WIKI = "wiki_toxicity/toxicity_nonfuzzed_testset.csv"
WIKI_FUZZED = "wiki_toxicity/toxicity_fuzzed_testset.csv"

# The 50 identity terms of the madlibs (Dixon et al. 2018; each appears in every template but
# you_occupation, 32 times in being_adj). A row's term is the one it contains as whole words;
# "african american" contains "american", so a term inside a longer match does not count.
MADLIBS_TERMS = (
    "lesbian", "gay", "bisexual", "transgender", "trans", "queer", "lgbt", "lgbtq",
    "homosexual", "straight", "heterosexual", "male", "female", "nonbinary", "african",
    "african american", "black", "white", "european", "hispanic", "latino", "latina", "latinx",
    "mexican", "canadian", "american", "asian", "indian", "middle eastern", "chinese",
    "japanese", "christian", "muslim", "jewish", "buddhist", "catholic", "protestant", "sikh",
    "taoist", "old", "older", "young", "younger", "teenage", "millenial", "middle aged",
    "elderly", "blind", "deaf", "paralyzed",
)  # fmt: skip
# Madlibs terms in no keyword list of contract.py, filed by hand. Transform does not tag them,
# so on these rows the served decision sees no group: the suite says which group they are.
EXTRA_TERM_GROUPS = {
    "lgbt": "sexual_orientation",
    "lgbtq": "sexual_orientation",
    "paralyzed": "disability",
}
# Age is no protected group of this pipeline: these rows are reported per term only.
NO_GROUP_TERMS = frozenset(
    {"old", "older", "young", "younger", "teenage", "millenial", "middle aged", "elderly"}
)
# "You are a <adjective> <occupation>": no identity term by design (a background template).
TERMLESS_TEMPLATES = frozenset({"you_occupation"})

_KEYWORD_GROUP = {k: g for g, keywords in IDENTITY_KEYWORDS.items() for k in keywords}


def term_groups(term: str) -> tuple[str, ...]:
    """The identity group of a term as a 0- or 1-tuple; KeyError for a term never filed."""
    if term in NO_GROUP_TERMS:
        return ()
    return (_KEYWORD_GROUP.get(term) or EXTRA_TERM_GROUPS[term],)


# Every madlibs term is filed exactly once, so no term silently ends up without a group.
assert all(
    (t in NO_GROUP_TERMS) + (t in _KEYWORD_GROUP) + (t in EXTRA_TERM_GROUPS) == 1
    for t in MADLIBS_TERMS
)


def _row(text, label, source, groups=(), term="", pair=-1, case=None) -> dict:
    return {
        TEXT_KEY: text,
        LABEL_KEY: float(label),
        CHALLENGE_SOURCE_KEY: source,
        CHALLENGE_GROUP_KEY: tuple(groups),
        CHALLENGE_TERM_KEY: term,
        CHALLENGE_PAIR_KEY: int(pair),
        CHALLENGE_CASE_KEY: case or source,
    }


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {', '.join(missing)} (has {reader.fieldnames}); "
                f"replace it with the published file (see the README beside it) or move it away"
            )
        return list(reader)


def _label(path: Path, line: int, value: str, labels: dict[str, int]) -> int:
    if value not in labels:
        raise ValueError(f"{path}, row {line}: label {value!r} is none of {sorted(labels)}")
    return labels[value]


def functional_rows(path: Path = FUNCTIONAL_CSV) -> list[dict]:
    """The hand-written functional suite, labelled and grouped by construction."""
    rows = []
    for line, r in enumerate(_read_csv(path, ("text", "toxic", "groups", "term", "case")), 2):
        groups = tuple(r["groups"].split())
        if not set(groups) <= set(IDENTITY_GROUPS):
            raise ValueError(f"{path}, row {line}: unknown group in {r['groups']!r}")
        toxic = _label(path, line, r["toxic"], {"0": 0, "1": 1})
        rows.append(_row(r["text"], toxic, "functional", groups, r["term"], case=r["case"]))
    return rows


def madlibs_term(text: str) -> str:
    """The madlibs identity term a sentence contains ("" for none); ValueError for several."""
    normalized = normalize(text)
    found = [t for t in MADLIBS_TERMS if f" {t} " in normalized]
    found = [t for t in found if not any(t != u and f" {t} " in f" {u} " for u in found)]
    if len(found) > 1:
        raise ValueError(f"madlibs sentence {text!r} holds several terms: {found}")
    return found[0] if found else ""


def madlibs_rows(path: Path, stride: int = DEFAULT_MADLIBS_STRIDE) -> list[dict]:
    """Every `stride`-th madlibs sentence (label from its template: BAD = 1), with its term."""
    if stride < 1:
        raise ValueError(f"madlibs stride must be at least 1, not {stride}")
    rows = []
    table = _read_csv(path, ("Text", "Label", "Template"))
    for line, r in list(enumerate(table, 2))[::stride]:
        term = madlibs_term(r["Text"])
        if not term and r["Template"] not in TERMLESS_TEMPLATES:
            raise ValueError(f"{path}, row {line}: no identity term in {r['Text']!r}")
        label = _label(path, line, r["Label"], {"BAD": 1, "NOT_BAD": 0})
        groups = term_groups(term) if term else ()
        rows.append(_row(r["Text"], label, "madlibs", groups, term, case=r["Template"]))
    return rows


def wiki_rows(original_path: Path, fuzzed_path: Path) -> list[dict]:
    """The Wikipedia identity test set ("wiki") then its fuzzed twin ("wiki_fuzzed"), paired by
    rev_id. Both rows of a pair carry the groups Transform's keywords find in the original, so
    a pair is compared within the same slices."""
    tables = [_read_csv(p, ("rev_id", "comment", "toxic")) for p in (original_path, fuzzed_path)]
    original, fuzzed = tables
    ids = [[r["rev_id"] for r in table] for table in tables]
    if ids[0] != ids[1]:
        raise ValueError(f"{original_path} and {fuzzed_path} do not list the same rev_ids in order")
    if len(set(ids[0])) != len(ids[0]):
        raise ValueError(f"{original_path}: a rev_id repeats, so it cannot pair the twins")
    labels = {"True": 1, "False": 0}
    wiki, twins = [], []
    for line, (a, b) in enumerate(zip(original, fuzzed, strict=True), 2):
        label = _label(original_path, line, a["toxic"], labels)
        if _label(fuzzed_path, line, b["toxic"], labels) != label:
            raise ValueError(f"{fuzzed_path}, row {line}: label differs from {original_path}")
        groups, pair = keyword_groups(a["comment"]), int(a["rev_id"])
        wiki.append(_row(a["comment"], label, "wiki", groups, pair=pair))
        twins.append(_row(b["comment"], label, "wiki_fuzzed", groups, pair=pair))
    return wiki + twins


def collect_rows(
    data_dir: str | os.PathLike | None, stride: int = DEFAULT_MADLIBS_STRIDE
) -> tuple[list[dict], list[str]]:
    """build_rows' rows, and notes on the shared sources left out (for the manifest)."""
    folder = Path(data_dir) if data_dir is not None else shared_data_dir()
    rows, notes = functional_rows(), []
    present = {name: (folder / name).is_file() for name in (MADLIBS, WIKI, WIKI_FUZZED)}
    if not any(present.values()):
        return rows, [f"shared data not found at {folder}: functional suite only"]
    if present[MADLIBS]:
        rows += madlibs_rows(folder / MADLIBS, stride)
    if present[WIKI] and present[WIKI_FUZZED]:
        rows += wiki_rows(folder / WIKI, folder / WIKI_FUZZED)
    missing = [name for name, here in present.items() if not here]
    if missing:
        notes.append(f"{', '.join(missing)} not found in {folder}: left out of the suite")
    return rows, notes


def build_rows(
    data_dir: str | os.PathLike | None = None, madlibs_stride: int = DEFAULT_MADLIBS_STRIDE
) -> list[dict]:
    """The suite's rows, keyed by feature name (contract.py): the functional suite always, the
    madlibs and Wikipedia sets when `data_dir` (default: the shared data folder) holds them."""
    return collect_rows(data_dir, madlibs_stride)[0]


def suite_texts(rows: list[dict]) -> frozenset[str]:
    """The rows' texts as Transform normalizes them: a training or augmentation set must hold
    none of them (a madlibs template is shared beyond its sentences: see madlibs_templates)."""
    return frozenset(normalize(r[TEXT_KEY]) for r in rows)


def madlibs_templates(rows: list[dict]) -> frozenset[str]:
    """The madlibs templates the suite samples: augmentation from the madlibs must use others,
    as the other sentences of a template differ from the suite's by one word."""
    return frozenset(r[CHALLENGE_CASE_KEY] for r in rows if r[CHALLENGE_SOURCE_KEY] == "madlibs")


def content_hash(rows: list[dict]) -> str:
    """sha256 of the rows as canonical JSON lines: the suite's version."""
    digest = hashlib.sha256()
    for row in rows:
        line = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def summary(rows: list[dict]) -> dict:
    """Rows per source; per source and group, non-toxic and toxic rows; rows per term."""
    per_source = Counter(r[CHALLENGE_SOURCE_KEY] for r in rows)
    groups: dict[str, dict[str, dict[str, int]]] = {}
    terms: dict[str, Counter] = {}
    for r in rows:
        source = r[CHALLENGE_SOURCE_KEY]
        kind = "toxic" if r[LABEL_KEY] >= 0.5 else "non_toxic"
        for g in r[CHALLENGE_GROUP_KEY] or ("none",):
            counts = groups.setdefault(source, {}).setdefault(g, {"non_toxic": 0, "toxic": 0})
            counts[kind] += 1
        if r[CHALLENGE_TERM_KEY]:
            terms.setdefault(source, Counter())[r[CHALLENGE_TERM_KEY]] += 1
    order = {g: i for i, g in enumerate((*IDENTITY_GROUPS, "none"))}
    return {
        "rows": {s: per_source[s] for s in CHALLENGE_SOURCES if per_source[s]},
        "groups": {
            s: dict(sorted(groups[s].items(), key=lambda kv: order[kv[0]]))
            for s in CHALLENGE_SOURCES
            if s in groups
        },
        "terms": {s: dict(sorted(terms[s].items())) for s in CHALLENGE_SOURCES if s in terms},
    }


class _Deterministic:
    """An Example whose serialization is byte-stable: Features is a protobuf map, which upb
    serializes in hash-table order unless asked for deterministic output, and the file must be
    byte-identical for the same rows (write_examples calls SerializeToString())."""

    def __init__(self, example):
        self.example = example

    def SerializeToString(self) -> bytes:  # noqa: N802 (the protobuf method's name)
        return self.example.SerializeToString(deterministic=True)


def to_example(row: dict):
    """A tf.Example of a row: text and label as make_example writes them, plus the challenge
    features (no identity columns: the served decision tags rows by keyword only)."""
    example = make_example(row[TEXT_KEY], row[LABEL_KEY])
    feature = example.features.feature
    feature[CHALLENGE_SOURCE_KEY].bytes_list.value.append(row[CHALLENGE_SOURCE_KEY].encode())
    feature[CHALLENGE_GROUP_KEY].bytes_list.value.extend(
        g.encode() for g in row[CHALLENGE_GROUP_KEY]
    )
    feature[CHALLENGE_TERM_KEY].bytes_list.value.append(row[CHALLENGE_TERM_KEY].encode())
    feature[CHALLENGE_PAIR_KEY].int64_list.value.append(row[CHALLENGE_PAIR_KEY])
    feature[CHALLENGE_CASE_KEY].bytes_list.value.append(row[CHALLENGE_CASE_KEY].encode())
    return example


def _file_sha256(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_challenge_suite(
    data_dir: str | os.PathLike | None,
    output_dir: str | os.PathLike,
    madlibs_stride: int = DEFAULT_MADLIBS_STRIDE,
) -> dict:
    """Write `output_dir`/suite.tfrecord and `output_dir`/manifest.json; return the manifest
    plus "written": whether the TFRecord file was (re)written.

    Idempotent: when the manifest already records the same content hash and the file on disk
    is the one it records, the file is left alone (same path, size and mtime), so the fingerprint
    ImportExampleGen takes of its input, and with it TFX's cache, stays valid. Each file is
    written to a temporary name and renamed; the manifest goes last, so a run cut short in
    between leaves a manifest that does not match and the next call writes again.
    """
    rows, notes = collect_rows(data_dir, madlibs_stride)
    output_dir = os.fspath(output_dir)
    record_path = os.path.join(output_dir, RECORD_FILE)
    manifest_path = os.path.join(output_dir, MANIFEST_FILE)
    version = content_hash(rows)
    old = _read_manifest(manifest_path) or {}
    on_disk = _file_sha256(record_path)
    written = not (old.get("version") == version and on_disk == old.get("record_sha256"))
    if written:
        write_examples(record_path, (_Deterministic(to_example(r)) for r in rows))
        on_disk = _file_sha256(record_path)
    counts = summary(rows)
    manifest = {
        "suite": "identity_challenge",
        "version": version,
        "split": SPLIT,
        "file": RECORD_FILE,
        "pattern": SPLIT_PATTERN,
        "madlibs_stride": madlibs_stride,
        "sources": list(counts["rows"]),
        "total": len(rows),
        **counts,
        "record_sha256": on_disk,
    }
    if notes:
        manifest["note"] = "; ".join(notes)
    if manifest != old:
        os.makedirs(output_dir, exist_ok=True)
        tmp = f"{manifest_path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, manifest_path)
    return {**manifest, "written": written}


def add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="folder for suite.tfrecord")
    parser.add_argument(
        "--data",
        default=None,
        help="shared data folder (default: $FAIR_TOXICITY_DATA or ../shared/data)",
    )
    parser.add_argument("--madlibs-stride", type=int, default=DEFAULT_MADLIBS_STRIDE)


def write_suite_command(args: argparse.Namespace) -> int:
    manifest = write_challenge_suite(args.data, args.output, args.madlibs_stride)
    print(json.dumps(manifest, indent=1, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the identity challenge suite.")
    add_suite_arguments(parser)
    return write_suite_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
