"""The row loop the importers share: read options, the report, the checks that fail an
import, and the all-or-nothing write of its output."""

from __future__ import annotations

import contextlib
import csv
import itertools
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.csv_input import (
    DatasetImportError,
    RunawayFields,
    Source,
    check_header,
    decode_error,
    detect_delimiter,
    normalize_delimiter,
    open_source,
)

ENCODING_ERRORS = ("strict", "replace")
DEFAULT_MAX_SKIPPED_SHARE = 0.01
DEFAULT_MAX_FIELD_LINES = 100

_SNIFF_BYTES = 64 * 1024
# Comments of 100k+ characters exist; the csv default of 128 KiB would reject them. The cap
# keeps the value inside a C long on every platform.
_FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)
_SUMMARY_ROWS = 20


class BadRow(Exception):
    """One row cannot be used; the message is the reason shown in the report."""


@dataclass
class ImportReport:
    """What an import read, wrote and skipped (skipped rows by line number in the input).

    ``written`` counts the valid rows; ``out_path`` is set once they are in the output file,
    so a failed import has valid rows but no ``out_path``.
    """

    path: str
    written: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    out_path: str | None = None
    positives: int = 0
    blank_lines: int = 0
    replacement_char_rows: int = 0
    replacing: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.written + len(self.skipped)

    @property
    def share_skipped(self) -> float:
        return len(self.skipped) / self.read if self.read else 0.0

    @property
    def positive_rate(self) -> float:
        return self.positives / self.written if self.written else 0.0

    def summary(self, max_rows: int = _SUMMARY_ROWS) -> str:
        """Counts, then the first max_rows skipped rows with line numbers and reasons."""
        if self.out_path:
            outcome = f"wrote {self.written} into {self.out_path}"
        else:
            outcome = f"{self.written} valid, nothing written"
        lines = [
            *self.notes,
            f"Read {self.read} rows from {self.path}: {outcome}; skipped {len(self.skipped)} "
            f"rows ({self.share_skipped:.1%}).",
        ]
        if self.written:
            lines.append(
                f"Labels: {self.positives} toxic ({self.positive_rate:.1%}), "
                f"{self.written - self.positives} non-toxic."
            )
        if self.blank_lines:
            lines.append(f"Ignored {self.blank_lines} blank lines.")
        if self.replacing and self.replacement_char_rows:
            lines.append(
                f"warning: {self.replacement_char_rows} rows contain U+FFFD: undecodable "
                "bytes were replaced (--encoding-errors replace), their characters are lost."
            )
        if self.skipped:
            shown = self.skipped[:max_rows]
            lines.append(f"Skipped rows (first {len(shown)} of {len(self.skipped)}):")
            lines.extend(f"  line {line}: {reason}" for line, reason in shown)
            if len(self.skipped) > len(shown):
                lines.append(f"  ... and {len(self.skipped) - len(shown)} more")
        return "\n".join(lines)


# (text, 0.0/1.0 label, identity lists or None) from one row, or BadRow.
RowConverter = Callable[[list[str]], tuple]


@dataclass(frozen=True)
class ReadOptions:
    """How to read the input file and how much of it may be lost; see add_import_arguments."""

    delimiter: str | None = None
    encoding: str | None = None
    encoding_errors: str = "strict"
    max_skipped_share: float = DEFAULT_MAX_SKIPPED_SHARE
    max_field_lines: int = DEFAULT_MAX_FIELD_LINES

    def __post_init__(self):
        if self.encoding_errors not in ENCODING_ERRORS:
            raise DatasetImportError(
                f"encoding_errors must be one of {ENCODING_ERRORS}, got {self.encoding_errors!r}"
            )
        if not 0.0 <= self.max_skipped_share <= 1.0:
            raise DatasetImportError(
                f"--max-skipped-share must be between 0 and 1, got {self.max_skipped_share!r}"
            )
        if self.max_field_lines < 0:
            raise DatasetImportError(
                f"--max-field-lines must be 0 (no check) or more, got {self.max_field_lines!r}"
            )


def import_rows(
    path: str, out_path: str, bind: Callable[[list[str]], RowConverter], options: ReadOptions
) -> ImportReport:
    """Convert every row of path with the converter bind makes from the header, and write the
    examples to out_path only when every check passes (else DatasetImportError)."""
    path, out_path = os.fspath(path), os.fspath(out_path)
    _check_paths(path, out_path)
    delimiter = normalize_delimiter(options.delimiter)
    csv.field_size_limit(_FIELD_SIZE_LIMIT)
    report = ImportReport(path=path, replacing=options.encoding_errors == "replace")
    with open_source(path, options.encoding, options.encoding_errors) as source:
        report.notes.extend(source.notes)
        try:
            _convert_file(source, delimiter, bind, options, report, out_path)
        except UnicodeDecodeError:
            given = options.encoding is not None
            message = decode_error(path, source.encoding, source.compression, given)
            raise DatasetImportError(f"{message}; nothing written to {out_path}", report) from None
        except EOFError:
            raise DatasetImportError(
                f"{path}: the {source.compression}-compressed data is cut short; the file is "
                f"incomplete, download it again; nothing written to {out_path}",
                report,
            ) from None
    return report


