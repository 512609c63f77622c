"""`local_runner.py import`: the command line of the CSV/TSV importers (ingest/importers.py)."""

from __future__ import annotations

import argparse
import math
import sys

from ingest.import_rows import (
    DEFAULT_MAX_FIELD_LINES,
    DEFAULT_MAX_SKIPPED_SHARE,
    ENCODING_ERRORS,
)
from ingest.importers import (
    FORMATS,
    LABEL_RULES,
    DatasetImportError,
    import_civil_comments,
    import_generic,
    import_wiki_toxicity,
)

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
