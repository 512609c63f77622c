"""Import text/label CSV and TSV files into TFRecords of tf.Example for the pipeline.

Three readers share one row loop:

* ``import_civil_comments``: the processed Civil Comments CSV of the MinDiff tutorial
  (``comment_text``, fractional ``toxicity``, identity columns holding list strings).
* ``import_wiki_toxicity``: the Wikipedia toxicity files of the TFCO tutorial and the
  Conversation AI bias work (``comment`` plus ``is_toxic`` or ``toxic``).
* ``import_generic``: any file with one text column and one or more label columns.

Every record holds ``comment_text`` and a 0.0/1.0 ``toxicity`` (see trainer_modules.features).
Bad rows are skipped and listed with their line number in an ``ImportReport``; a missing
column or a file without a single valid row raises ``DatasetImportError`` and writes nothing.

Files are read as UTF-8 with ``errors="replace"``: invalid bytes become U+FFFD instead of
stopping the import, and the report counts the rows whose text contains U+FFFD.
"""

from __future__ import annotations

import argparse
import ast
import csv
import itertools
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from contract import IDENTITY_COLUMNS, TEXT_KEY

FORMATS = ("civil_comments", "wiki", "generic")
LABEL_RULES = ("any", "all")

WIKI_TEXT_COLUMN = "comment"
WIKI_LABEL_COLUMNS = ("is_toxic", "toxic")
CIVIL_LABEL_COLUMN = "toxicity"
CIVIL_THRESHOLD = 0.5