def _convert_file(
    source: Source,
    delimiter: str | None,
    bind: Callable[[list[str]], RowConverter],
    options: ReadOptions,
    report: ImportReport,
    out_path: str,
) -> None:
    """Read, check and convert every row, then put the output in place if all checks pass."""
    from ingest.tfrecords import make_example

    path = report.path
    if delimiter is None:
        delimiter = detect_delimiter(path, source.file.read(_SNIFF_BYTES))
        source.file.seek(0)
    reader = csv.reader(source.file, delimiter=delimiter)
    header = next((row for row in reader if row), None)
    if header is None:
        raise DatasetImportError(f"{path}: the file is empty (no header row)", report)
    header = [name.strip() for name in header]
    check_header(path, header, _header_start(reader, header), reader.line_num)
    convert = bind(header)
    runaways = RunawayFields(delimiter, len(header), options.max_field_lines)

    def examples():
        for line, row in _rows(reader, report):
            runaways.add(line, reader.line_num, row)
            try:
                check_width(row, header)
                text, label, identities = convert(row)
            except BadRow as e:
                report.skipped.append((line, str(e)))
                continue
            report.written += 1
            report.positives += int(label == 1.0)
            report.replacement_char_rows += int("\ufffd" in text)
            yield make_example(text, label, identities)

    def check(*, share: bool = True) -> None:
        try:
            runaways.check(path)  # first: a runaway field explains the skipped and lost rows
            if share:
                _check_skipped_share(report, options)
        except DatasetImportError as e:
            raise DatasetImportError(f"{e}; nothing written to {out_path}", report) from None

    stream = examples()
    # Pulling the first example before opening the output means a file with no valid row
    # leaves no output (not even a folder) behind and never replaces an existing one.
    first = next(stream, None)
    if first is None:
        check(share=False)
        raise DatasetImportError(
            f"{path}: no valid rows to import ({len(report.skipped)} skipped); "
            f"nothing written to {out_path}",
            report,
        )
    _write_checked(out_path, itertools.chain([first], stream), check)
    report.out_path = out_path


def _header_start(reader, header: list[str]) -> int:
    return reader.line_num - sum(name.count("\n") for name in header)


def _rows(reader, report: ImportReport):
    """(line where the record starts, fields) for every non-blank record after the header."""
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
        # The record starts on the line after the previous one ended, which stays right
        # when an earlier quoted field spans several lines.
        line, last_line = last_line + 1, reader.line_num
        if not row:
            report.blank_lines += 1
            continue
        yield line, row


def _check_skipped_share(report: ImportReport, options: ReadOptions) -> None:
    if not report.read or report.share_skipped <= options.max_skipped_share:
        return
    suggestion = math.ceil(report.share_skipped * 100) / 100
    raise DatasetImportError(
        f"{report.path}: skipped {len(report.skipped)} of {report.read} rows "
        f"({report.share_skipped:.1%}), more than --max-skipped-share "
        f"{options.max_skipped_share:g} allows; fix the rows listed, or rerun with "
        f"--max-skipped-share {suggestion:g} to accept the loss"
    )


def _write_checked(out_path: str, examples, check: Callable[[], None]) -> None:
    """Write examples to a temporary file next to out_path and move it there only when check
    passes after the last row; on any failure remove the file and the folders made for it."""
    from ingest.tfrecords import write_examples

    folder = os.path.dirname(os.path.abspath(out_path))
    made = missing_folders(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise DatasetImportError(_unwritable_output(out_path, folder, error)) from None
    scratch = tempfile.mkdtemp(prefix=".import-", dir=folder)
    try:
        tmp = os.path.join(scratch, "data.tfrecord")
        write_examples(tmp, examples)
        check()
        os.replace(tmp, out_path)
        made = []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for created in made:
            with contextlib.suppress(OSError):
                os.rmdir(created)


def _unwritable_output(out_path: str, folder: str, error: OSError) -> str:
    """Name the output path, what stands in the way, and the fix."""
    blocker = folder
    while blocker and not os.path.exists(blocker):
        blocker = os.path.dirname(blocker)
    if os.path.exists(blocker) and not os.path.isdir(blocker):
        why = f"{blocker} is a file, not a folder"
    else:
        why = error.strerror or str(error)
    return (
        f"cannot write --output {out_path}: cannot create its folder {folder} ({why}); "
        "choose an --output path in a folder you can write to"
    )


def missing_folders(folder: str) -> list[str]:
    """The folders, deepest first, that os.makedirs(folder) would create."""
    missing = []
    while folder and not os.path.exists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def check_width(row: list[str], header: list[str]) -> None:
    if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
        raise BadRow(
            f"row has {len(row)} fields but the header has {len(header)} "
            "(an unquoted delimiter in the text?)"
        )


def _check_paths(path: str, out_path: str) -> None:
    if not os.path.isfile(path):
        raise DatasetImportError(f"{path}: no such file")
    if os.path.isdir(out_path) or out_path.endswith(("/", os.sep)):
        raise DatasetImportError(
            f"{out_path}: the output must be a file path, e.g. {os.path.join(out_path, 'data.tfrecord')}"
        )
    if os.path.exists(out_path) and os.path.samefile(path, out_path):
        raise DatasetImportError(f"{out_path}: the output would overwrite the input file")
