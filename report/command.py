"""`local_runner.py report`: find each candidate's evaluation, match thresholds, write the
report's files and print the table of candidates and the Selector's recorded decision."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from contract import MODEL_CARD_HTML
from pipeline import config
from report.charts import CHARTS, chart_specs, to_png
from report.html import now, render_html
from report.matching import match_thresholds, score_eval_split
from report.results import RunResult, shown_policy
from report.robustness import swap_rows
from report.runs import find_evaluations, load_run, newest_run
from report.selection import candidates_table, order, recommendation, recorded

HTML_FILE = "fairness_report.html"
JSON_FILE = "fairness_report.json"


def model_card_copy(run_name: str) -> str:
    """The name of a run's model card inside the report folder."""
    return f"model_card_{run_name}.html"


def copy_model_cards(runs: list[RunResult], folder: Path) -> dict[str, str]:
    """Copies each pushed model's card beside the report, so the page links to it offline and
    wherever the folder moves; returns run name -> the copy's file name."""
    copies = {}
    for run in runs:
        target = folder / model_card_copy(run.name)
        if run.model_card_dir:
            shutil.copyfile(os.path.join(run.model_card_dir, MODEL_CARD_HTML), target)
            copies[run.name] = target.name
        else:
            # A card of an earlier report must not pass for this run's.
            target.unlink(missing_ok=True)
    return copies


def write_report(runs: list[RunResult], directory: str | os.PathLike, covers: str = "") -> Path:
    """Writes the HTML, the PNG charts and a JSON summary; returns the HTML path."""
    if not runs:
        raise ValueError("no runs to report")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    generated = now()
    specs = chart_specs(runs)
    pngs = {name: to_png(chart) for name, chart in specs.items()}
    for name, png in pngs.items():
        (folder / name).write_bytes(png)
    # A chart this report has no data for must not survive from an earlier report.
    for name in set(CHARTS) - set(pngs):
        (folder / name).unlink(missing_ok=True)
    cards = copy_model_cards(runs, folder)
    page = folder / HTML_FILE
    page.write_text(render_html(runs, specs, generated, pngs, cards, covers), encoding="utf-8")
    shared, policy = recorded(runs), shown_policy(runs)
    summary = {
        "generated": generated,
        "covers": covers,
        # The Selector's recorded decision, not a ranking of the report's own.
        "order": [r.name for r in order(runs)],
        "selection": {
            "decision": shared.decision,
            "folder": runs[0].selection_dir if shared.decision else "",
            "note": shared.note,
        },
        "recommendation": recommendation(runs),
        "policy": policy.to_json() if policy else None,
        "charts": sorted(pngs),
        "model_cards": cards,
        "runs": [r.summary() for r in runs],
    }
    (folder / JSON_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return page


def build_runs(connection, candidates=None, match: bool = True, run_id=None) -> list[RunResult]:
    """Loads each candidate's evaluation (of the run `run_id`, else the latest) and, with
    `match`, the matched-threshold rates."""
    refs = find_evaluations(connection, candidates, run_id)
    runs = [load_run(name, ref) for name, ref in refs.items()]
    if match and runs:
        scored = {
            run.name: score_eval_split(run.model_uri, run.examples_uri, refs[run.name].eval_split)
            for run in runs
            if run.model_uri and run.examples_uri
        }
        match_thresholds(runs, scored)
        for row in swap_rows(runs) or ():
            next(r for r in runs if r.name == row["name"]).swaps = row
    return runs


def scope(runs: list[RunResult], mixed: bool) -> str:
    """The one run the report covers and its data; or, mixing runs, each model's run."""
    if not mixed:
        run = runs[0]
        return (f"Run {run.run_id}: {run.eval_rows} eval rows of {run.examples_uri or '-'}"
                f" (pipeline {run.pipeline})")  # fmt: skip
    models = "; ".join(f"{r.name}: run {r.run_id}, {r.eval_rows} eval rows" for r in runs)
    return f"Mixed runs (--mix-runs), each model with its own run and eval rows: {models}"


def reported_runs(connection, candidates=None, match=True, run_id=None, mix_runs=False):
    """(the models a report shows, the run id it covers or None, whether runs are mixed): one
    run (`run_id`, else the newest) unless `mix_runs`, which takes each candidate's newest
    evaluation from whichever run made it and labels each model with its run."""
    if run_id is None and not mix_runs:
        run_id = newest_run(connection)
        if run_id is None:
            return [], None, False
    runs = build_runs(connection, candidates, match, run_id)
    mixed = mix_runs and len({r.run_id for r in runs}) > 1
    for run in runs:
        run.label = (
            f"{run.name} [run {run.run_id}, {run.eval_rows} eval rows]" if mixed else run.name
        )
    return runs, run_id, mixed


def report_command(
    connection, candidates, directory, match: bool = True, stream=None, run_id=None,
    mix_runs: bool = False,
):  # fmt: skip
    """`local_runner.py report`: writes the report (see reported_runs) and prints the table of
    candidates and the Selector's recorded decision. Returns the runs found (empty when no
    candidate has an evaluation)."""
    stream = stream or sys.stdout
    runs, run_id, mixed = reported_runs(connection, candidates, match, run_id, mix_runs)
    found = {r.name for r in runs}
    for name in candidates or ():
        if name not in found:
            where = f" in run {run_id}" if run_id else ""
            print(f"No evaluation of candidate {name} ({config.PIPELINE_NAME}){where} found.",
                  file=stream)  # fmt: skip
    if not runs and not candidates:
        where = f"in run {run_id}; pass --run-id for another run" if run_id else "in any run"
        print(f"No evaluation of any candidate ({config.PIPELINE_NAME}) {where}.", file=stream)
    if runs:
        page = write_report(runs, directory, scope(runs, mixed))
        print(scope(runs, mixed), "", candidates_table(runs), "", recommendation(runs), "",
              sep="\n", file=stream)  # fmt: skip
        print(f"Report: {page}", file=stream, flush=True)
    return runs
