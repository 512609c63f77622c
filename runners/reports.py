"""`local_runner.py report` and `compare`: the fairness report of a run's evaluations, and a
run of each trainer variant followed by that report."""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import config
from runners.commands import (
    PROJECT_ROOT,
    HelpFormatter,
    add_run_arguments,
    metadata_connection,
    run,
)


def _add_report_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trainers",
        "--trainer",
        nargs="+",
        choices=config.TRAINERS,
        default=list(config.TRAINERS),
        help="trainer variants, side by side in this order (default: all)",
    )
    parser.add_argument("--report-dir", help="where the report goes (default: OUTPUT/report)")
    parser.add_argument(
        "--no-threshold-matching",
        action="store_true",
        help="skip scoring the eval split for the matched-threshold rates",
    )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    parser.add_argument("--output", default=str(PROJECT_ROOT / "outputs"), help="pipeline root")
    parser.add_argument(
        "--metadata", help="ML Metadata SQLite file (default: OUTPUT/metadata.sqlite)"
    )
    _add_report_output_arguments(parser)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    # The parser resolves conflicts: --trainer becomes an alias of --trainers here.
    add_run_arguments(parser)
    _add_report_output_arguments(parser)


def report(args) -> int:
    from report.command import report_command

    output = os.path.abspath(args.output)
    connection = os.path.abspath(args.metadata or os.path.join(output, "metadata.sqlite"))
    if not os.path.exists(connection):
        print(f"error: no ML Metadata database at {connection}", file=sys.stderr)
        return 1
    runs = report_command(
        connection,
        args.trainers,
        args.report_dir or os.path.join(output, "report"),
        match=not args.no_threshold_matching,
    )
    return 0 if runs else 1


def compare(args) -> int:
    """Runs each variant through `run` (cached steps are reused), then reports and ranks.
    Exit status: 2 when a variant's run failed, 3 with --require-blessing when none passes."""
    from report.command import report_command

    output = os.path.abspath(args.output)
    failed, run_ids = [], {}
    for trainer in args.trainers:
        print(f"\n=== {trainer} ===", flush=True)
        variant = argparse.Namespace(**{**vars(args), "trainer": trainer})
        variant.require_blessing = False
        if run(variant) == 2:
            failed.append(trainer)
        else:
            run_ids[trainer] = variant.run_id
    # This run's evaluations, never "the newest of the pipeline".
    runs = report_command(
        metadata_connection(args, output),
        [t for t in args.trainers if t not in failed],
        args.report_dir or os.path.join(output, "report"),
        match=not args.no_threshold_matching,
        run_ids=run_ids,
    )
    if failed:
        print(f"Failed runs: {', '.join(failed)}", file=sys.stderr)
        return 2
    if args.require_blessing and not any(r.blessed for r in runs):
        return 3
    return 0
