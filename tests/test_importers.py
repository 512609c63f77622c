import argparse
from pathlib import Path

import pytest

from ingest.importers import (
    DatasetImportError,
    ImportReport,
    import_civil_comments,
    import_generic,
    import_wiki_toxicity,
)
from ingest.shared_data import ENV_VAR, shared_data_dir
from ingest.tfrecords import read_examples
from runners.imports import add_import_arguments, run_import

# These files skip rows on purpose; the default share of 1% would refuse them.
ANY_LOSS = {"max_skipped_share": 1.0}


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def _rows(out: Path) -> list[dict]:
    rows = []
    for example in read_examples(str(out)):
        feature = example.features.feature
        row = {}
        for key, value in feature.items():
            if value.HasField("float_list"):
                row[key] = list(value.float_list.value)
            else:
                row[key] = [v.decode("utf-8") for v in value.bytes_list.value]
        rows.append(row)
    return rows


def _texts_labels(out: Path) -> list[tuple[str, float]]:
    return [(r["comment_text"][0], r["toxicity"][0]) for r in _rows(out)]


CIVIL_CSV = (
    "id,comment_text,toxicity,gender,sexual_orientation,religion,race,disability\n"
    "1,fine comment,0.3,[],[],['christian'],[],[]\n"
    "2,nasty comment,0.7,\"['female', 'male']\",[],\"['muslim', 'jewish']\",['black'],[]\n"
    "3,borderline,0.5,[],['gay'],[],[],\"[]\"\n"
    "4,broken list,0.9,[],[],\"['christian'\",[],[]\n"
    "5,not a list,0.1,[],[],'christian',[],[]\n"
    "6,out of range,1.5,[],[],[],[],[]\n"
    "7,empty identity cell,0.0,,[],[],[],[]\n"
)


def test_civil_comments_binarizes_and_parses_identity_lists(tmp_path):
    src = _write(tmp_path / "civil.csv", CIVIL_CSV)
    out = tmp_path / "out" / "train" / "data.tfrecord"

    report = import_civil_comments(str(src), str(out), **ANY_LOSS)

    assert report.written == 4
    assert report.positives == 2
    assert [line for line, _ in report.skipped] == [5, 6, 7]
    assert "malformed religion list" in report.skipped[0][1]
    assert "not a list of strings" in report.skipped[1][1]
    assert "outside [0, 1]" in report.skipped[2][1]
    rows = _rows(out)
    assert [(r["comment_text"][0], r["toxicity"][0]) for r in rows] == [
        ("fine comment", 0.0),
        ("nasty comment", 1.0),
        ("borderline", 1.0),
        ("empty identity cell", 0.0),
    ]
    assert rows[0]["religion"] == ["christian"]
    assert rows[0]["gender"] == []
    assert rows[1]["gender"] == ["female", "male"]
    assert rows[1]["religion"] == ["muslim", "jewish"]
    assert rows[1]["race"] == ["black"]
    assert rows[2]["sexual_orientation"] == ["gay"]
    assert rows[3]["gender"] == []
    assert all(
        set(r) >= {"gender", "sexual_orientation", "religion", "race", "disability"} for r in rows
    )


def test_civil_comments_without_identity_columns_writes_none(tmp_path):
    src = _write(tmp_path / "civil.csv", "comment_text,toxicity,religion\nhello,0.2,['jewish']\n")
    out = tmp_path / "civil.tfrecord"

    import_civil_comments(str(src), str(out))

    (row,) = _rows(out)
    assert set(row) == {"comment_text", "toxicity", "religion"}
    assert row["religion"] == ["jewish"]


