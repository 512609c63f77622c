"""Open and check the delimited text files the importers read.

Everything here is about the file, not its rows: compression, encoding, delimiter, the header,
and quoted fields that ran on past their row. Each problem is a ``DatasetImportError`` whose
one-line message names the file, where the problem is, and the option or edit that fixes it.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import lzma
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

_SNIFF_DELIMITERS = ",\t;|"
_HEAD_BYTES = 4096
_SCAN_CHUNK = 1 << 20

# (magic bytes, what it is, opener); read transparently, so a downloaded .gz needs no gunzip.
_COMPRESSED = (
    (b"\x1f\x8b", "gzip", gzip.open),
    (b"BZh", "bzip2", bz2.open),
    (b"\xfd7zXZ\x00", "xz", lzma.open),
)
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".xz")
_ZIP_MAGIC = b"PK\x03\x04"
# Longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BOM_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}

# Runaway quoted fields: a field over max_field_lines lines always is one; a shorter one of
# at least _RUNAWAY_MIN_LINES lines is one when most of its lines look like rows (they hold a
# row's worth of delimiters) and it is _RUNAWAY_RATIO times longer than every field outside
# such fields. Real multi-line comments (13 lines at most in the shared Wikipedia data) have
# few delimiter-laden lines and are not that much longer than the file's other long texts.
_RUNAWAY_MIN_LINES = 10
_RUNAWAY_RATIO = 10


class DatasetImportError(ValueError):
    """The file cannot be imported: a missing file or column, unreadable text, a runaway
    quoted field, too many bad rows, or no valid row at all. Nothing was written."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


@dataclass
class Source:
    """An open input file: its text, the codec that decodes it and what the reader noticed."""

    file: io.TextIOBase
    encoding: str
    compression: str | None
    notes: list[str] = field(default_factory=list)


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise DatasetImportError(
            f"unknown --encoding {name!r}; use a Python codec name such as utf-8, latin-1, "
            "cp1252 or utf-16"
        ) from None


def _compression(path: str) -> tuple[str | None, object]:
    with open(path, "rb") as raw:
        magic = raw.read(8)
    if magic.startswith(_ZIP_MAGIC):
        raise DatasetImportError(
            f"{path}: a zip archive, not a CSV/TSV file; extract the file from it first "
            f"(unzip {path}) and import that"
        )
    for prefix, name, opener in _COMPRESSED:
        if magic.startswith(prefix):
            return name, opener
    return None, open


def _choose_encoding(path: str, head: bytes, encoding: str | None) -> tuple[str, str | None]:
    """The codec to read with, and a note when a byte-order mark chose it."""
    bom = next((codec for mark, codec in _BOMS if head.startswith(mark)), None)
    if encoding is None:
        if bom is None:
            _refuse_bomless_utf16(path, head)
            return "utf-8", None
        if bom == "utf-8-sig":
            return bom, None
        return bom, f"Read as {_BOM_NAMES[bom]} (the file starts with its byte-order mark)."
    codec = _codec(encoding)
    if bom is not None and not codec.startswith(bom.removesuffix("-sig")):
        raise DatasetImportError(
            f"{path}: the file starts with a {_BOM_NAMES[bom]} byte-order mark, so it is "
            f"{_BOM_NAMES[bom]} text, not {encoding}; drop --encoding (the mark is read "
            "automatically)"
        )
    # The BOM-aware codec of the family given, so that the mark is not read as text.
    return (bom, None) if bom is not None else (codec, None)


def _refuse_bomless_utf16(path: str, head: bytes) -> None:
    # ASCII text in UTF-16 has a zero byte next to every character; UTF-8 text has none.
    even, odd = head[0::2], head[1::2]
    if len(head) < 4 or (even.count(0) + odd.count(0)) < len(head) // 4:
        return
    variant = "utf-16-le" if odd.count(0) > even.count(0) else "utf-16-be"
    raise DatasetImportError(
        f"{path}: looks like UTF-16 text without a byte-order mark (every other byte is zero); "
        f"rerun with --encoding {variant}"
    )


@contextlib.contextmanager
def open_source(path: str, encoding: str | None, errors: str) -> Iterator[Source]:
    """Open path as text: decompressed when gzip/bzip2/xz, decoded as encoding, or by its
    byte-order mark, or as UTF-8. Decoding errors surface while reading (see decode_error)."""
    compression, opener = _compression(path)
    try:
        with opener(path, "rb") as binary:
            head = binary.read(_HEAD_BYTES)
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise DatasetImportError(
            f"{path}: {compression}-compressed, but it cannot be decompressed ({e}); "
            "the file is damaged or cut short, download it again"
        ) from None
    codec, note = _choose_encoding(path, head, encoding)
    source_notes = [f"Read {compression}-compressed input."] if compression else []
    source_notes += [note] if note else []
    with opener(path, "rb") as binary:
        text = io.TextIOWrapper(binary, encoding=codec, errors=errors, newline="")
        yield Source(text, codec, compression, source_notes)


