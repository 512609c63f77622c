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

import ast
import math
from collections.abc import Sequence

from contract import IDENTITY_COLUMNS, TEXT_KEY
from ingest.csv_input import DatasetImportError, short
from ingest.import_rows import (
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
    "import_civil_comments",
    "import_generic",
    "import_wiki_toxicity",
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
