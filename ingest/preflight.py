"""Pre-flight check of the input TFRecord files, before the pipeline starts.

ImportExampleGen reads the files with Beam; a truncated file, a record with a bad CRC or a file
that is not a TFRecord file at all stops it with a long Beam traceback that names neither the
file nor the record. This check reads every file the pipeline will read (the same split
patterns, matched the way Beam matches them) and raises `DataFileError` naming the file, the
record index and the problem. It also counts empty comments: they are valid input (Transform
turns them into an all-padding token sequence) but worth knowing about.

Schema problems (missing or wrongly typed features, labels out of range, new features) are
left to ExampleValidator and DataCheck, which judge the data against the curated schema.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import time
from dataclasses import dataclass, field

from contract import LABEL_KEY, TEXT_KEY

BATCH = 4096
# Beam picks the codec from the extension; TFRecordDataset reads these two as well.
COMPRESSION = {".gz": "GZIP", ".deflate": "ZLIB"}
UNCHECKED_EXTENSIONS = (".bz2", ".zst", ".zstd", ".lzma", ".xz", ".snappy")
_LOSS = re.compile(r"(truncated|corrupted) record at (\d+)")
GZIP_MAGIC = b"\x1f\x8b"
# The trainer's binarisation (trainer_modules/preprocessing.py).
TOXIC_AT = 0.5


class DataFileError(ValueError):
    """An input file cannot be read as TFRecords of tf.Example."""


@dataclass
class FileReport:
    path: str
    records: int = 0
    empty_comments: int = 0
    first_empty: int | None = None
    note: str = ""
    checked: bool = True
    toxic: int = 0
    non_toxic: int = 0
    # False when some label is not a float: the schema check names that, not the class count.
    labels_counted: bool = True


@dataclass
class DataReport:
    splits: dict[str, list[FileReport]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(f.records for files in self.splits.values() for f in files)

    def lines(self) -> list[str]:
        files = [f for fs in self.splits.values() for f in fs]
        out = [
            f"Input check: {len(files)} file(s), {self.records} records, framing and CRCs "
            f"intact ({self.seconds:.1f} s)."
        ]
        for f in files:
            if f.empty_comments:
                out.append(
                    f"  note: {f.path}: {f.empty_comments} record(s) with an empty "
                    f"{TEXT_KEY} (first: record {f.first_empty}); kept, they score as "
                    "an empty text"
                )
            if f.note:
                out.append(f"  note: {f.path}: {f.note}")
        return out


def match_files(pattern: str) -> list[str]:
    """The files Beam's ReadFromTFRecord reads for a pattern (hidden files included)."""
    from apache_beam.io.filesystems import FileSystems

    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _compression(path: str) -> str:
    return COMPRESSION.get(os.path.splitext(path)[1].lower(), "")


def _record_starts(path: str):
    """Byte offsets (in the decompressed stream) where records start, read from the headers."""
    opener = gzip.open if _compression(path) == "GZIP" else open
    offset = 0
    with opener(path, "rb") as f:
        while True:
            header = f.read(12)
            if len(header) < 12:
                return
            yield offset
            (length,) = struct.unpack("<Q", header[:8])
            offset += 12 + length + 4
            f.seek(offset)


def _locate(path: str, offset: int) -> tuple[int, int] | None:
    """(index, start offset) of the record holding a byte offset. TensorFlow reports a bad
    header at the record's start and a bad payload at start + 12."""
    if _compression(path) == "ZLIB":
        return None
    found = None
    for index, start in enumerate(_record_starts(path)):
        if start > offset:
            break
        found = (index, start)
    return found


