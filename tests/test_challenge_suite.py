"""The identity challenge suite (ingest/challenge_suite.py): the hand-written functional suite,
the madlibs and Wikipedia sets from the shared data, and the TFRecord ImportExampleGen reads."""

from __future__ import annotations

import csv
import inspect
import math
import os
import re

import pytest

from contract import (
    CHALLENGE_CASE_KEY,
    CHALLENGE_GROUP_KEY,
    CHALLENGE_PAIR_KEY,
    CHALLENGE_SOURCE_KEY,
    CHALLENGE_TERM_KEY,
    IDENTITY_COLUMNS,
    IDENTITY_GROUPS,
    LABEL_KEY,
    TEXT_KEY,
)
from ingest import challenge_suite as cs
from ingest.keyword_tags import keyword_groups, normalize
from ingest.shared_data import shared_data_dir

FUNCTIONAL = cs.functional_rows()
CASES = ("neutral_identity", "positive_statement", "emoji", "counter_speech", "negated_abuse")
NO_KNOWN_TOKEN = "no_known_token"
FEATURES = {
    TEXT_KEY,
    LABEL_KEY,
    CHALLENGE_SOURCE_KEY,
    CHALLENGE_GROUP_KEY,
    CHALLENGE_TERM_KEY,
    CHALLENGE_PAIR_KEY,
    CHALLENGE_CASE_KEY,
}


@pytest.fixture
def shared_data_or_none():
    """The shared data folder when it holds the Wikipedia sets, else None (the test still runs
    on the hand-written texts)."""
    folder = shared_data_dir()
    return folder if all((folder / n).is_file() for n in (cs.WIKI, cs.WIKI_FUZZED)) else None


def _of(rows, group=None, toxic=None, case=None):
    return [
        r
        for r in rows
        if (group is None or group in r[CHALLENGE_GROUP_KEY])
        and (toxic is None or r[LABEL_KEY] == float(toxic))
        and (case is None or r[CHALLENGE_CASE_KEY] == case)
    ]


@pytest.mark.parametrize("group", IDENTITY_GROUPS)
def test_functional_suite_measures_each_group(group):
    # A group FPR on fewer than 30 rows is not judged (common.MIN_NEGATIVES); FNR needs toxic rows.
    assert len(_of(FUNCTIONAL, group, toxic=0)) >= 30
    assert len(_of(FUNCTIONAL, group, toxic=1)) >= 10
    for case in CASES:
        assert len(_of(FUNCTIONAL, group, toxic=0, case=case)) >= 5, case
    assert _of(FUNCTIONAL, group, toxic=1) == _of(FUNCTIONAL, group, case="toxic")
    terms = {r[CHALLENGE_TERM_KEY] for r in _of(FUNCTIONAL, group)}
    assert len(terms) >= 5, terms


def test_functional_rows_are_well_formed():
    assert 200 <= len(FUNCTIONAL) <= 300
    assert {r[LABEL_KEY] for r in FUNCTIONAL} == {0.0, 1.0}
    assert {r[CHALLENGE_SOURCE_KEY] for r in FUNCTIONAL} == {"functional"}
    assert {r[CHALLENGE_PAIR_KEY] for r in FUNCTIONAL} == {-1}
    assert len({r[TEXT_KEY] for r in FUNCTIONAL}) == len(FUNCTIONAL)
    for r in FUNCTIONAL:
        # The term is one of the row's words, so a per-term report names what the text says.
        if r[CHALLENGE_CASE_KEY] != NO_KNOWN_TOKEN:
            assert f" {r[CHALLENGE_TERM_KEY]} " in normalize(r[TEXT_KEY]), r


def test_english_rows_are_tagged_with_exactly_their_groups():
    # The served decision tags by keyword: a row about a group that Transform does not tag
    # would be measured in the wrong slice.
    for r in FUNCTIONAL:
        if r[CHALLENGE_CASE_KEY] != NO_KNOWN_TOKEN:
            assert r[CHALLENGE_GROUP_KEY], r
            assert keyword_groups(r[TEXT_KEY]) == r[CHALLENGE_GROUP_KEY], r[TEXT_KEY]


def test_no_known_token_rows_hold_no_latin_word():
    rows = _of(FUNCTIONAL, case=NO_KNOWN_TOKEN)
    assert rows and all(r[LABEL_KEY] == 0.0 for r in rows)
    texts = [r[TEXT_KEY] for r in rows]
    assert "" in texts and any(t and not t.strip() for t in texts)
    for text in texts:
        assert not re.search(r"[A-Za-z0-9]", normalize(text)), text
        assert keyword_groups(text) == ()
    # Emoji only, and other scripts that state a group by construction.
    assert any(t and not normalize(t).strip() and t.strip() for t in texts)
    assert {g for r in rows for g in r[CHALLENGE_GROUP_KEY]} == set(IDENTITY_GROUPS)


def test_emoji_rows_hold_emoji():
    for r in _of(FUNCTIONAL, case="emoji"):
        assert any(ord(c) > 0x2000 for c in r[TEXT_KEY]), r[TEXT_KEY]


