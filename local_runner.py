"""Run the pipeline locally (LocalDagRunner) and import datasets.

python local_runner.py run [--data DIR] [--candidates baseline,min_diff,tfco,...] ...
python local_runner.py import --format generic --input ghc_train.tsv --output DATA/train/data.tfrecord ...
python local_runner.py predict [--serving-dir DIR] [TEXT ...] [--file F]   (stdin otherwise)
python local_runner.py report [--output DIR] [--candidates ...] [--run-id ID] [--report-dir DIR]
python local_runner.py challenge-suite --output DIR [--data SHARED_DIR] [--madlibs-stride N]
"""

from __future__ import annotations

import sys

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from runners.commands import add_run_arguments, run
from runners.predict import add_predict_arguments, predict
from runners.reports import add_report_arguments, report


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="local_runner.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_arguments(
        sub.add_parser(
            "run", help="train the candidates, judge each, push the best blessed (LocalDagRunner)"
        )
    )
    from runners.imports import add_import_arguments, run_import

    add_import_arguments(sub.add_parser("import", help="convert a CSV/TSV dataset to TFRecords"))
    add_predict_arguments(
        sub.add_parser("predict", help="score texts with the champion (the newest push)")
    )
    add_report_arguments(
        sub.add_parser("report", help="fairness report (HTML, charts) of the candidates")
    )
    from ingest.challenge_suite import add_suite_arguments, write_suite_command

    add_suite_arguments(
        sub.add_parser(
            "challenge-suite",
            help="write the identity challenge suite (for a Kubeflow run's --challenge-root)",
        )
    )
    args = parser.parse_args(argv)
    if args.command == "challenge-suite":
        return write_suite_command(args)
    if args.command == "run":
        return run(args)
    if args.command == "predict":
        return predict(args)
    if args.command == "report":
        return report(args)
    return run_import(args)


if __name__ == "__main__":
    sys.exit(main())
