"""Benchmark: the certificate beyond the eval rows (issue 21), over seeds and datasets.

    .venv/bin/python bench/certificate.py [--datasets ghc embedded] [--seeds 1 2 3]
        [--output outputs/bench-certificate] [--results bench/results/certificate.json]
        [--candidates NAME,...]
    .venv/bin/python bench/certificate.py --read-only RUN_FOLDER [--datasets NAME] [--seeds N]

For each dataset and seed it runs `local_runner.py run --data D --seed N` with the default
candidates (or `--candidates`) and every other flag default, each seed in a folder of its own (no champion from
another seed is judged against; a rerun reuses the folder and so the pipeline's cache). It then
reads each candidate's verdict record (the FairnessGate's report) and the Selector's decision
from ML Metadata, and writes bench/results/certificate.json with, per candidate and seed: the
eval judged gap, the largest madlibs group and term FPR on non-toxic templates, the Wikipedia
identity set's gap, the flip rate, AUC, TPR, the blessing and every failed check; per seed the
candidate pushed and the one the old rule (before issue 21) would have pushed among the same
candidates; and per run the pipeline's wall time and its nodes' seconds.

`--read-only` reads one finished run (its folder holds metadata.sqlite) and prints the tables,
to check this script without training; it writes results only with an explicit --results.
`--no-run` reads the seed folders an earlier invocation left under --output, runs nothing, and
writes the results (the wall times are those bench-run.json recorded).

Each dataset's entry carries its provenance: the command as run, the commit and the date (a
`--no-run` read also names the command that ran the pipelines); each seed's run records the
commit of the code that ran its pipeline (bench-run.json; None for folders run before issue 27).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, mean_sd, prepare_embedded, prepare_ghc  # noqa: E402
from bench.provenance import commit, stamp  # noqa: E402
from components.certificate import suite_gaps  # noqa: E402
from components.intervals import Rate  # noqa: E402
from components.policy import GatePolicy  # noqa: E402
from components.selector import CandidateRow, select  # noqa: E402
from components.verdict import Failure, Verdict  # noqa: E402
from pipeline import config, nodes  # noqa: E402

PREPARE = {"ghc": prepare_ghc, "embedded": prepare_embedded}
DEFAULT_RESULTS = ROOT / "bench" / "results" / "certificate.json"
# The Selector's rule before issue 21: the smallest eval gap, AUC within 0.02 of it.
OLD_RULE = {"primary": "max_group_fpr_gap", "tie_margin": 0.02, "tiebreak": "auc"}
# Failures the certificate added (issue 21): the suite's sources, do-no-harm, a group judged
# nowhere, the suite's texts with no known word. The old gate had only TFMA's eval checks, so dropping these gives its blessing.
CERTIFICATE_SLICES = ("(madlibs)", "(functional)", "(wiki)", "(wiki identity swaps)", "(suite)")
# The node the challenge suite adds to a run beside each candidate's ChallengeEvaluator: the
# issue bounds their time together.
SUITE_EXAMPLE_GEN = "ChallengeExampleGen"
FIGURES = ("eval_gap", "madlibs_max_group_fpr", "madlibs_max_term_fpr", "wiki_gap",
           "flip_rate", "auc", "tpr", "base_auc")  # fmt: skip
# The targets of issue 21 on the pushed model (GHC), each figure's bound.
TARGETS = {"eval_gap": 0.05, "madlibs_max_group_fpr": 0.10, "madlibs_max_term_fpr": 0.20,
           "flip_rate": 0.05}  # fmt: skip
MIN_TPR = 0.35
MAX_PIPELINE_S, MAX_SUITE_S = 240.0, 30.0


def is_certificate_failure(failure: Failure) -> bool:
    return (
        failure.slice.endswith(CERTIFICATE_SLICES)
        or "rise over the base model" in failure.metric
        or failure.metric == "identity group"
    )


def old_rule_winner(verdicts: dict[str, Verdict], rows: list[dict]) -> str | None:
    """The candidate the old gate and Selector would push among these: blessed when every
    failure is the certificate's, ranked by the eval gap (its post-processing is not redone)."""
    known = {f.name for f in fields(CandidateRow)}
    candidates = []
    for row in rows:
        verdict = verdicts.get(row["name"])
        if verdict is None:
            continue
        values = {k: v for k, v in row.items() if k in known}
        values["blessed"] = all(is_certificate_failure(f) for f in verdict.failures)
        candidates.append(CandidateRow(**values))
    return select(candidates, OLD_RULE).winner


