"""The importer never loses rows silently: runaway quotes, repeated column names, encodings,
compressed input, the skipped-row limit, and where the real data is looked for."""

import argparse
import bz2
import gzip
from pathlib import Path

import pytest

from ingest import shared_data
from ingest.importers import (
    DatasetImportError,
    import_generic,
    import_wiki_toxicity,
)
from ingest.tfrecords import read_examples
from runners.imports import add_import_arguments, run_import


def _texts(out: Path) -> list[str]:
    return [
        e.features.feature["comment_text"].bytes_list.value[0].decode("utf-8")
        for e in read_examples(str(out))
    ]


def _cli(argv: list[str]) -> int:
    parser = add_import_arguments(argparse.ArgumentParser(prog="import"))
    return run_import(parser.parse_args(["--format", "wiki", *argv]))


def _rows(first: int, last: int) -> str:
    return "".join(f"row {i},0\n" for i in range(first, last + 1))


def _refused(src: Path, out: Path, **options) -> str:
    """The message of an import that must fail and leave out as it was."""
    before = out.read_bytes() if out.exists() else None
    with pytest.raises(DatasetImportError) as excinfo:
        import_wiki_toxicity(str(src), str(out), **options)
    assert (out.read_bytes() if out.exists() else None) == before
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".")) == []
    return str(excinfo.value)


# --- Runaway quoted fields -------------------------------------------------------------------