_TRUE_WORDS = frozenset({"true", "t", "yes", "y"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n"})
_SNIFF_DELIMITERS = ",\t;|"
_SNIFF_BYTES = 64 * 1024
# Identity cells are short lists of group names; a huge cell is a misaligned row, and
# literal_eval on deeply nested input can exhaust the parser.
_MAX_IDENTITY_CELL = 10_000
# Comments of 100k+ characters exist; the csv default of 128 KiB would reject them. The cap
# keeps the value inside a C long on every platform.
_FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)
_SUMMARY_ROWS = 20


class DatasetImportError(ValueError):
    """The file cannot be imported: missing file or column, or no valid row at all."""

    def __init__(self, message: str, report: ImportReport | None = None):
        super().__init__(message)
        self.report = report


class _BadRow(Exception):
    """One row cannot be used; the message is the reason shown in the report."""


@dataclass
class ImportReport:
    """What an import wrote and which rows (by line number in the input) it skipped."""

    path: str
    written: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    out_path: str | None = None
    positives: int = 0
    blank_lines: int = 0
    replacement_char_rows: int = 0

    @property
    def positive_rate(self) -> float:
        return self.positives / self.written if self.written else 0.0

    def summary(self, max_rows: int = _SUMMARY_ROWS) -> str:
        """Counts, then the first max_rows skipped rows with line numbers and reasons."""
        target = f" into {self.out_path}" if self.out_path else ""
        lines = [
            f"Imported {self.written} rows from {self.path}{target}: "
            f"{self.positives} toxic ({self.positive_rate:.1%}), "
            f"{self.written - self.positives} non-toxic; skipped {len(self.skipped)} rows."
        ]
        if self.blank_lines:
            lines.append(f"Ignored {self.blank_lines} blank lines.")
        if self.replacement_char_rows:
            lines.append(
                f"{self.replacement_char_rows} written rows contain U+FFFD "
                "(invalid UTF-8 in the file was replaced, or the character was already there)."
            )
        if self.skipped:
            shown = self.skipped[:max_rows]
            lines.append(f"Skipped rows (first {len(shown)} of {len(self.skipped)}):")
            lines.extend(f"  line {line}: {reason}" for line, reason in shown)
            if len(self.skipped) > len(shown):
                lines.append(f"  ... and {len(self.skipped) - len(shown)} more")
        return "\n".join(lines)


# (text, 0.0/1.0 label, identity lists or None) from one row, or _BadRow.
RowConverter = Callable[[list[str]], tuple]


def import_civil_comments(
    csv_path: str, out_path: str, *, delimiter: str | None = None
) -> ImportReport:
    """Import the processed Civil Comments CSV (MinDiff tutorial) into one TFRecord file.

    ``toxicity`` is a score in [0, 1], binarized as >= 0.5. The identity columns (gender,
    sexual_orientation, religion, race, disability) hold Python list strings such as
    "['christian']" or "[]"; an empty cell counts as "[]", a malformed list skips the row.
    Identity columns absent from the header are not written. Invalid UTF-8 is replaced.
    """

    def bind(header: list[str]) -> RowConverter:
        text_i = _require(csv_path, header, TEXT_KEY, "text")
        label_i = _require(csv_path, header, CIVIL_LABEL_COLUMN, "label")
        identity_is = {c: header.index(c) for c in IDENTITY_COLUMNS if c in header}

        def convert(row: list[str]):
            text = _text(row, text_i, header)
            score = _score(_cell(row, label_i, header), CIVIL_LABEL_COLUMN)
            if not 0.0 <= score <= 1.0:
                raise _BadRow(f"{CIVIL_LABEL_COLUMN} {score!r} is outside [0, 1]")
            identities = {
                c: _identity_list(_cell(row, i, header), c) for c, i in identity_is.items()
            }
            return text, float(score >= CIVIL_THRESHOLD), identities or None

        return convert

    return _import(csv_path, out_path, delimiter, bind)


def import_wiki_toxicity(
    csv_path: str, out_path: str, *, delimiter: str | None = None
) -> ImportReport:
    """Import a Wikipedia toxicity CSV/TSV (TFCO tutorial, Conversation AI bias files).

    Text is ``comment`` (kept as is, NEWLINE_TOKEN and all); the label is ``is_toxic`` or,
    failing that, ``toxic``, with values True/False, true/false, 1/0 or 1.0/0.0. The
    delimiter comes from the extension (.tsv is tab) or is sniffed. Invalid UTF-8 is replaced.
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

    return _import(csv_path, out_path, delimiter, bind)


def import_generic(
    path: str,
    out_path: str,
    text_column: str,
    label_columns: Sequence[str] | str,
    label_rule: str = "any",
    positive_threshold: float = 0.5,
    delimiter: str | None = None,
) -> ImportReport:
    """Import any delimited file with a text column and one or more label columns.

    The label is 1.0 when any (``label_rule="any"``) or all (``"all"``) of the label columns
    is true-ish (true/t/yes/y) or a number >= positive_threshold, else 0.0; a row with an
    empty or unparseable label in any label column is skipped. Invalid UTF-8 is replaced.
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

    return _import(path, out_path, delimiter, bind)


def _import(
    path: str, out_path: str, delimiter: str | None, bind: Callable[[list[str]], RowConverter]
) -> ImportReport:
    from ingest.tfrecords import make_example, write_examples

    path, out_path = os.fspath(path), os.fspath(out_path)
    _check_paths(path, out_path)
    delimiter = _normalize_delimiter(delimiter)
    csv.field_size_limit(_FIELD_SIZE_LIMIT)
    report = ImportReport(path=path, out_path=out_path)

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        if delimiter is None:
            delimiter = _detect_delimiter(path, f.read(_SNIFF_BYTES))
            f.seek(0)
        reader = csv.reader(f, delimiter=delimiter)
        header = next((row for row in reader if row), None)
        if header is None:
            raise DatasetImportError(f"{path}: the file is empty (no header row)")
        header = [name.strip() for name in header]
        convert = bind(header)

        def examples():
            last_line = reader.line_num
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    report.skipped.append((last_line + 1, f"CSV error: {e}"))
                    last_line = reader.line_num
                    continue
                # The record starts on the line after the previous one ended, which stays
                # right when an earlier quoted field spans several lines.
                line, last_line = last_line + 1, reader.line_num
                if not row:
                    report.blank_lines += 1
                    continue
                try:
                    _check_width(row, header)
                    text, label, identities = convert(row)
                except _BadRow as e:
                    report.skipped.append((line, str(e)))
                    continue
                report.positives += int(label == 1.0)
                report.replacement_char_rows += int("\ufffd" in text)
                yield make_example(text, label, identities)

        stream = examples()
        # Pulling the first example before opening the writer means a file with no valid
        # row leaves no output behind and never replaces an existing one.
        first = next(stream, None)
        if first is None:
            raise DatasetImportError(
                f"{path}: no valid rows to import ({len(report.skipped)} skipped); "
                f"nothing written to {out_path}",
                report,
            )
        report.written = write_examples(out_path, itertools.chain([first], stream))
    return report


def _check_paths(path: str, out_path: str) -> None:
    if not os.path.isfile(path):
        raise DatasetImportError(f"{path}: no such file")
    if os.path.isdir(out_path) or out_path.endswith(("/", os.sep)):
        raise DatasetImportError(
            f"{out_path}: the output must be a file path, e.g. {os.path.join(out_path, 'data.tfrecord')}"
        )
    if os.path.exists(out_path) and os.path.samefile(path, out_path):
        raise DatasetImportError(f"{out_path}: the output would overwrite the input file")


def _normalize_delimiter(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    if delimiter.lower() in ("tab", "\\t"):
        return "\t"
    if len(delimiter) != 1:
        raise DatasetImportError(f"the delimiter must be one character or 'tab', got {delimiter!r}")
    return delimiter


def _detect_delimiter(path: str, sample: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    if extension in (".tsv", ".tab"):
        return "\t"
    if extension == ".csv":
        return ","
    first_line = sample.splitlines()[0] if sample else ""
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=_SNIFF_DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    # The sniffer can be misled by quoted text; an unquoted header line rarely is.
    if sniffed is not None and (sniffed in first_line or not first_line):
        return sniffed
    counts = {d: first_line.count(d) for d in _SNIFF_DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _missing_column(path: str, header: list[str], column: str, role: str) -> DatasetImportError:
    return DatasetImportError(
        f"{path}: missing {role} column {column!r}; columns found: {', '.join(map(repr, header))}"
    )


def _require(path: str, header: list[str], column: str, role: str) -> int:
    if column not in header:
        raise _missing_column(path, header, column, role)
    return header.index(column)


def _check_width(row: list[str], header: list[str]) -> None:
    if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
        raise _BadRow(
            f"row has {len(row)} fields but the header has {len(header)} "
            "(an unquoted delimiter in the text?)"
        )


def _cell(row: list[str], index: int, header: list[str]) -> str:
    if index >= len(row):
        raise _BadRow(
            f"missing value for {header[index]!r} (row has {len(row)} of {len(header)} fields)"
        )
    return row[index]


def _text(row: list[str], index: int, header: list[str]) -> str:
    if index >= len(row):
        raise _BadRow(f"missing text (row has {len(row)} of {len(header)} fields)")
    text = row[index]
    if not text.strip():
        raise _BadRow("empty text")
    return text


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _score(value: str, column: str) -> float:
    stripped = value.strip()
    if not stripped:
        raise _BadRow(f"empty label in {column!r}")
    lowered = stripped.lower()
    if lowered in _TRUE_WORDS:
        return 1.0
    if lowered in _FALSE_WORDS:
        return 0.0
    try:
        number = float(stripped)
    except ValueError:
        raise _BadRow(f"unparseable label {_short(stripped)} in {column!r}") from None
    if not math.isfinite(number):
        raise _BadRow(f"unparseable label {_short(stripped)} in {column!r}")
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
        raise _BadRow(f"malformed {column} list ({len(stripped)} characters)")
    try:
        parsed = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise _BadRow(f"malformed {column} list {_short(stripped)}") from None
    if not isinstance(parsed, list | tuple) or not all(isinstance(v, str) for v in parsed):
        raise _BadRow(f"{column} is not a list of strings: {_short(stripped)}")
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
    parser.add_argument("--input", required=True, metavar="PATH", help="CSV or TSV file to read")
    parser.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="TFRecord file to write, e.g. DATA/train/data.tfrecord or DATA/eval/data.tfrecord "
        "(written atomically; existing file replaced)",
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
    return parser


def run_import(args: argparse.Namespace) -> int:
    """Run the importer args ask for and print its report.

    Returns 0 when rows were written, 1 on an import error (message on stderr, no
    traceback) and 2 on a usage error.
    """
    fmt = args.format
    text_column = getattr(args, "text_column", None)
    label_columns = getattr(args, "label_columns", None)
    label_rule = getattr(args, "label_rule", None)
    threshold = getattr(args, "threshold", None)
    delimiter = getattr(args, "delimiter", None)

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
                delimiter=delimiter,
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
            report = importer(args.input, args.output, delimiter=delimiter)
        else:
            return usage(f"unknown --format {fmt!r}; choose from {', '.join(FORMATS)}")
    except DatasetImportError as e:
        if e.report is not None and e.report.skipped:
            print(e.report.summary(), file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