def _largest(rates: dict[str, dict], key: str, min_rows: int) -> dict | None:
    """The largest FPR over entries with `min_rows` non-toxic rows, named by `key`."""
    judged = {}
    for name, entry in rates.items():
        rate = Rate.from_json((entry or {}).get("fpr"))
        if rate is not None and rate.n >= min_rows:
            judged[name] = rate
    if not judged:
        return None
    name, rate = max(judged.items(), key=lambda item: (item[1].value, item[0]))
    return {"value": rate.value, "interval": list(rate.interval), key: name,
            "k": rate.k, "n": rate.n}  # fmt: skip


def _plain(figure: dict | None) -> float | None:
    return None if not figure else figure.get("value")


def candidate_figures(verdict: Verdict) -> dict:
    """One candidate's figures at its served decision, from its verdict record. A suite rate
    counts on the rows the gate's policy judges it on (a record before the policy record: the
    default policy, which these runs used)."""
    suite = verdict.suite or {}
    figures = verdict.figures
    min_rows = (verdict.policy or GatePolicy()).min_slice_size
    madlibs = suite.get("groups", {}).get("madlibs", {})
    return {
        "eval_gap": figures.get("eval_gap"),
        "madlibs_max_group_fpr": _largest(madlibs, "group", min_rows),
        "madlibs_max_term_fpr": _largest(
            suite.get("terms", {}).get("madlibs", {}), "term", min_rows
        ),
        "wiki_gap": suite_gaps(suite, min_rows).get("wiki") if suite else None,
        "flip_rate": figures.get("flip_rate"),
        "auc": _plain(figures.get("auc")),
        "tpr": _plain(figures.get("tpr")),
        "base_auc": _plain(figures.get("base_auc")),
        "blessed": verdict.blessed,
        "base_model": verdict.base_model,
        "failures": [f.describe() for f in verdict.failures],
        "harm": [f.describe() for f in verdict.failures if "rise over the base" in f.metric],
    }


def run_timing(metadata: Path, run_id: str) -> dict:
    """Seconds per node as executed (a cached node: its latest completed execution, from the
    run that did the work), their span, and the challenge suite's nodes' sum."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.mlmd import Reader, sqlite_connection

    complete = metadata_store_pb2.Execution.COMPLETE
    chosen = {}
    with Reader(sqlite_connection(metadata, read_only=True)) as reader:
        for node, execution in reader.run_executions(run_id).items():
            if execution.last_known_state != complete:
                done = reader.node_executions(config.PIPELINE_NAME, node)
                done = [e for e in done if e.last_known_state == complete]
                execution = done[-1] if done else execution
            chosen[node] = execution
    seconds = {
        n: round((e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000, 1)
        for n, e in chosen.items()
    }
    starts = [e.create_time_since_epoch for e in chosen.values()]
    ends = [e.last_update_time_since_epoch for e in chosen.values()]
    suite = {
        n: s
        for n, s in seconds.items()
        if n == SUITE_EXAMPLE_GEN or nodes.candidate_of(n, nodes.CHALLENGE_EVALUATOR)
    }
    return {
        "node_seconds": seconds,
        "span_s": round((max(ends) - min(starts)) / 1000, 1) if starts else None,
        "suite_nodes_s": round(sum(suite.values()), 1),
        "suite_nodes": suite,
    }


def read_run(folder: Path) -> dict:
    """Every candidate's figures, the pushed candidate (new and old rule) and the timing."""
    from pipeline.mlmd import latest_outcome, sqlite_connection

    metadata = folder / "metadata.sqlite"
    outcome = latest_outcome(sqlite_connection(metadata, read_only=True), config.PIPELINE_NAME)
    if not outcome.run_id:
        raise RuntimeError(f"no run recorded in {metadata}")
    verdicts = {name: Verdict.from_json(report) for name, (_, report) in outcome.reports.items()}
    rows = outcome.selection.get("candidates", [])
    return {
        "run_id": outcome.run_id,
        "candidates": {name: candidate_figures(v) for name, v in verdicts.items()},
        "pushed": outcome.winner,
        "pushed_old_rule": old_rule_winner(verdicts, rows) if rows else None,
        "cached_nodes": len(outcome.cached_nodes),
        **run_timing(metadata, outcome.run_id),
    }


