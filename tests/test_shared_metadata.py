"""Shared ML Metadata: two runs on one SQLite store at once (conftest's runs_at_once, which
test_scale_out reads too). The run on MariaDB is the production run of test_portable_beam."""

import argparse
import contextlib
import sqlite3
from pathlib import Path

import pytest
from tfx.orchestration import metadata

import local_runner
from components.gate import GateReport
from pipeline import mlmd
from pipeline.pipeline import component_ids
from runners import commands
from tests import runs

NODES = set(component_ids(["baseline"]))


def test_sqlite_and_mysql_flags_exclude_each_other(tmp_path):
    with pytest.raises(SystemExit, match="--metadata .* and --mysql-host cannot be used together"):
        local_runner.main(["run", "--output", str(tmp_path), "--metadata", "m.sqlite",
                           "--mysql-host", "127.0.0.1"])  # fmt: skip


def test_mysql_flags_build_the_connection(monkeypatch):
    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    monkeypatch.setenv("MLMD_MYSQL_PASSWORD", "from-env")
    args = parser.parse_args(["--mysql-host", "db.internal", "--mysql-port", "3307",
                              "--mysql-database", "ml", "--mysql-user", "pipeline"])  # fmt: skip
    mysql = commands.metadata_connection(args, "/unused").mysql
    assert (mysql.host, mysql.port, mysql.database, mysql.user, mysql.password) == (
        "db.internal", 3307, "ml", "pipeline", "from-env",
    )  # fmt: skip
    args.mysql_password = "from-flag"
    assert commands.metadata_connection(args, "/unused").mysql.password == "from-flag"


@pytest.mark.e2e
def test_two_runs_at_once_share_one_sqlite_store(runs_at_once):
    store = runs_at_once["store"]
    for name, code in runs_at_once["codes"].items():
        log = runs_at_once["folder"] / f"{name}.log"
        assert code == 0, log.read_text()[-3000:]

    with contextlib.closing(sqlite3.connect(store)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    by_run = runs.executions_by_run(store)
    assert len(by_run) == 2
    for states in by_run.values():
        assert set(states) == NODES
        assert all(s in ([runs.COMPLETE], [runs.CACHED]) for s in states.values()), states
    # Through ML Metadata's own client too: both runs' outputs are there (the FairnessGate's
    # report, and the Selector's copy of the winner's for the model card).
    config = metadata.sqlite_metadata_connection_config(str(store))
    with metadata.Metadata(config) as m:
        reports = m.store.get_artifacts_by_type(GateReport.TYPE_NAME)
        producers = sorted((Path(r.uri).parts[-6], Path(r.uri).parts[-3]) for r in reports)
        assert producers == [(run, node) for run in ("first", "second")
                             for node in ("FairnessGate.baseline", "Selector")]  # fmt: skip
    assert mlmd.latest_outcome(str(store), runs.PIPELINE).report