def test_wiki_csv_true_false_and_numeric_labels(tmp_path):
    src = _write(
        tmp_path / "wiki.csv",
        "rev_id,comment,toxic\n"
        "1,a True one,True\n"
        "2,a False one,False\n"
        "3,lower true,true\n"
        "4,lower false,false\n"
        "5,one,1\n"
        "6,zero,0\n"
        "7,one float,1.0\n"
        "8,zero float,0.0\n",
    )
    out = tmp_path / "wiki.tfrecord"

    report = import_wiki_toxicity(str(src), str(out))

    assert report.written == 8 and report.skipped == []
    assert [label for _, label in _texts_labels(out)] == [1.0, 0.0] * 4


def test_wiki_tsv_is_toxic_keeps_text_as_is(tmp_path):
    text = 'Hello NEWLINE_TOKENNEWLINE_TOKEN, said "she"  '
    src = _write(
        tmp_path / "debias.tsv",
        "rev_id\tcomment\tis_toxic\tsplit\n"
        f'w1\t"{text.replace(chr(34), chr(34) * 2)}"\tFalse\ttrain\n'
        "w2\tcommas, here, too\tTrue\ttest\n",
    )
    out = tmp_path / "debias.tfrecord"

    report = import_wiki_toxicity(str(src), str(out))

    assert report.written == 2
    assert _texts_labels(out) == [(text, 0.0), ("commas, here, too", 1.0)]


def test_generic_any_and_all_rules(tmp_path):
    src = _write(
        tmp_path / "ghc.tsv",
        "text\thd\tcv\tvo\nneither\t0\t0\t1\nhd only\t1\t0\t0\ncv only\t0\t1\t0\nboth\t1\t1\t0\n",
    )
    any_out, all_out = tmp_path / "any.tfrecord", tmp_path / "all.tfrecord"

    any_report = import_generic(str(src), str(any_out), "text", ["hd", "cv"])
    all_report = import_generic(str(src), str(all_out), "text", ["hd", "cv"], label_rule="all")

    assert [label for _, label in _texts_labels(any_out)] == [0.0, 1.0, 1.0, 1.0]
    assert [label for _, label in _texts_labels(all_out)] == [0.0, 0.0, 0.0, 1.0]
    assert (any_report.positives, all_report.positives) == (3, 1)


def test_generic_threshold_and_sniffed_delimiter(tmp_path):
    src = _write(tmp_path / "scores.txt", "body;score\nlow;0.2\nmid;0.6\nhigh;0.9\nyes;yes\n")
    out = tmp_path / "scores.tfrecord"

    report = import_generic(str(src), str(out), "body", "score", positive_threshold=0.8)

    assert report.written == 4
    assert _texts_labels(out) == [("low", 0.0), ("mid", 0.0), ("high", 1.0), ("yes", 1.0)]


def test_bad_rows_are_reported_with_their_line_numbers(tmp_path):
    src = _write(
        tmp_path / "bad.csv",
        "label,text\n"  # line 1
        "1,good one\n"  # line 2
        '0,"spans\nthree\nlines"\n'  # lines 3-5
        "0,\n"  # line 6: empty text
        "1,   \n"  # line 7: whitespace-only text
        "1\n"  # line 8: no text field
        "maybe,unparseable label\n"  # line 9
        '2x,"bad label\non two lines"\n'  # lines 10-11
        "0,last good\n",  # line 12
    )
    out = tmp_path / "bad.tfrecord"

    report = import_generic(str(src), str(out), "text", ["label"], **ANY_LOSS)

    assert report.written == 3
    assert [line for line, _ in report.skipped] == [6, 7, 8, 9, 10]
    reasons = [reason for _, reason in report.skipped]
    assert reasons[0] == "empty text" and reasons[1] == "empty text"
    assert "missing text" in reasons[2]
    assert "unparseable label 'maybe'" in reasons[3]
    assert "unparseable label '2x'" in reasons[4]
    assert [t for t, _ in _texts_labels(out)] == ["good one", "spans\nthree\nlines", "last good"]
    summary = report.summary()
    assert f"Read 8 rows from {src}: wrote 3 into {out}; skipped 5 rows (62.5%)." in summary
    assert "line 6: empty text" in summary and "line 10: unparseable label" in summary


