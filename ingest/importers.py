"""Import text/label CSV and TSV files into TFRecords of tf.Example for the pipeline.

Three readers share one row loop:

* ``import_civil_comments``: the processed Civil Comments CSV of the MinDiff tutorial
  (``comment_text``, fractional ``toxicity``, identity columns holding list strings).
* ``import_wiki_toxicity``: the Wikipedia toxicity files of the TFCO tutorial and the
  Conversation AI bias work (``comment`` plus ``is_toxic`` or ``toxic``).
* ``import_generic``: any file with one text column and one or more label columns.

Every record holds ``comment_text`` and a 0.0/1.0 ``toxicity`` (see trainer_modules.features).
An import never loses rows silently. Bad rows are skipped and listed with their line number in
an ``ImportReport``, which always counts rows read, written and skipped. These raise
``DatasetImportError`` and leave the output as it was (nothing written, nothing replaced): a
missing or repeated column name; a quoted field that ran on past its row (an unclosed quote
swallows every row after it into one field, see ``csv_input.RunawayFields``); more than
``max_skipped_share`` of the rows skipped (default 1%); no valid row at all; and text that
does not decode.

Encoding: UTF-8 unless ``encoding`` says otherwise or a byte-order mark says UTF-16/32
(read as such, and the report says so); gzip, bzip2 and xz files are decompressed on the fly
(and the report says so). Invalid bytes fail the import by default, naming the line, the
bytes and the fix (``--encoding latin-1`` for Latin-1 files). Replacing them with U+FFFD and
warning was the alternative; it was not chosen because the replacement loses the original
characters for good, a Latin-1 file loses every accented letter, and a warning on an exit
status of 0 goes unseen in scripts. ``encoding_errors="replace"`` (``--encoding-errors
replace``) still imports such a file on purpose, and its report warns with the count of rows
that hold U+FFFD.
"""

from __future__ import annotations

import argparse
import ast
import math
import sys
from collections.abc import Sequence

from contract import IDENTITY_COLUMNS, TEXT_KEY
from ingest.csv_input import DatasetImportError, short
from ingest.import_rows import (
    DEFAULT_MAX_FIELD_LINES,
    DEFAULT_MAX_SKIPPED_SHARE,
    ENCODING_ERRORS,
    BadRow,
    ImportReport,
    ReadOptions,
    RowConverter,
    import_rows,
)

__all__ = [
    "DatasetImportError",
    "ImportReport",
    "ReadOptions",
    "add_import_arguments",
    "import_civil_comments",
    "import_generic",
    "import_wiki_toxicity",
    "run_import",
]

FORMATS = ("civil_comments", "wiki", "generic")
LABEL_RULES = ("any", "all")
# Delimiters a header read with the wrong one shows inside a single field.
LIKELY_DELIMITERS = (";", "\t", "|", ",")

WIKI_TEXT_COLUMN = "comment"
WIKI_LABEL_COLUMNS = ("is_toxic", "toxic")
CIVIL_LABEL_COLUMN = "toxicity"
CIVIL_THRESHOLD = 0.5