def test_functional_texts_are_not_in_the_embedded_training_data():
    from ingest.embedded_data import generate, write_dataset

    defaults = inspect.signature(write_dataset).parameters
    seed = defaults["seed"].default
    # write_dataset's train split is seed, its eval split seed + 1.
    embedded = {normalize(t) for t, _, _ in generate(defaults["train_size"].default, seed)}
    embedded |= {normalize(t) for t, _, _ in generate(defaults["eval_size"].default, seed + 1)}
    assert not cs.suite_texts(FUNCTIONAL) & embedded


def test_keyword_twin_matches_transform(shared_data_or_none):
    """ingest.keyword_tags must tag every text as Transform does: the suite's texts, the real
    Wikipedia comments, and the corner cases of Unicode lower-casing and word characters."""
    import tensorflow as tf

    from trainer_modules.preprocessing import keyword_tags, normalize_text

    texts = [r[TEXT_KEY] for r in FUNCTIONAL]
    texts += ["İslam", "ΣΑΣ muslim", "gay_man", "jew's", "Black-owned", "ｇａｙ", "blind\u00a0man"]
    if shared_data_or_none is not None:
        for name in (cs.WIKI, cs.WIKI_FUZZED):
            with open(shared_data_or_none / name, encoding="utf-8", newline="") as f:
                texts += [r["comment"] for r in csv.DictReader(f)]
    normalized = normalize_text(tf.constant(texts))
    assert [t.decode() for t in normalized.numpy()] == [normalize(t) for t in texts]
    tags = {g: v.numpy() for g, v in keyword_tags(normalized).items()}
    for i, text in enumerate(texts):
        assert keyword_groups(text) == tuple(g for g in IDENTITY_GROUPS if tags[g][i]), text


def test_madlibs_terms_and_groups():
    assert cs.madlibs_term("Nithum is a nasty african american") == "african american"
    assert cs.madlibs_term("Being middle aged is vile.") == "middle aged"
    assert cs.madlibs_term("i hate trans") == "trans"
    assert cs.madlibs_term("You are a fun designer") == ""
    with pytest.raises(ValueError, match="several terms"):
        cs.madlibs_term("gay muslim")
    assert cs.term_groups("gay") == ("sexual_orientation",)
    assert cs.term_groups("muslim") == ("religion",)
    assert cs.term_groups("lgbtq") == ("sexual_orientation",)
    assert cs.term_groups("paralyzed") == ("disability",)
    assert cs.term_groups("african american") == ("race",)
    assert cs.term_groups("elderly") == ()


def _madlibs_file(folder, header="Text,Label,Template"):
    path = folder / cs.MADLIBS
    path.parent.mkdir(parents=True)
    lines = [
        "murder gay,BAD,verb_adj",
        "hug lgbt,NOT_BAD,verb_adj",
        "Being old is good.,NOT_BAD,being_adj",
        "You are a fun designer,NOT_BAD,you_occupation",
        "You are a dumb muslim,BAD,you_are_adj",
    ]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_madlibs_alone_with_stride_and_a_note(tmp_path):
    _madlibs_file(tmp_path)
    rows, notes = cs.collect_rows(tmp_path, 4)
    madlibs = [r for r in rows if r[CHALLENGE_SOURCE_KEY] == "madlibs"]
    assert [(r[TEXT_KEY], r[LABEL_KEY], r[CHALLENGE_TERM_KEY]) for r in madlibs] == [
        ("murder gay", 1.0, "gay"),
        ("You are a dumb muslim", 1.0, "muslim"),
    ]
    assert madlibs[1][CHALLENGE_GROUP_KEY] == ("religion",)
    assert madlibs[1][CHALLENGE_CASE_KEY] == "you_are_adj"
    assert len(notes) == 1 and cs.WIKI in notes[0] and "left out" in notes[0]
    assert len(cs.build_rows(tmp_path, madlibs_stride=1)) == len(FUNCTIONAL) + 5


def test_missing_column_is_one_line_naming_the_file(tmp_path):
    _madlibs_file(tmp_path, header="Text,Label,Kind")
    with pytest.raises(ValueError) as error:
        cs.build_rows(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / cs.MADLIBS) in message and "Template" in message
    assert "replace it with the published file" in message


def test_without_shared_data_only_the_functional_suite(tmp_path):
    from ingest.tfrecords import read_examples

    absent = tmp_path / "absent"
    manifest = cs.write_challenge_suite(absent, tmp_path / "suite")
    assert manifest["note"] == f"shared data not found at {absent}: functional suite only"
    assert manifest["sources"] == ["functional"]
    assert manifest["rows"] == {"functional": len(FUNCTIONAL)} and manifest["written"]
    examples = read_examples(str(tmp_path / "suite" / cs.SPLIT_PATTERN))
    assert len(examples) == len(FUNCTIONAL)
    assert set(examples[0].features.feature) == FEATURES
    assert not set(IDENTITY_COLUMNS) & {k for e in examples for k in e.features.feature}