def test_row_with_extra_fields_is_skipped(tmp_path):
    src = _write(tmp_path / "x.tsv", "text\tlabel\nok\t1\nan\tunquoted\t0\n")
    out = tmp_path / "x.tfrecord"

    report = import_generic(str(src), str(out), "text", ["label"], **ANY_LOSS)

    assert report.written == 1
    assert report.skipped[0][0] == 3 and "3 fields" in report.skipped[0][1]


def test_summary_lists_at_most_twenty_skipped_rows():
    report = ImportReport(
        path="in.csv", written=1, skipped=[(i, "empty text") for i in range(2, 32)]
    )

    summary = report.summary()

    assert "line 21: empty text" in summary
    assert "line 22:" not in summary
    assert "first 20 of 30" in summary and "and 10 more" in summary


def test_missing_column_is_an_error_naming_it(tmp_path):
    src = _write(tmp_path / "wiki.csv", "rev_id,comment,score\n1,hi,1\n")
    out = tmp_path / "wiki.tfrecord"

    with pytest.raises(DatasetImportError) as excinfo:
        import_wiki_toxicity(str(src), str(out))

    message = str(excinfo.value)
    assert "is_toxic" in message and "toxic" in message
    assert str(src) in message and "'score'" in message
    assert not out.exists()

    with pytest.raises(DatasetImportError, match="missing text column 'comment_text'"):
        import_civil_comments(str(src), str(out))
    with pytest.raises(DatasetImportError, match="missing label column 'cv'"):
        import_generic(str(src), str(out), "comment", ["score", "cv"])
    assert not out.exists()


def test_hundred_thousand_character_comment_imports_intact(tmp_path):
    long_text = ("word, " * 20_000)[:100_000]
    src = _write(tmp_path / "long.csv", f'comment,toxic\n"{long_text}",1\nshort,0\n')
    out = tmp_path / "long.tfrecord"

    report = import_wiki_toxicity(str(src), str(out))

    assert report.written == 2
    texts = [t for t, _ in _texts_labels(out)]
    assert texts[0] == long_text and len(texts[0]) == 100_000


def test_invalid_utf8_imports_as_replacement_characters_only_when_asked(tmp_path):
    src = tmp_path / "latin.csv"
    src.write_bytes(b"comment,toxic\ncaf\xe9 \xff\xfe ok,0\nplain,1\n")
    out = tmp_path / "latin.tfrecord"

    report = import_wiki_toxicity(str(src), str(out), encoding_errors="replace")

    assert report.written == 2
    assert report.replacement_char_rows == 1
    assert _texts_labels(out)[0] == ("caf\ufffd \ufffd\ufffd ok", 0.0)
    assert "warning: 1 rows contain U+FFFD" in report.summary()


def test_zero_valid_rows_is_an_error_and_writes_nothing(tmp_path):
    src = _write(tmp_path / "empty.csv", "comment,toxic\n,True\n  ,False\nsome text,perhaps\n")
    out = tmp_path / "sub" / "out.tfrecord"

    with pytest.raises(DatasetImportError, match="no valid rows") as excinfo:
        import_wiki_toxicity(str(src), str(out))

    assert not out.exists()
    assert [line for line, _ in excinfo.value.report.skipped] == [2, 3, 4]

    header_only = _write(tmp_path / "header.csv", "comment,toxic\n")
    existing = tmp_path / "existing.tfrecord"
    existing.write_bytes(b"keep me")
    with pytest.raises(DatasetImportError, match="no valid rows"):
        import_wiki_toxicity(str(header_only), str(existing))
    assert existing.read_bytes() == b"keep me"


def test_empty_file_and_missing_file_are_errors(tmp_path):
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(DatasetImportError, match="empty"):
        import_wiki_toxicity(str(empty), str(tmp_path / "o.tfrecord"))
    with pytest.raises(DatasetImportError, match="no such file"):
        import_wiki_toxicity(str(tmp_path / "nope.csv"), str(tmp_path / "o.tfrecord"))
    with pytest.raises(DatasetImportError, match="must be a file path"):
        import_wiki_toxicity(str(empty), str(tmp_path))


