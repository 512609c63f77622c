"""Every figure the docs quote from bench/results/ is in its results file (issue 27): the docs
themselves, each results entry's provenance, and the checker's rules on small examples."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import check_figures as cf  # noqa: E402
from bench import provenance  # noqa: E402


def test_the_docs_quote_only_figures_their_results_files_hold():
    report = cf.Report()
    for path in cf.markdown_files([]):
        check = cf.Report()
        cf.check_file(path, check)
        report.problems += check.problems
        report.checked += check.checked
    assert report.problems == []
    assert report.checked > 1000  # the marked blocks are read, not skipped


def test_every_results_entry_names_its_command_commit_and_date():
    for path in sorted((ROOT / "bench" / "results").glob("*.json")):
        data = json.loads(path.read_text())
        assert cf.provenance_problems(data, "") == [], path.name


def test_a_stamp_names_the_command_as_run_the_commit_and_the_date():
    stamp = provenance.stamp("bench/x.py", ["--seeds", "1", "2", "a b"])
    assert stamp["command"] == "bench/x.py --seeds 1 2 'a b'"
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", stamp["commit"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", stamp["date"])
    assert provenance.cache_key().startswith(stamp["commit"][:12])


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A results folder and a doc in a scratch root, read by the checker as the repository."""
    monkeypatch.setattr(cf, "ROOT", tmp_path)
    monkeypatch.setattr(cf, "_POOLS", {})
    (tmp_path / "bench" / "results").mkdir(parents=True)
    stamp = {"command": "bench/x.py", "commit": "0" * 40, "date": "2026-12-08"}
    data = {
        "ghc": {
            "provenance": stamp,
            "baseline": {"auc": [0.8508, 0.8487, 0.8522], "tpr": [0.46, 0.47, 0.47],
                         "blessed": [True, True, False], "flips": "116/707"},
            "tfco": {"auc": [0.8208, 0.8105, 0.8143], "tpr": [0.40, 0.35, 0.37],
                     "blessed": [False, False, False], "flips": "12/707"},
        },
        "unstamped": {"auc": 0.5},
    }  # fmt: skip
    (tmp_path / "bench" / "results" / "x.json").write_text(json.dumps(data))

    def check(text: str, name: str = "docs/benchmarks.md") -> list[str]:
        report = cf.Report()
        cf.check_file(Path(name), report, text)
        return report.problems

    return check


def test_a_figure_that_drifted_from_its_file_is_reported_with_its_line(results):
    doc = "Intro.\n\n<!-- figures: bench/results/x.json ghc -->\nAUC 0.851 and 0.833.\n"
    assert results(doc) == ["docs/benchmarks.md:4: 0.833 not in bench/results/x.json ghc"]


def test_means_sds_percentages_counts_and_changes(results):
    doc = (
        "<!-- figures: bench/results/x.json ghc -->\n"
        "| method | AUC | TPR | blessed | flips |\n| --- | ---: | ---: | --- | --- |\n"
        "| baseline | 0.851 ± 0.002 | 46.7% | 2/3 | 116/707 |\n"
        "| tfco | 0.815 ± 0.005 (-0.036) | 37% | 0/3 | 12/707 |\n"
    )
    assert results(doc) == []
    drifted = results(doc.replace("0.851 ± 0.002", "0.851 ± 0.003"))
    assert drifted[0] == "docs/benchmarks.md:4: 0.851 ± 0.003 not in bench/results/x.json ghc"


def test_settings_references_code_dates_and_versions_are_not_figures(results):
    doc = (
        "<!-- figures: bench/results/x.json ghc | also: 0.05 -->\n"
        "Seeds 1, 2 and 3 (issue 21, 2026-12-07, TFX 1.16.0), bound 0.05, `--seed 17`, "
        "all-MiniLM-L6-v2: AUC 0.851.\n"
    )
    assert results(doc) == []


def test_a_table_with_figures_needs_a_marker_in_the_marked_docs(results):
    table = "| method | AUC |\n| --- | ---: |\n| baseline | 0.851 |\n"
    assert results(table) == ["docs/benchmarks.md:1: figures with no source marker"]
    assert results(table, "docs/other.md") == []
    assert results("<!-- figures: none: settings -->\n" + table) == []


def test_a_marker_needs_a_file_a_part_and_provenance(results):
    text = "<!-- figures: {} -->\nAUC 0.5.\n"
    assert "no results file" in results(text.format("bench/results/y.json"))[0]
    assert "has no part" in results(text.format("bench/results/x.json nope"))[0]
    assert "no provenance" in results(text.format("bench/results/x.json unstamped"))[0]


def test_a_row_must_come_from_one_entry(results):
    row = "| {} | {} | {} |\n"
    head = "<!-- figures: bench/results/x.json ghc -->\n| m | AUC | TPR |\n| --- | --- | --- |\n"
    good = head + row.format("baseline", "0.851", "0.467") + row.format("tfco", "0.815", "0.373")
    assert results(good) == []
    # tfco's AUC under the baseline's TPR: both are in the file, not in one entry.
    swapped = head + row.format("baseline", "0.851", "0.467") + row.format("x", "0.851", "0.373")
    assert results(swapped) == [
        "docs/benchmarks.md:5: 0.851, 0.373: the row's figures share no entry"
    ]


def test_derive_names_changes_the_file_holds_as_their_two_terms(results):
    doc = (
        "<!-- figures: bench/results/x.json ghc | derive: ghc/tfco/auc - ghc/baseline/auc -->\n"
        "TFCO's AUC change per seed: -0.030 / -0.038 / -0.038.\n"
    )
    assert results(doc) == []
    assert results(doc.replace("-0.030 /", "-0.050 /")) == [
        "docs/benchmarks.md:2: -0.050 not in bench/results/x.json ghc"
    ]