def _parsed(path):
    import tensorflow as tf

    spec = {
        TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
        LABEL_KEY: tf.io.FixedLenFeature([], tf.float32),
        CHALLENGE_SOURCE_KEY: tf.io.FixedLenFeature([], tf.string),
        CHALLENGE_GROUP_KEY: tf.io.VarLenFeature(tf.string),
        CHALLENGE_TERM_KEY: tf.io.FixedLenFeature([], tf.string),
        CHALLENGE_PAIR_KEY: tf.io.FixedLenFeature([], tf.int64),
        CHALLENGE_CASE_KEY: tf.io.FixedLenFeature([], tf.string),
    }
    batch = next(iter(tf.data.TFRecordDataset([str(path)]).batch(100_000)))
    return tf.io.parse_example(batch, spec)


@pytest.mark.realdata
def test_shared_sources(shared_data):
    rows = cs.build_rows(shared_data)
    madlibs = [r for r in rows if r[CHALLENGE_SOURCE_KEY] == "madlibs"]
    assert len(madlibs) == math.ceil(76_564 / cs.DEFAULT_MADLIBS_STRIDE)
    assert {r[CHALLENGE_TERM_KEY] for r in madlibs} == set(cs.MADLIBS_TERMS) | {""}
    for r in madlibs:
        assert bool(r[CHALLENGE_TERM_KEY]) != (r[CHALLENGE_CASE_KEY] == "you_occupation"), r
    by_term = {r[CHALLENGE_TERM_KEY]: r[CHALLENGE_GROUP_KEY] for r in madlibs}
    assert by_term["gay"] == ("sexual_orientation",) and by_term["muslim"] == ("religion",)
    assert by_term["lgbt"] == ("sexual_orientation",) and by_term["teenage"] == ()

    wiki = [r for r in rows if r[CHALLENGE_SOURCE_KEY] == "wiki"]
    fuzzed = {r[CHALLENGE_PAIR_KEY]: r for r in rows if r[CHALLENGE_SOURCE_KEY] == "wiki_fuzzed"}
    assert len(wiki) == len(fuzzed) == 1492 == len({r[CHALLENGE_PAIR_KEY] for r in wiki})
    for r in wiki:
        twin = fuzzed[r[CHALLENGE_PAIR_KEY]]
        assert twin[LABEL_KEY] == r[LABEL_KEY]
        assert twin[CHALLENGE_GROUP_KEY] == r[CHALLENGE_GROUP_KEY] == keyword_groups(r[TEXT_KEY])
    assert sum(r[TEXT_KEY] != fuzzed[r[CHALLENGE_PAIR_KEY]][TEXT_KEY] for r in wiki) > 500
    unpaired = {
        r[CHALLENGE_PAIR_KEY] for r in rows if r[CHALLENGE_SOURCE_KEY] in ("madlibs", "functional")
    }
    assert unpaired == {-1}


@pytest.mark.realdata
def test_written_suite_parses_and_is_not_rewritten(shared_data, tmp_path):
    out = tmp_path / "suite"
    first = cs.write_challenge_suite(shared_data, out)
    record = out / cs.RECORD_FILE
    assert sorted(os.listdir(out)) == [cs.MANIFEST_FILE, cs.RECORD_FILE]
    assert first["written"] and "note" not in first
    assert first["sources"] == ["madlibs", "wiki", "wiki_fuzzed", "functional"]
    assert first["version"] == cs.content_hash(cs.build_rows(shared_data))

    parsed = _parsed(record)
    assert len(parsed[TEXT_KEY]) == first["total"] == sum(first["rows"].values())
    sources = [s.decode() for s in parsed[CHALLENGE_SOURCE_KEY].numpy()]
    assert {s: sources.count(s) for s in set(sources)} == first["rows"]
    assert set(parsed[LABEL_KEY].numpy().tolist()) == {0.0, 1.0}
    groups = {g.decode() for g in parsed[CHALLENGE_GROUP_KEY].values.numpy()}
    assert groups == set(IDENTITY_GROUPS)

    before = record.stat()
    second = cs.write_challenge_suite(shared_data, out)
    after = record.stat()
    assert not second["written"] and second["version"] == first["version"]
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # Same rows, fresh folder: byte-identical file and manifest.
    again = tmp_path / "again"
    cs.write_challenge_suite(shared_data, again)
    for name in (cs.RECORD_FILE, cs.MANIFEST_FILE):
        assert (again / name).read_bytes() == (out / name).read_bytes()

    # A damaged file is rewritten although the manifest's version still matches.
    record.write_bytes(b"")
    assert cs.write_challenge_suite(shared_data, out)["written"]
    assert record.read_bytes() == (again / cs.RECORD_FILE).read_bytes()

    # Another stride is another version.
    assert (
        cs.write_challenge_suite(shared_data, out, madlibs_stride=8)["version"] != first["version"]
    )


def test_example_gen_configs_keep_one_split():
    from pipeline.pipeline import challenge_example_gen_configs

    configs = challenge_example_gen_configs()
    assert [(s.name, s.pattern) for s in configs["input_config"].splits] == [
        (cs.SPLIT, cs.SPLIT_PATTERN)
    ]
    output = configs["output_config"].split_config.splits
    assert [(s.name, s.hash_buckets) for s in output] == [(cs.SPLIT, 1)]