def decode_error(path: str, source_encoding: str, compression: str | None, given: bool) -> str:
    """The message for a file that does not decode: the line and bytes of the first problem,
    and the options that read it (another --encoding, or --encoding-errors replace)."""
    line, bad = _first_undecodable(path, source_encoding, compression)
    name = "UTF-8" if source_encoding.startswith("utf-8") else source_encoding
    where = f"bytes {bad!r} on line {line}" if bad else "the end of the file"
    if source_encoding.startswith("utf-8") and not given:
        fix = "if it is Latin-1, rerun with --encoding latin-1 (Windows-1252: --encoding cp1252)"
    else:
        fix = "rerun with the file's real encoding in --encoding"
    return (
        f"{path}: not valid {name} text: {where} cannot be decoded; {fix}, or keep {name} and "
        "replace undecodable bytes with U+FFFD using --encoding-errors replace"
    )


def _first_undecodable(path: str, encoding: str, compression: str | None) -> tuple[int, bytes]:
    opener = next((o for _, name, o in _COMPRESSED if name == compression), open)
    line, carry = 1, b""
    with opener(path, "rb") as binary:
        while True:
            chunk = binary.read(_SCAN_CHUNK)
            data = carry + chunk
            try:
                data.decode(encoding)
            except UnicodeDecodeError as e:
                # A character cut by the chunk boundary is finished by the next chunk.
                if chunk and e.start >= len(data) - 4:
                    line += data[: e.start].count(b"\n")
                    carry = data[e.start :]
                    continue
                return line + data[: e.start].count(b"\n"), data[e.start : e.end]
            if not chunk:
                return line + data.count(b"\n"), b""
            line += data.count(b"\n")
            carry = b""


def strip_compression_suffix(path: str) -> str:
    root, extension = os.path.splitext(path)
    return root if extension.lower() in _COMPRESSED_SUFFIXES else path


def normalize_delimiter(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    if delimiter.lower() in ("tab", "\\t"):
        return "\t"
    if len(delimiter) != 1:
        raise DatasetImportError(f"the delimiter must be one character or 'tab', got {delimiter!r}")
    return delimiter


def detect_delimiter(path: str, sample: str) -> str:
    extension = os.path.splitext(strip_compression_suffix(path))[1].lower()
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


def short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_header(path: str, header: list[str], first_line: int, last_line: int) -> None:
    """Refuse a header that swallowed rows or repeats a column name.

    With a repeated name a lookup would silently take the first of the columns, which may be
    the empty one. Unnamed columns (trailing delimiters) are never looked up, so they may repeat.
    """
    if last_line > first_line and any("\n" in name for name in header):
        raise DatasetImportError(
            f"{path}: the header row runs from line {first_line} to line {last_line}: a quote "
            f"in it is never closed; fix the quoting of line {first_line}"
        )
    positions: dict[str, list[int]] = {}
    for number, name in enumerate(header, start=1):
        if name:
            positions.setdefault(name, []).append(number)
    repeated = {name: numbers for name, numbers in positions.items() if len(numbers) > 1}
    if repeated:
        listed = "; ".join(
            f"{short(name)} (columns {', '.join(map(str, numbers))})"
            for name, numbers in repeated.items()
        )
        raise DatasetImportError(
            f"{path}: the header repeats column names: {listed}; rename or drop the extra "
            "columns so that each name is unique"
        )


@dataclass
class _LongField:
    line: int
    lines: int
    length: int
    row_like: int


class RunawayFields:
    """Watches the fields of every row for quoted fields that ran on past their row."""

    def __init__(self, delimiter: str, width: int, max_lines: int):
        self.delimiter, self.width, self.max_lines = delimiter, width, max_lines
        self.min_lines = min(_RUNAWAY_MIN_LINES, max_lines + 1)
        self.long_fields: list[_LongField] = []
        self.longest_other = 0

    def add(self, line: int, end_line: int, row: list[str]) -> None:
        """Note one row that runs from line to end_line."""
        if not self.max_lines:
            return
        start, found = line, False
        for cell in row:
            # A quote left open at the end of the file holds the last line break too.
            lines = min(cell.count("\n") + 1, end_line - start + 1)
            if lines >= self.min_lines:
                embedded = cell.split("\n")[1:]
                row_like = sum(part.count(self.delimiter) >= self.width - 1 for part in embedded)
                self.long_fields.append(_LongField(start, lines, len(cell), row_like))
                found = True
            start += lines - 1
        if not found:
            self.longest_other = max(self.longest_other, max(map(len, row), default=0))

    def runaways(self) -> list[_LongField]:
        return [
            f
            for f in self.long_fields
            if f.lines > self.max_lines
            or (
                2 * f.row_like >= f.lines - 1
                and f.length >= _RUNAWAY_RATIO * max(1, self.longest_other)
            )
        ]

    def check(self, path: str) -> None:
        found = self.runaways()
        if not found:
            return
        first = found[0]
        looks = f", {first.row_like} of which look like rows" if first.row_like else ""
        also = ""
        if len(found) > 1:
            also = f" (more on lines {', '.join(str(f.line) for f in found[1:6])})"
        raise DatasetImportError(
            f"{path}: the quoted field starting on line {first.line} runs over {first.lines} "
            f"lines, to line {first.line + first.lines - 1}{looks}: its quote is probably never "
            f"closed, so the rows after it were read as its text. Fix the quote on line "
            f'{first.line}{also} (a quote inside a quoted field is written twice, ""); if the '
            "text really is like that, --max-field-lines 0 turns this check off"
        )