_TRUE_WORDS = frozenset({"true", "t", "yes", "y"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n"})
# Identity cells are short lists of group names; a huge cell is a misaligned row, and
# literal_eval on deeply nested input can exhaust the parser.
_MAX_IDENTITY_CELL = 10_000


def import_civil_comments(csv_path: str, out_path: str, **options) -> ImportReport:
    """Import the processed Civil Comments CSV (MinDiff tutorial) into one TFRecord file.

    ``toxicity`` is a score in [0, 1], binarized as >= 0.5. The identity columns (gender,
    sexual_orientation, religion, race, disability) hold Python list strings such as
    "['christian']" or "[]"; an empty cell counts as "[]", a malformed list skips the row.
    Identity columns absent from the header are not written. ``options``: see ReadOptions.
    """

    def bind(header: list[str]) -> RowConverter:
        text_i = _require(csv_path, header, TEXT_KEY, "text")
        label_i = _require(csv_path, header, CIVIL_LABEL_COLUMN, "label")
        identity_is = {c: header.index(c) for c in IDENTITY_COLUMNS if c in header}

        def convert(row: list[str]):
            text = _text(row, text_i, header)
            score = _score(_cell(row, label_i, header), CIVIL_LABEL_COLUMN)
            if not 0.0 <= score <= 1.0:
                raise BadRow(f"{CIVIL_LABEL_COLUMN} {score!r} is outside [0, 1]")
            identities = {
                c: _identity_list(_cell(row, i, header), c) for c, i in identity_is.items()
            }
            return text, float(score >= CIVIL_THRESHOLD), identities or None

        return convert

    return import_rows(csv_path, out_path, bind, ReadOptions(**options))


def import_wiki_toxicity(csv_path: str, out_path: str, **options) -> ImportReport:
    """Import a Wikipedia toxicity CSV/TSV (TFCO tutorial, Conversation AI bias files).

    Text is ``comment`` (kept as is, NEWLINE_TOKEN and all); the label is ``is_toxic`` or,
    failing that, ``toxic``, with values True/False, true/false, 1/0 or 1.0/0.0. The
    delimiter comes from the extension (.tsv is tab) or is sniffed. ``options``: see ReadOptions.
    """

    def bind(header: list[str]) -> RowConverter:
        text_i = _require(csv_path, header, WIKI_TEXT_COLUMN, "text")
        label_column = next((c for c in WIKI_LABEL_COLUMNS if c in header), None)
        if label_column is None:
            raise _missing_column(csv_path, header, " or ".join(WIKI_LABEL_COLUMNS), "label")
        label_i = header.index(label_column)

        def convert(row: list[str]):
            text = _text(row, text_i, header)
            positive = _flag(_cell(row, label_i, header), label_column, 0.5)
            return text, float(positive), None

        return convert

    return import_rows(csv_path, out_path, bind, ReadOptions(**options))


def import_generic(
    path: str,
    out_path: str,
    text_column: str,
    label_columns: Sequence[str] | str,
    label_rule: str = "any",
    positive_threshold: float = 0.5,
    delimiter: str | None = None,
    **options,
) -> ImportReport:
    """Import any delimited file with a text column and one or more label columns.

    The label is 1.0 when any (``label_rule="any"``) or all (``"all"``) of the label columns
    is true-ish (true/t/yes/y) or a number >= positive_threshold, else 0.0; a row with an
    empty or unparseable label in any label column is skipped. ``options``: see ReadOptions.
    """
    columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    if not columns:
        raise DatasetImportError("import_generic needs at least one label column")
    if label_rule not in LABEL_RULES:
        raise DatasetImportError(f"label_rule must be one of {LABEL_RULES}, got {label_rule!r}")
    if not math.isfinite(positive_threshold):
        raise DatasetImportError(f"positive_threshold must be finite, got {positive_threshold!r}")
    combine = any if label_rule == "any" else all

    def bind(header: list[str]) -> RowConverter:
        text_i = _require(path, header, text_column, "text")
        label_is = [(c, _require(path, header, c, "label")) for c in columns]

        def convert(row: list[str]):
            text = _text(row, text_i, header)
            flags = [_flag(_cell(row, i, header), c, positive_threshold) for c, i in label_is]
            return text, float(combine(flags)), None

        return convert

    return import_rows(path, out_path, bind, ReadOptions(delimiter=delimiter, **options))


def _missing_column(path: str, header: list[str], column: str, role: str) -> DatasetImportError:
    return DatasetImportError(
        f"{path}: missing {role} column {column!r}; columns found: "
        f"{', '.join(map(short, header))}{_delimiter_hint(header, column)}"
    )


def _delimiter_hint(header: list[str], column: str) -> str:
    """A header field that holds the wanted column beside a likely delimiter was read with the
    wrong delimiter: say which one to pass."""
    for field in header:
        for delimiter in LIKELY_DELIMITERS:
            if delimiter in field and column in field.split(delimiter):
                shown = "tab" if delimiter == "\t" else repr(delimiter)
                return f"; the header looks {shown}-separated: rerun with --delimiter {shown}"
    return ""


def _require(path: str, header: list[str], column: str, role: str) -> int:
    if column not in header:
        raise _missing_column(path, header, column, role)
    return header.index(column)


def _cell(row: list[str], index: int, header: list[str]) -> str:
    if index >= len(row):
        raise BadRow(
            f"missing value for {header[index]!r} (row has {len(row)} of {len(header)} fields)"
        )
    return row[index]


def _text(row: list[str], index: int, header: list[str]) -> str:
    if index >= len(row):
        raise BadRow(f"missing text (row has {len(row)} of {len(header)} fields)")
    text = row[index]
    if not text.strip():
        raise BadRow("empty text")
    return text


def _score(value: str, column: str) -> float:
    stripped = value.strip()
    if not stripped:
        raise BadRow(f"empty label in {column!r}")
    lowered = stripped.lower()
    if lowered in _TRUE_WORDS:
        return 1.0
    if lowered in _FALSE_WORDS:
        return 0.0
    try:
        number = float(stripped)
    except ValueError:
        raise BadRow(f"unparseable label {short(stripped)} in {column!r}") from None
    if not math.isfinite(number):
        raise BadRow(f"unparseable label {short(stripped)} in {column!r}")
    return number


def _flag(value: str, column: str, threshold: float) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    return _score(value, column) >= threshold


def _identity_list(value: str, column: str) -> list[str]:
    stripped = value.strip()
    if not stripped:
        return []
    if len(stripped) > _MAX_IDENTITY_CELL:
        raise BadRow(f"malformed {column} list ({len(stripped)} characters)")
    try:
        parsed = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise BadRow(f"malformed {column} list {short(stripped)}") from None
    if not isinstance(parsed, list | tuple) or not all(isinstance(v, str) for v in parsed):
        raise BadRow(f"{column} is not a list of strings: {short(stripped)}")
    return list(parsed)


_SPLIT_HELP = (
    "Split folders: import the training file with --output DATA/train/data.tfrecord and the "
    "evaluation file with --output DATA/eval/data.tfrecord; the pipeline reads such DATA/train/ "
    "and DATA/eval/ split folders as its splits when present."
)


def add_import_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of `local_runner.py import` to parser."""
    if parser.description is None:
        parser.description = "Import a CSV/TSV dataset into a TFRecord file of tf.Example."
    if parser.epilog is None:
        parser.epilog = _SPLIT_HELP
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="civil_comments: processed Civil Comments CSV (MinDiff tutorial); wiki: Wikipedia "
        "toxicity CSV/TSV (comment, is_toxic or toxic); generic: any file, with "
        "--text-column and --label-columns",
    )
    parser.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="CSV or TSV file to read, plain or gzip/bzip2/xz-compressed",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="TFRecord file to write, e.g. DATA/train/data.tfrecord or DATA/eval/data.tfrecord "
        "(written atomically; an existing file is replaced only by a successful import)",
    )
    parser.add_argument("--text-column", metavar="NAME", help="generic: the text column")
    parser.add_argument(
        "--label-columns",
        metavar="A,B",
        help="generic: comma-separated label columns, e.g. hd,cv",
    )
    parser.add_argument(
        "--label-rule",
        choices=LABEL_RULES,
        default=None,
        help="generic: toxic when any (default) or all label columns are positive",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="FLOAT",
        help="generic: a numeric label >= this is positive (default 0.5)",
    )
    parser.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="one character, or 'tab'; default: tab for .tsv, comma for .csv, else sniffed",
    )
    _add_reading_arguments(parser)
    return parser


def _add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        help="the file's text encoding, e.g. latin-1, cp1252, utf-16 (default: utf-8, or what "
        "a byte-order mark says); gzip, bzip2 and xz files are decompressed on the fly",
    )
    parser.add_argument(
        "--encoding-errors",
        choices=ENCODING_ERRORS,
        default="strict",
        help="strict (default): bytes that do not decode stop the import and are named; "
        "replace: import them as U+FFFD (their characters are lost) and warn",
    )
    parser.add_argument(
        "--max-skipped-share",
        type=_share,
        default=DEFAULT_MAX_SKIPPED_SHARE,
        metavar="FRACTION",
        help="fail, writing nothing, when more than this share of the rows is skipped "
        f"(default {DEFAULT_MAX_SKIPPED_SHARE:g}; 1 accepts any loss)",
    )
    parser.add_argument(
        "--max-field-lines",
        type=_lines,
        default=DEFAULT_MAX_FIELD_LINES,
        metavar="N",
        help="fail when a quoted field spans more than N lines, or looks like rows swallowed "
        f"by an unclosed quote (default {DEFAULT_MAX_FIELD_LINES}; 0 turns the check off)",
    )


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = math.nan
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction between 0 and 1 is needed, got {value!r}")
    return share


def _lines(value: str) -> int:
    try:
        lines = int(value)
    except ValueError:
        lines = -1
    if lines < 0:
        raise argparse.ArgumentTypeError(f"a line count of 0 or more is needed, got {value!r}")
    return lines


def run_import(args: argparse.Namespace) -> int:
    """Run the importer args ask for and print its report: rows read, written and skipped.

    Returns 0 when the rows were written, 1 on an import error (the report's counts, then the
    message on stderr, no traceback; nothing written) and 2 on a usage error.
    """
    fmt = args.format
    text_column = getattr(args, "text_column", None)
    label_columns = getattr(args, "label_columns", None)
    label_rule = getattr(args, "label_rule", None)
    threshold = getattr(args, "threshold", None)
    options = _reading_options(args)

    def usage(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    try:
        if fmt == "generic":
            columns = [c.strip() for c in (label_columns or "").split(",") if c.strip()]
            if not text_column or not columns:
                return usage(
                    "--format generic needs --text-column and --label-columns, "
                    "e.g. --text-column text --label-columns hd,cv"
                )
            report = import_generic(
                args.input,
                args.output,
                text_column,
                columns,
                label_rule=label_rule or "any",
                positive_threshold=0.5 if threshold is None else threshold,
                **options,
            )
        elif fmt in ("civil_comments", "wiki"):
            generic_only = {
                "--text-column": text_column,
                "--label-columns": label_columns,
                "--label-rule": label_rule,
                "--threshold": threshold,
            }
            given = [flag for flag, value in generic_only.items() if value is not None]
            if given:
                return usage(f"{', '.join(given)} only apply to --format generic")
            importer = import_civil_comments if fmt == "civil_comments" else import_wiki_toxicity
            report = importer(args.input, args.output, **options)
        else:
            return usage(f"unknown --format {fmt!r}; choose from {', '.join(FORMATS)}")
    except DatasetImportError as e:
        if e.report is not None:
            print(e.report.summary(), file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {args.input}: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def _reading_options(args: argparse.Namespace) -> dict:
    return {
        "delimiter": getattr(args, "delimiter", None),
        "encoding": getattr(args, "encoding", None),
        "encoding_errors": getattr(args, "encoding_errors", "strict"),
        "max_skipped_share": getattr(args, "max_skipped_share", DEFAULT_MAX_SKIPPED_SHARE),
        "max_field_lines": getattr(args, "max_field_lines", DEFAULT_MAX_FIELD_LINES),
    }