def run_seed(data: Path, folder: Path, seed: int, extra: list[str]) -> dict:
    """`local_runner.py run` for one seed, default flags but `extra`; its wall time. The
    first wall time of a folder is kept in bench-run.json: a rerun hits the cache."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "run.log"
    command = [sys.executable, str(ROOT / "local_runner.py"), "run", "--data", str(data),
               "--seed", str(seed), "--output", str(folder), *extra]  # fmt: skip
    print(f"$ {' '.join(command)}  (log: {log})", flush=True)
    start = time.monotonic()
    with open(log, "a") as f:
        code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = round(time.monotonic() - start, 1)
    stamp = folder / "bench-run.json"
    first = json.loads(stamp.read_text()) if stamp.exists() else None
    if first is None or first.get("exit_code") not in (0, 3):
        first = {"wall_s": wall, "exit_code": code, "finished": _now(), "commit": commit()}
        stamp.write_text(json.dumps(first))
    return {**recorded_seed(folder), "this_wall_s": wall, "exit_code": code}


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def recorded_seed(folder: Path) -> dict:
    """What run_seed recorded of a folder's first run, for --no-run."""
    stamp = folder / "bench-run.json"
    first = json.loads(stamp.read_text()) if stamp.exists() else {}
    # Stamps written before `finished` was recorded: the file's own time.
    finished = first.get("finished") or (
        datetime.datetime.fromtimestamp(stamp.stat().st_mtime).isoformat(timespec="seconds")
        if stamp.exists()
        else None
    )
    return {"wall_s": first.get("wall_s"), "exit_code": first.get("exit_code"),
            "finished": finished, "pipeline_s": _runner_seconds(folder / "run.log"),
            "log": str(folder / "run.log"), "commit": first.get("commit")}  # fmt: skip


def _runner_seconds(log: Path) -> float | None:
    """The runner's own "Wall time of the pipeline run" (no data preparation, no Python start)
    of the folder's first run: the log is appended to by reruns, which hit the cache."""
    if not log.exists():
        return None
    match = re.search(r"Wall time of the pipeline run[^:]*: ([0-9.]+) s", log.read_text())
    return float(match.group(1)) if match else None


def _stats(values: list) -> dict:
    numbers = [v for v in values if isinstance(v, int | float)]
    return {
        "mean": statistics.mean(numbers) if numbers else None,
        "sd": statistics.stdev(numbers) if len(numbers) > 1 else None,
    }


def summarise(runs: dict[int, dict]) -> dict:
    """The issue's keys: per candidate each figure per seed with its mean and sd, and per seed
    the pushed candidate under the new and the old rule."""
    seeds = [s for s, r in runs.items() if "candidates" in r]
    out: dict = {"seeds": seeds}
    names = list(dict.fromkeys(n for s in seeds for n in runs[s]["candidates"]))
    for name in names:
        per = [runs[s]["candidates"].get(name) or {} for s in seeds]
        entry: dict = {"seeds": seeds}
        for key in FIGURES:
            values = [p.get(key) for p in per]
            plain = [v.get("value") if isinstance(v, dict) else v for v in values]
            entry[key] = {"per_seed": values, **_stats(plain)}
        for key in ("blessed", "base_model", "failures", "harm"):
            entry[key] = [p.get(key) for p in per]
        out[name] = entry
    out["pushed"] = [runs[s]["pushed"] for s in seeds]
    out["pushed_old_rule"] = [runs[s]["pushed_old_rule"] for s in seeds]
    out["runs"] = {str(s): {k: v for k, v in r.items() if k != "candidates"}
                   for s, r in runs.items()}  # fmt: skip
    return out