def _parse(argv: list[str]) -> argparse.Namespace:
    return add_import_arguments(argparse.ArgumentParser(prog="import")).parse_args(argv)


def test_cli_generic_import(tmp_path, capsys):
    src = _write(tmp_path / "ghc.tsv", "text\thd\tcv\nhello\t0\t0\nhate\t1\t0\n\t1\t1\n")
    out = tmp_path / "DATA" / "train" / "data.tfrecord"
    args = _parse(
        ["--format", "generic", "--input", str(src), "--output", str(out)]
        + ["--text-column", "text", "--label-columns", "hd, cv", "--delimiter", "tab"]
        + ["--max-skipped-share", "0.5"]
    )

    assert run_import(args) == 0

    stdout = capsys.readouterr().out
    assert f"Read 3 rows from {src}: wrote 2 into {out}; skipped 1 rows (33.3%)." in stdout
    assert "1 toxic (50.0%)" in stdout
    assert "line 4: empty text" in stdout
    assert _texts_labels(out) == [("hello", 0.0), ("hate", 1.0)]


def test_cli_generic_without_columns_is_a_usage_error(tmp_path, capsys):
    args = _parse(["--format", "generic", "--input", "x.tsv", "--output", str(tmp_path / "o")])

    assert run_import(args) == 2

    err = capsys.readouterr().err
    assert "--text-column" in err and "--label-columns" in err


def test_cli_import_error_prints_message_without_traceback(tmp_path, capsys):
    src = _write(tmp_path / "wiki.csv", "rev_id,text,toxic\n1,hi,True\n")
    out = tmp_path / "wiki.tfrecord"
    args = _parse(["--format", "wiki", "--input", str(src), "--output", str(out)])

    assert run_import(args) == 1

    err = capsys.readouterr().err
    assert "missing text column 'comment'" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_help_mentions_split_folders(capsys):
    with pytest.raises(SystemExit):
        _parse(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "DATA/train/" in help_text and "DATA/eval/" in help_text


def _real_file(relative: str) -> Path:
    """A file of the real public data, or a skip naming where it was looked for."""
    src = shared_data_dir() / relative
    if not src.is_file():
        pytest.skip(f"real data not found at {src} (set {ENV_VAR} to the data folder)")
    return src


def test_real_data_tests_skip_with_a_message_when_the_folder_is_absent(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))

    with pytest.raises(pytest.skip.Exception) as excinfo:
        _real_file("gab_hate_corpus/ghc_test.tsv")

    message = str(excinfo.value)
    assert str(tmp_path / "nowhere" / "gab_hate_corpus" / "ghc_test.tsv") in message
    assert ENV_VAR in message


@pytest.mark.realdata
def test_gab_hate_corpus_test_split(tmp_path):
    src = _real_file("gab_hate_corpus/ghc_test.tsv")
    out = tmp_path / "ghc_test.tfrecord"

    report = import_generic(str(src), str(out), "text", ["hd", "cv"])

    assert 5_400 <= report.written <= 5_510
    assert len(report.skipped) <= 10
    assert 0.05 <= report.positive_rate <= 0.15
    rows = _texts_labels(out)
    assert len(rows) == report.written
    assert sum(label for _, label in rows) == report.positives


@pytest.mark.realdata
def test_wiki_files_with_multi_line_comments_are_not_runaway_fields(tmp_path):
    # The debiasing file has quoted comments of up to 13 lines: real text, not a lost quote.
    src = _real_file("wiki_toxicity/toxicity_debiasing_data.tsv")
    out = tmp_path / "debias.tfrecord"

    report = import_wiki_toxicity(str(src), str(out))

    assert report.written == 5_775 and report.skipped == []
    assert max(text.count("\n") for text, _ in _texts_labels(out)) >= 10