def _starts_with(path: str, magic: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def _loss_error(path: str, message: str) -> DataFileError:
    found = _LOSS.search(message)
    if not found:
        return DataFileError(f"{path}: unreadable TFRecord file: {message.strip()}")
    kind, offset = found.group(1), int(found.group(2))
    if kind == "corrupted" and offset == 0 and "Is this even a TFRecord file" in message:
        if _starts_with(path, GZIP_MAGIC):
            return DataFileError(
                f"{path}: gzip-compressed, but its name does not end in .gz, so it is read as "
                f"plain TFRecords (the codec follows the extension); rename it to "
                f"{os.path.basename(path)}.gz"
            )
        return DataFileError(
            f"{path}: not a TFRecord file (the first record's length header fails its CRC "
            "check); convert CSV/TSV files with `local_runner.py import`"
        )
    located = _locate(path, offset)
    where = f"record {located[0]} (byte offset {located[1]})" if located else f"byte {offset}"
    if kind == "truncated":
        return DataFileError(
            f"{path}: truncated: {where} is cut short, the file ends in the middle of it "
            "(an interrupted copy or write?)"
        )
    return DataFileError(f"{path}: corrupted {where}: its CRC checksum does not match its bytes")


def _content_pass(path: str) -> FileReport:
    """Records and empty comments of a file, in batches inside TensorFlow."""
    import tensorflow as tf

    spec = {TEXT_KEY: tf.io.VarLenFeature(tf.string), LABEL_KEY: tf.io.VarLenFeature(tf.float32)}

    def per_batch(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        texts, labels = parsed[TEXT_KEY], parsed[LABEL_KEY].values
        blank = tf.strings.length(tf.strings.strip(texts.values)) == 0
        rows = tf.boolean_mask(texts.indices[:, 0], blank)
        first = tf.cond(
            tf.size(rows) > 0, lambda: tf.reduce_min(rows), lambda: tf.constant(-1, tf.int64)
        )
        return (
            tf.shape(serialized, out_type=tf.int64)[0],
            tf.size(tf.unique(rows).y, tf.int64),
            first,
            tf.reduce_sum(tf.cast(labels >= TOXIC_AT, tf.int64)),
            tf.reduce_sum(tf.cast(labels < TOXIC_AT, tf.int64)),
        )

    report = FileReport(path)
    dataset = tf.data.TFRecordDataset(
        path, compression_type=_compression(path), buffer_size=1 << 20
    )
    for n, empty, first, toxic, non_toxic in (
        dataset.batch(BATCH).map(per_batch).as_numpy_iterator()
    ):
        if empty and report.first_empty is None:
            report.first_empty = report.records + int(first)
        report.records += int(n)
        report.empty_comments += int(empty)
        report.toxic += int(toxic)
        report.non_toxic += int(non_toxic)
    return report


def _framing_pass(path: str) -> int:
    import tensorflow as tf

    dataset = tf.data.TFRecordDataset(
        path, compression_type=_compression(path), buffer_size=1 << 20
    )
    return int(
        dataset.batch(BATCH)
        .map(lambda s: tf.shape(s, out_type=tf.int64)[0])
        .reduce(tf.constant(0, tf.int64), lambda total, n: total + n)
    )


def _record_by_record(path: str) -> FileReport:
    """Slow path after a parse failure: find an undecodable record, or count what we can."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    report = FileReport(path, records=_framing_pass(path))
    dataset = tf.data.TFRecordDataset(path, compression_type=_compression(path))
    for index, record in enumerate(dataset.as_numpy_iterator()):
        try:
            example = tf.train.Example.FromString(record)
        except DecodeError:
            raise DataFileError(
                f"{path}: record {index} is not a serialized tf.Example "
                f"({len(record)} bytes with a valid CRC)"
            ) from None
        _count_label(report, example.features.feature.get(LABEL_KEY))
        feature = example.features.feature.get(TEXT_KEY)
        if feature is None:
            continue
        if feature.WhichOneof("kind") != "bytes_list":
            # The schema check reports wrongly typed features; counting stops here.
            report.note = f"empty comments not counted: {TEXT_KEY} is not text in record {index}"
            report.labels_counted = False
            return report
        if any(not v.strip() for v in feature.bytes_list.value):
            report.empty_comments += 1
            if report.first_empty is None:
                report.first_empty = index
    return report


def _count_label(report: FileReport, feature) -> None:
    if feature is None:
        return
    if feature.WhichOneof("kind") != "float_list":
        report.labels_counted = False
        return
    for value in feature.float_list.value:
        if value >= TOXIC_AT:
            report.toxic += 1
        elif value < TOXIC_AT:
            report.non_toxic += 1


def check_file(path: str) -> FileReport:
    import tensorflow as tf

    if path.lower().endswith(UNCHECKED_EXTENSIONS):
        return FileReport(
            path, note="compressed with a codec this check cannot read; not checked", checked=False
        )
    try:
        return _content_pass(path)
    except tf.errors.DataLossError as error:
        raise _loss_error(path, error.message) from None
    except (tf.errors.InvalidArgumentError, UnicodeDecodeError):
        # A record that is not a tf.Example, or a wrongly typed comment_text. TensorFlow puts
        # the record's bytes into its error message, and fails to decode non-UTF-8 ones.
        try:
            return _record_by_record(path)
        except tf.errors.DataLossError as error:
            raise _loss_error(path, error.message) from None


def data_layout(folder: str) -> tuple[str, ...]:
    """The split folders of a --data folder: ("train", "eval"), ("train", "validation",
    "eval"), or () for files to hash-split; DataFileError for a layout the pipeline would
    misread (ExampleGen reads only these folders as splits, and hash-splits the files of the
    folder itself otherwise)."""
    if not os.path.isdir(folder):
        raise DataFileError(f"--data folder not found: {folder}")
    folders = sorted(
        e
        for e in os.listdir(folder)
        if not e.startswith(".") and os.path.isdir(os.path.join(folder, e))
    )
    if any(f.startswith("Split-") for f in folders):
        raise DataFileError(
            f"--data folder {folder} is in ExampleGen's output layout "
            f"({', '.join(f + '/' for f in folders if f.startswith('Split-'))}); "
            "rename Split-train/ to train/ and Split-eval/ to eval/"
        )
    present = [s for s in ("train", "eval") if s in folders]
    if len(present) == 1 or ("validation" in folders and len(present) < 2):
        missing = sorted({"train", "eval"} - set(present))
        raise DataFileError(
            f"--data folder {folder} has {', '.join(s + '/' for s in [*present, *(['validation'] if 'validation' in folders else [])])} "
            f"but no {' or '.join(m + '/' for m in missing)}; add "
            f"{os.path.join(folder, missing[0])} with its TFRecords, or put all the files "
            "directly in the folder to have them hash-split 8:1:1 (train:validation:eval)"
        )
    split = len(present) == 2
    layout = ("train", "validation", "eval") if split and "validation" in folders else ()
    layout = layout or (("train", "eval") if split else ())
    files = [
        f
        for sub in (layout or ("",))
        for f in os.listdir(os.path.join(folder, sub))
        if not f.startswith(".") and not os.path.isdir(os.path.join(folder, sub, f))
    ]
    if not files and not split and folders:
        raise DataFileError(
            f"--data folder {folder} has only subfolders ({', '.join(folders)}), "
            "no files; put the TFRecords in train/ and eval/ subfolders, or directly in it"
        )
    if not files:
        raise DataFileError(f"--data folder has no data files: {folder}")
    return layout


def split_patterns(data_root: str, split_folders: bool) -> dict[str, str]:
    """Split name to file pattern, exactly as the pipeline's ExampleGen reads them."""
    from pipeline.pipeline import example_gen_input_config

    input_config, _ = example_gen_input_config(split_folders)
    return {s.name: os.path.join(data_root, s.pattern) for s in input_config.splits}


def _check_both_classes(folder: str, split: str, files: list[FileReport]) -> None:
    """A split whose labels are all one class trains a model that can rank nothing (AUC
    undefined or 0), which the gate would refuse later for a misleading reason."""
    if not all(f.checked and f.labels_counted for f in files):
        return
    toxic, non_toxic = sum(f.toxic for f in files), sum(f.non_toxic for f in files)
    if (toxic and non_toxic) or toxic + non_toxic == 0:
        return
    only = "toxic (>= 0.5)" if toxic else "non-toxic (< 0.5)"
    raise DataFileError(
        f"{folder}: all {toxic + non_toxic} {LABEL_KEY} labels in split '{split}' are {only}; "
        "the model needs both classes in each split: check the label column (for `import`, "
        "--label-columns)"
    )


def check_data(data_root: str, split_folders: bool) -> DataReport:
    """Read every input file; DataFileError names the first unreadable file and record."""
    start = time.monotonic()
    report = DataReport()
    for split, pattern in split_patterns(data_root, split_folders).items():
        files = match_files(pattern)
        if not files:
            raise DataFileError(f"{os.path.dirname(pattern)}: no data files for split '{split}'")
        report.splits[split] = [check_file(path) for path in files]
        if all(f.checked and not f.records for f in report.splits[split]):
            raise DataFileError(
                f"{os.path.dirname(pattern)}: split '{split}' has no records "
                f"(files: {', '.join(os.path.basename(p) for p in files)})"
            )
        _check_both_classes(os.path.dirname(pattern), split, report.splits[split])
    report.seconds = time.monotonic() - start
    return report