def _cell(entry: dict, key: str) -> str:
    values = [v.get("value") if isinstance(v, dict) else v for v in entry[key]["per_seed"]]
    return mean_sd(values)


def _worst_name(entry: dict, key: str, label: str) -> str:
    # A name where the rate is 0 is only the first of a tie: not shown.
    names = [v.get(label) for v in entry[key]["per_seed"] if v and v.get("value")]
    return "/".join(dict.fromkeys(names)) if names else "-"


def table(name: str, result: dict) -> str:
    """Mean ± sd over seeds per candidate, as a Markdown table (the docs take it as is)."""
    seeds = result["seeds"]
    head = ("| candidate | blessed | eval gap | madlibs max group FPR | madlibs max term FPR | "
            "wiki gap | flip rate | AUC | base AUC | TPR |")  # fmt: skip
    lines = [f"{name}, seeds {', '.join(map(str, seeds))} (mean ± sd):", "", head,
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for candidate, entry in result.items():
        if not isinstance(entry, dict) or "eval_gap" not in entry:
            continue
        blessed = f"{sum(bool(b) for b in entry['blessed'])}/{len(seeds)}"
        lines.append(
            f"| {candidate} | {blessed} | {_cell(entry, 'eval_gap')} | "
            f"{_cell(entry, 'madlibs_max_group_fpr')} "
            f"({_worst_name(entry, 'madlibs_max_group_fpr', 'group')}) | "
            f"{_cell(entry, 'madlibs_max_term_fpr')} "
            f"({_worst_name(entry, 'madlibs_max_term_fpr', 'term')}) | "
            f"{_cell(entry, 'wiki_gap')} | {_cell(entry, 'flip_rate')} | {_cell(entry, 'auc')} | "
            f"{_cell(entry, 'base_auc')} | {_cell(entry, 'tpr')} |"
        )
    return "\n".join(lines)


def _interval(figure: dict | None) -> str:
    if not figure:
        return "-"
    lower, upper = figure["interval"] or (None, None)
    shown = f"{figure['value']:.3f}"
    return shown if lower is None else f"{shown} [{lower:.3f}, {upper:.3f}]"


def per_seed(name: str, result: dict) -> str:
    """Per seed: pushed under the new and the old rule, each candidate's figures with their
    intervals and its failed checks (compact: without the counts)."""
    lines = []
    for i, seed in enumerate(result["seeds"]):
        lines.append(f"{name} seed {seed}: pushed {result['pushed'][i]} "
                     f"(old rule: {result['pushed_old_rule'][i]})")  # fmt: skip
        for candidate, entry in result.items():
            if not isinstance(entry, dict) or "eval_gap" not in entry:
                continue
            failures = entry["failures"][i] or []
            lines.append(
                f"  {candidate}: {'blessed' if entry['blessed'][i] else 'refused'}; eval gap "
                f"{_interval(entry['eval_gap']['per_seed'][i])}, madlibs group "
                f"{_interval(entry['madlibs_max_group_fpr']['per_seed'][i])}, term "
                f"{_interval(entry['madlibs_max_term_fpr']['per_seed'][i])}, flips "
                f"{_interval(entry['flip_rate']['per_seed'][i])}; {len(failures)} failed"
            )
            if failures:
                lines.append("    failed: " + "; ".join(_compact(t) for t in failures))
    return "\n".join(lines)


def _compact(text: str) -> str:
    # The rows and interval in the last parentheses are in the JSON; the printout keeps the check.
    head, _, tail = text.rpartition(" (")
    return head if head and " rows, " in tail else text


def targets(name: str, result: dict) -> list[str]:
    """Issue 21's targets on the pushed model, per seed, each met or missed with its number."""
    lines = []
    for i, seed in enumerate(result["seeds"]):
        pushed = result["pushed"][i]
        run = result["runs"][str(seed)]
        timing = (f"pipeline {run.get('pipeline_s')} s (runner), {run.get('wall_s')} s command, "
                  f"{run.get('span_s')} s in ML Metadata; "
                  f"suite nodes {run.get('suite_nodes_s')} s")  # fmt: skip
        if pushed is None:
            lines.append(f"{name} seed {seed}: nothing pushed (every candidate refused); {timing}")
            continue
        entry = result[pushed]
        checks = []
        for key, bound in TARGETS.items():
            value = (entry[key]["per_seed"][i] or {}).get("value")
            ok = value is not None and value <= bound
            checks.append(f"{key} {_num(value)} <= {bound} {'met' if ok else 'MISSED'}")
        tpr = entry["tpr"]["per_seed"][i]
        checks.append(f"tpr {_num(tpr)} >= {MIN_TPR} "
                      f"{'met' if tpr is not None and tpr >= MIN_TPR else 'MISSED'}")  # fmt: skip
        harm = entry["harm"][i]
        checks.append("no harm met" if not harm else f"harm MISSED ({len(harm)} groups)")
        lines.append(f"{name} seed {seed}: pushed {pushed}: {'; '.join(checks)}; {timing}")
    return lines


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ghc", "embedded"],
                        choices=sorted(PREPARE))  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--output", type=Path, default=ROOT / "outputs" / "bench-certificate")
    parser.add_argument("--results", type=Path, default=None,
                        help=f"results file (default {DEFAULT_RESULTS.relative_to(ROOT)}; "
                             "with --read-only none unless given)")  # fmt: skip
    parser.add_argument("--read-only", type=Path, default=None, metavar="RUN_FOLDER",
                        help="read one finished run as the first dataset's first seed")  # fmt: skip
    parser.add_argument("--no-run", action="store_true",
                        help="read the seed folders under --output, run nothing")  # fmt: skip
    parser.add_argument(
        "--candidates",
        default=None,
        help="the runs' --candidates (default: the pipeline's default ones)",
    )
    args = parser.parse_args(argv)
    extra = ["--candidates", args.candidates] if args.candidates else []
    given = list(argv if argv is not None else sys.argv[1:])
    # Each entry's stamp; a --no-run read also names the command that ran the pipelines.
    provenance = stamp("bench/certificate.py", given)
    if args.no_run:
        ran = [a for a in given if a != "--no-run"]
        provenance["pipelines_run_by"] = " ".join(["bench/certificate.py", *ran])
    results: dict = {}
    if args.read_only is not None:
        run = {"folder": str(args.read_only), **read_run(args.read_only)}
        results[args.datasets[0]] = summarise({args.seeds[0]: run})
        results[args.datasets[0]]["provenance"] = provenance
    else:
        args.output = args.output.resolve()
        for dataset in args.datasets:
            data = None if args.no_run else PREPARE[dataset](args.output)
            runs = {}
            for seed in args.seeds:
                folder = args.output / dataset / f"seed{seed}"
                if args.no_run and not (folder / "metadata.sqlite").exists():
                    continue
                ran = recorded_seed(folder) if args.no_run else run_seed(data, folder, seed, extra)
                # --no-run without bench-run.json: the run's record is ML Metadata's alone.
                if ran["exit_code"] not in (0, 3) and not (
                    args.no_run and ran["exit_code"] is None
                ):
                    print(f"{dataset} seed {seed} failed (exit {ran['exit_code']}); see "
                          f"{ran['log']}", flush=True)  # fmt: skip
                    runs[seed] = {"folder": str(folder), **ran, "failed": True}
                    continue
                runs[seed] = {"folder": str(folder), **ran, **read_run(folder)}
            results[dataset] = summarise(runs)
            results[dataset]["provenance"] = provenance
        args.results = args.results or DEFAULT_RESULTS
    for dataset in args.datasets:
        if dataset not in results:
            continue
        result = results[dataset]
        print("\n" + table(dataset, result) + "\n")
        print(per_seed(dataset, result) + "\n")
        print("\n".join(targets(dataset, result)) + "\n")
    if args.results is not None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"Wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
