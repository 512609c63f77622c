"""`make mutation`: a mutation check of the code that decides (issue 27, docs/testing.md).

mutmut 3 (configured in pyproject.toml's [tool.mutmut]) copies the project into mutants/,
mutates the functions below and, for each mutant, runs the fast tests that call the mutated
function (it records which tests call which function in one traced run of the selected test
files). This script runs it on the functions in scope, one process (--max-children 1), and
writes per module the killed share to bench/results/mutation.json.

A mutant counts as killed when a test fails (or it times out); "survived" and "no tests" (no
selected test calls the function) count against the share. Survivors that change no behaviour
are listed, one line each, in docs/testing.md.

    python bench/mutation.py            # fresh run (removes mutants/ first)
    python bench/mutation.py --report   # only rewrite the JSON from mutants/
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import stamp  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "mutation.json"
TOOL = "mutmut 3.8.1"
TARGET = 0.90

# Per module, the functions that decide (methods as "Class.method"). Left out, and said so in
# docs/testing.md: file and artifact I/O, TFX component wiring, text rendering and argparse's
# help texts, none of which decides a blessing, a selection, a threshold or a setting.
SCOPE = {
    "components/gate.py": [
        "rows_by_kind", "_too_small", "_skip_reason", "_rows_too_few", "judge",
        "_missing_cross_slices", "_failure", "_failure_slice", "_slice_name", "_bound_text",
        "_metric_label", "row_counts",
    ],
    "components/policy.py": [
        "GatePolicy.__post_init__", "GatePolicy.from_json", "GatePolicy.from_bounds_record",
        "GatePolicy.without_change_bounds",
    ],
    "components/selector.py": ["select", "candidate_row", "_max_gap", "_value"],
    "trainer_modules/postprocess.py": [
        "fit_group_thresholds", "threshold_notes", "fitted_groups", "_fitted_groups",
        "decisions", "group_threshold_point",
    ],
    "trainer_modules/operating_point.py": ["toxic", "choose"],
    "rates.py": [
        "_mask", "_average_ranks", "auc", "rates_at", "group_rates", "_negatives_descending",
        "threshold_at_fpr", "threshold_at_most_fpr",
    ],
    "runners/cli.py": [
        "settings_from_args", "_augment_path", "positive_int", "fraction", "open_fraction",
        "identity_groups", "candidate_names",
    ],
    "components/verdict.py": [
        "Verdict.to_json", "Verdict.from_json", "Verdict.not_judged", "Verdict.reasons",
        "Verdict.postprocess_note", "Failure.describe", "champion_name", "figure",
    ],
}  # fmt: skip


def mangled(path: str, function: str) -> str:
    """mutmut's key of a function: components.gate.x_judge, components.verdict.xǁVerdictǁreasons."""
    module = path[: -len(".py")].replace("/", ".")
    if "." in function:
        cls, method = function.split(".")
        return f"{module}.xǁ{cls}ǁ{method}"
    return f"{module}.x_{function}"


def status_of(code) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def run_mutmut(command: list[str]) -> None:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"mutmut exited {done.returncode}")


def module_entry(path: str, functions: list[str], stats: dict) -> dict:
    meta = json.loads((ROOT / "mutants" / f"{path}.meta").read_text())["exit_code_by_key"]
    keys = {mangled(path, f): f for f in functions}
    counts: Counter = Counter()
    per_function: dict[str, Counter] = {f: Counter() for f in functions}
    outside: Counter = Counter()
    survivors = []
    for mutant, code in sorted(meta.items()):
        function = keys.get(mutant.rsplit("__mutmut_", 1)[0])
        status = status_of(code)
        if function is None:
            outside[status] += 1
            continue
        counts[status] += 1
        per_function[function][status] += 1
        if status not in ("killed", "timeout"):
            survivors.append(f"{mutant} ({status})")
    tests = sorted(
        {t.split("::")[0] for k in keys for t in stats["tests_by_mangled_function_name"].get(k, ())}
    )
    total = sum(counts.values())
    killed = counts["killed"] + counts["timeout"]
    return {
        "tool": TOOL,
        "functions": functions,
        "mutants": total,
        "killed": counts["killed"],
        "timeouts": counts["timeout"],
        "survived": counts["survived"],
        "no_tests": counts["no tests"],
        "not_checked": counts["not checked"],
        "killed_share": round(killed / total, 4) if total else None,
        "target_met": bool(total) and killed / total >= TARGET,
        "per_function": {f: dict(c) for f, c in per_function.items()},
        "survivors": survivors,
        "outside_scope": dict(outside),
        "test_files": tests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only rewrite the JSON")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    provenance = stamp("bench/mutation.py")
    names = [f"{mangled(p, f)}__mutmut_*" for p, fs in SCOPE.items() for f in fs]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
    started = time.monotonic()
    if not args.report:
        run_mutmut(command + names)
    wall = round(time.monotonic() - started, 1)
    stats = json.loads((ROOT / "mutants" / "mutmut-stats.json").read_text())
    # --report rewrites the figures of an earlier run: that run's stamp stays, and names this.
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    shown = "PYTHONPATH=.cache/mutmut-pkgs python -m mutmut run --max-children "
    modules = {}
    for path, functions in SCOPE.items():
        entry = module_entry(path, functions, stats)
        mutmut = f"{shown}{args.max_children} '<module>.x_<function>__mutmut_*'..."
        entry["provenance"] = {**provenance, "mutmut": mutmut}
        earlier = previous.get("modules", {}).get(path, {}).get("provenance")
        if args.report and earlier:
            entry["provenance"] = {**earlier, "rewritten_by": provenance}
        modules[path] = entry
        print(f"{path:36} {entry['killed_share']:.1%} of {entry['mutants']} mutants killed")
    out = {
        "tool": TOOL,
        "config": "pyproject.toml [tool.mutmut]",
        "driver": "make mutation (bench/mutation.py)",
        "target_killed_share": TARGET,
        "wall_s": None if args.report else wall,
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "modules": modules,
    }
    if args.report and previous:
        out["wall_s"] = previous.get("wall_s")
    args.output.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