def test_stray_quote_in_a_1002_line_csv_fails_naming_the_line(tmp_path, capsys):
    src = tmp_path / "stray.csv"
    src.write_text('comment,toxic\nfine,0\n"broken,1\n' + _rows(4, 1002))
    out = tmp_path / "out.tfrecord"
    out.write_bytes(b"earlier import")

    message = _refused(src, out)

    assert message.startswith(f"{src}: the quoted field starting on line 3 runs over 1000 lines")
    assert "to line 1002, 999 of which look like rows" in message
    assert "Fix the quote on line 3" in message and "--max-field-lines 0" in message
    assert message.endswith(f"nothing written to {out}") and "\n" not in message

    assert _cli(["--input", str(src), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"Read 2 rows from {src}: 1 valid, nothing written; skipped 1 rows" in err
    assert "error: " in err and "line 3" in err


def test_runaway_quote_closed_rows_later_is_caught_too(tmp_path):
    # The stray quote on line 5 is closed by the opening quote on line 18: 12 rows vanish
    # into one field, well under the 100-line limit, and the rest of the file reads fine.
    src = tmp_path / "short.csv"
    src.write_text(
        "comment,toxic\n" + _rows(2, 4) + '"oops,1\n' + _rows(6, 17) + '"quoted, text",0\n'
        + _rows(19, 40)
    )  # fmt: skip

    message = _refused(src, tmp_path / "out.tfrecord")

    assert "the quoted field starting on line 5 runs over 14 lines, to line 18" in message


def test_runaway_in_a_later_column_names_the_line_its_quote_opens(tmp_path):
    src = tmp_path / "late.tsv"
    src.write_text(
        "note\tcomment\ttoxic\n"
        '"two\nlines"\t"open\t0\n' + "".join(f"x\trow {i}\t1\n" for i in range(4, 300))
    )

    message = _refused(src, tmp_path / "out.tfrecord")

    assert "the quoted field starting on line 3 runs over 297 lines, to line 299" in message


def test_real_multi_line_comments_are_kept(tmp_path):
    poem = "\n".join(f"verse {i}" for i in range(40))
    src = tmp_path / "poem.csv"
    src.write_text(f'comment,toxic\n"{poem}",0\n' + _rows(3, 50))
    out = tmp_path / "poem.tfrecord"

    report = import_wiki_toxicity(str(src), str(out))

    assert report.written == 49 and _texts(out)[0] == poem


def test_field_over_max_field_lines_fails_unless_the_limit_allows_it(tmp_path):
    long_text = "\n".join(f"line {i}" for i in range(150))
    src = tmp_path / "long.csv"
    src.write_text(f'comment,toxic\n"{long_text}",1\nshort,0\n')
    out = tmp_path / "long.tfrecord"

    assert "runs over 150 lines, to line 151" in _refused(src, out)

    for limit in (150, 0):
        report = import_wiki_toxicity(str(src), str(out), max_field_lines=limit)
        assert report.written == 2 and _texts(out)[0] == long_text


def test_header_with_an_unclosed_quote_is_refused(tmp_path):
    src = tmp_path / "header.csv"
    src.write_text('"comment,toxic\n' + _rows(2, 20))

    message = _refused(src, tmp_path / "out.tfrecord")

    assert message == (
        f"{src}: the header row runs from line 1 to line 20: a quote in it is never closed; "
        "fix the quoting of line 1"
    )


# --- Header ----------------------------------------------------------------------------------


def test_repeated_column_names_are_refused_naming_them(tmp_path):
    src = tmp_path / "dup.csv"
    src.write_text("comment,toxic,comment ,toxic,id\n,1,real text,0,7\n")

    message = _refused(src, tmp_path / "out.tfrecord")

    assert message == (
        f"{src}: the header repeats column names: 'comment' (columns 1, 3); 'toxic' "
        "(columns 2, 4); rename or drop the extra columns so that each name is unique"
    )


def test_unnamed_columns_may_repeat(tmp_path):
    src = tmp_path / "trailing.csv"
    src.write_text("comment,toxic,,\nhello,1,,\n")

    assert import_wiki_toxicity(str(src), str(tmp_path / "o.tfrecord")).written == 1


# --- Encodings and compression ---------------------------------------------------------------


LATIN1 = "comment,toxic\nplain,0\ncafé crème,1\n".encode("latin-1")


def test_latin1_fails_by_default_naming_the_line_and_the_fix(tmp_path, capsys):
    src = tmp_path / "latin.csv"
    src.write_bytes(LATIN1)
    out = tmp_path / "latin.tfrecord"

    message = _refused(src, out)

    assert message == (
        f"{src}: not valid UTF-8 text: bytes b'\\xe9' on line 3 cannot be decoded; if it is "
        "Latin-1, rerun with --encoding latin-1 (Windows-1252: --encoding cp1252), or keep "
        "UTF-8 and replace undecodable bytes with U+FFFD using --encoding-errors replace; "
        f"nothing written to {out}"
    )
    assert _cli(["--input", str(src), "--output", str(out)]) == 1
    assert "--encoding latin-1" in capsys.readouterr().err


def test_encoding_option_reads_latin1_intact(tmp_path, capsys):
    src = tmp_path / "latin.csv"
    src.write_bytes(LATIN1)
    out = tmp_path / "latin.tfrecord"

    assert _cli(["--input", str(src), "--output", str(out), "--encoding", "latin-1"]) == 0

    assert _texts(out) == ["plain", "café crème"]
    assert "U+FFFD" not in capsys.readouterr().out


def test_undecodable_byte_line_is_exact_past_the_first_megabyte(tmp_path):
    # Two-byte characters straddle the 1 MiB scan chunks; the count must stay right.
    body = "".join(f"é{i:07d},0\n" for i in range(2, 150_002))
    src = tmp_path / "big.csv"
    src.write_bytes(b"comment,toxic\n" + body.encode() + b"bad \xff,1\n")

    message = _refused(src, tmp_path / "out.tfrecord")

    assert "bytes b'\\xff' on line 150002 cannot be decoded" in message


def test_utf16_with_byte_order_mark_is_read_and_said(tmp_path):
    src = tmp_path / "wide.txt"
    src.write_bytes("comment\ttoxic\nnaïve\t1\n".encode("utf-16"))
    out = tmp_path / "wide.tfrecord"

    report = import_wiki_toxicity(str(src), str(out))

    assert _texts(out) == ["naïve"]
    assert report.summary().splitlines()[0] == (
        "Read as UTF-16 (the file starts with its byte-order mark)."
    )
    message = _refused(src, out, encoding="latin-1")
    assert "starts with a UTF-16 byte-order mark, so it is UTF-16 text, not latin-1" in message


def test_utf16_without_byte_order_mark_names_the_encoding_to_pass(tmp_path):
    src = tmp_path / "wide.csv"
    src.write_bytes("comment,toxic\nhello,1\n".encode("utf-16-le"))

    message = _refused(src, tmp_path / "out.tfrecord")

    assert "looks like UTF-16 text without a byte-order mark" in message
    assert message.endswith("rerun with --encoding utf-16-le")


def test_gzip_input_is_read_transparently_and_said(tmp_path, capsys):
    src = tmp_path / "data.tsv.gz"
    src.write_bytes(gzip.compress(b"comment\ttoxic\na, b\t1\nc\t0\n"))
    out = tmp_path / "gz.tfrecord"

    assert _cli(["--input", str(src), "--output", str(out)]) == 0

    assert _texts(out) == ["a, b", "c"]
    stdout = capsys.readouterr().out
    assert stdout.startswith("Read gzip-compressed input.\nRead 2 rows from")


def test_bzip2_input_is_read_transparently(tmp_path):
    src = tmp_path / "data.csv.bz2"
    src.write_bytes(bz2.compress("comment,toxic\ncafé,1\n".encode("latin-1")))
    out = tmp_path / "bz.tfrecord"

    report = import_wiki_toxicity(str(src), str(out), encoding="latin-1")

    assert _texts(out) == ["café"] and "Read bzip2-compressed input." in report.summary()


def test_truncated_gzip_and_zip_archives_are_named(tmp_path):
    packed = gzip.compress(("comment,toxic\n" + _rows(2, 5000)).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    archive = tmp_path / "data.zip"
    archive.write_bytes(b"PK\x03\x04" + b"\x00" * 40)

    assert "gzip-compressed data is cut short" in _refused(cut, tmp_path / "o.tfrecord")
    assert f"{archive}: a zip archive, not a CSV/TSV file" in _refused(
        archive, tmp_path / "o.tfrecord"
    )


def test_unknown_encoding_is_an_error(tmp_path):
    src = tmp_path / "x.csv"
    src.write_bytes(b"comment,toxic\nhi,1\n")

    assert "unknown --encoding 'klingon'" in _refused(
        src, tmp_path / "o.tfrecord", encoding="klingon"
    )


# --- Counts and the skipped-row limit --------------------------------------------------------


def _with_bad_rows(path: Path, bad: int, total: int = 200) -> Path:
    path.write_text("comment,toxic\n" + "".join(
        f"row {i},{'maybe' if i < bad else 0}\n" for i in range(total)
    ))  # fmt: skip
    return path


def test_skipped_share_at_the_limit_passes_and_above_it_fails(tmp_path, capsys):
    out = tmp_path / "data" / "train" / "data.tfrecord"
    ok = _with_bad_rows(tmp_path / "ok.csv", 2)

    assert _cli(["--input", str(ok), "--output", str(out)]) == 0
    assert f"Read 200 rows from {ok}: wrote 198 into {out}; skipped 2 rows (1.0%)." in (
        capsys.readouterr().out
    )

    bad = _with_bad_rows(tmp_path / "bad.csv", 3)
    before = out.read_bytes()
    assert _cli(["--input", str(bad), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"Read 200 rows from {bad}: 197 valid, nothing written; skipped 3 rows (1.5%)." in err
    assert "  line 2: unparseable label 'maybe'" in err
    assert (
        f"error: {bad}: skipped 3 of 200 rows (1.5%), more than --max-skipped-share 0.01 "
        "allows; fix the rows listed, or rerun with --max-skipped-share 0.02 to accept the "
        f"loss; nothing written to {out}"
    ) in err
    assert out.read_bytes() == before

    assert _cli(["--input", str(bad), "--output", str(out), "--max-skipped-share", "0.02"]) == 0


def test_failed_import_leaves_no_folders_or_temporary_files(tmp_path):
    bad = _with_bad_rows(tmp_path / "bad.csv", 50)
    out = tmp_path / "new" / "train" / "data.tfrecord"

    with pytest.raises(DatasetImportError, match="--max-skipped-share"):
        import_generic(str(bad), str(out), "comment", ["toxic"])

    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "lots"])
def test_max_skipped_share_must_be_a_fraction(value, capsys):
    parser = add_import_arguments(argparse.ArgumentParser(prog="import"))
    with pytest.raises(SystemExit) as excinfo:
        parser.parse_args(["--format", "wiki", "--input", "a", "--output", "b",
                           "--max-skipped-share", value])  # fmt: skip
    assert excinfo.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


# --- Where the real data is ------------------------------------------------------------------


def test_shared_data_defaults_to_the_folder_next_to_the_project(monkeypatch):
    monkeypatch.delenv(shared_data.ENV_VAR, raising=False)
    root = Path(__file__).resolve().parents[1]

    assert shared_data.shared_data_dir() == (root.parent / "shared" / "data").resolve()


def test_shared_data_follows_the_environment_variable(monkeypatch, tmp_path):
    root = Path(__file__).resolve().parents[1]

    monkeypatch.setenv(shared_data.ENV_VAR, str(tmp_path))
    assert shared_data.shared_data_dir() == tmp_path

    monkeypatch.setenv(shared_data.ENV_VAR, "datasets/real")
    assert shared_data.shared_data_dir() == root / "datasets" / "real"
