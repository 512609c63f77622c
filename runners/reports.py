"""`local_runner.py report`: the fairness report of the candidates' evaluations, side by side.

`run` trains, judges and selects every candidate in one pipeline; this command only reads what
a run left in ML Metadata (the latest run, or the one named by --run-id).
"""

from __future__ import annotations

import argparse
import os
import sys

from runners import cli
from runners.commands import PROJECT_ROOT, HelpFormatter


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    parser.add_argument("--output", default=str(PROJECT_ROOT / "outputs"), help="pipeline root")
    parser.add_argument(
        "--metadata", help="ML Metadata SQLite file (default: OUTPUT/metadata.sqlite)"
    )
    parser.add_argument(
        "--candidates",
        type=cli.candidate_names,
        default=None,
        help="comma-separated candidates, side by side in this order (default: every "
        "candidate of the run)",
    )
    parser.add_argument(
        "--run-id", help="the run to report, as `run` printed it (default: the newest run)"
    )
    parser.add_argument(
        "--mix-runs",
        action="store_true",
        help="each candidate's newest evaluation from whichever run made it, each labelled "
        "with its run and eval rows (default: one run only)",
    )
    parser.add_argument("--report-dir", help="where the report goes (default: OUTPUT/report)")
    parser.add_argument(
        "--no-threshold-matching",
        action="store_true",
        help="skip scoring the eval split for the matched-threshold rates",
    )


def report(args) -> int:
    from report.command import report_command

    output = os.path.abspath(args.output)
    connection = os.path.abspath(args.metadata or os.path.join(output, "metadata.sqlite"))
    if not os.path.exists(connection):
        print(f"error: no ML Metadata database at {connection}", file=sys.stderr)
        return 1
    runs = report_command(
        connection,
        args.candidates,
        args.report_dir or os.path.join(output, "report"),
        match=not args.no_threshold_matching,
        run_id=args.run_id,
        mix_runs=args.mix_runs,
    )
    return 0 if runs else 1
