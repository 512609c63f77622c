"""`local_runner.py predict`: score texts with the champion, the newest complete pushed model."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys

from pipeline import set_verbosity
from runners import cli
from runners.commands import PROJECT_ROOT, HelpFormatter, add_verbose_argument

STDIN_PROMPT = "reading texts from stdin, one per line; Ctrl-D to end"
USAGE = "usage: local_runner.py predict TEXT [TEXT ...], or --file FILE with one text per line"


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to score")
    parser.add_argument("--file", help="a file with one text per line ('-': stdin)")
    parser.add_argument("--serving-dir", help="push folder (default: OUTPUT/serving)")
    parser.add_argument("--output", default=str(PROJECT_ROOT / "outputs"), help="pipeline root")
    parser.add_argument(
        "--batch-size", type=cli.positive_int, default=256, help="texts scored at a time"
    )
    add_verbose_argument(parser)


def predict(args) -> int:
    """Score texts with the newest complete pushed model; JSON lines on stdout."""
    set_verbosity(getattr(args, "verbose", False))
    with contextlib.ExitStack() as stack:
        stream = None
        if args.file and args.file != "-":
            # Opened before the model loads (seconds), so that a mistyped path fails at once.
            path = os.path.abspath(args.file)
            try:
                stream = stack.enter_context(open(path, "rb"))
            except OSError as error:
                print(
                    f"error: cannot read --file {path}: {error.strerror}; pass a text file "
                    "with one text per line, or '-' for stdin",
                    file=sys.stderr,
                )
                return 1
        elif args.file == "-" or not args.texts:
            stream = sys.stdin.buffer
            if sys.stdin.isatty():
                print(STDIN_PROMPT, file=sys.stderr, flush=True)
        # Read before the model loads: an empty input is a usage error, not zero results.
        first = stream.readline() if stream is not None else b""
        if not first and not args.texts:
            source = (
                "--file " + os.path.abspath(args.file)
                if args.file and args.file != "-"
                else "stdin"
            )
            print(f"error: no text to score: {source} is empty; {USAGE}", file=sys.stderr)
            return 1
        if first:
            stream = itertools.chain([first], stream)
        from components import serving

        serving_dir = os.path.abspath(args.serving_dir or os.path.join(args.output, "serving"))
        try:
            model_dir = serving.latest_model_dir(serving_dir)
            scorer = serving.load_scorer(model_dir)
        except serving.ServingError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        candidate = serving.read_marker(model_dir).get("candidate") or "unknown candidate"
        print(f"Model: {model_dir} ({candidate})", file=sys.stderr, flush=True)
        # argv holds undecodable bytes as surrogates; give them the U+FFFD that Transform would.
        texts = [os.fsencode(t).decode("utf-8", "replace") for t in args.texts]
        lines = serving.read_lines(stream) if stream is not None else ()
        for record in serving.predict(scorer, itertools.chain(texts, lines), args.batch_size):
            print(serving.to_json_line(record))
    return 0
