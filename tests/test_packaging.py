"""The package sets the Keras mode itself: every process that imports it gets Keras 2."""

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGES = ["pipeline", "trainer_modules", "components", "kubeflow", "ingest", "runners", "report"]
RESOLVE_PATHS = (
    "import importlib; from contract import TRAINERS; from pipeline import config\n"
    "for path in [config.PREPROCESSING_FN, *(t.run_fn for t in TRAINERS.values())]:\n"
    "    module, name = path.rsplit('.', 1)\n"
    "    assert callable(getattr(importlib.import_module(module), name)), path\n"
    "print('ok')"
)


@pytest.fixture(scope="module")
def fresh_imports() -> dict[str, subprocess.CompletedProcess]:
    """Each check in a fresh interpreter, all started at once (each mostly waits on importing
    TensorFlow): one per package, with the user's Keras setting against us, and the trainer and
    preprocessing paths resolved from another folder, so from the installed package."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_USE_LEGACY_KERAS"] = "0"  # a user's setting would break MinDiff, TFCO and TFMA
    commands = {
        package: ([sys.executable, "-c", f"import {package}, tensorflow as tf; "
                   "print(tf.keras.__name__)"], env, PROJECT_ROOT)
        for package in PACKAGES
    }  # fmt: skip
    commands["resolve"] = ([sys.executable, "-c", RESOLVE_PATHS], None, "/")
    started = {
        name: subprocess.Popen(argv, env=env_, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, (argv, env_, cwd) in commands.items()
    }  # fmt: skip
    done = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=600)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_selects_legacy_keras(fresh_imports, package):
    result = fresh_imports[package]
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith("tf_keras"), result.stdout


def test_trainer_and_preprocessing_paths_resolve_from_the_installed_package(fresh_imports):
    from contract import TRAINERS

    result = fresh_imports["resolve"]
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
    assert set(TRAINERS) == {"baseline", "min_diff", "tfco", "clp"}


def test_the_wheel_ships_the_templates_and_the_top_level_modules(tmp_path):
    import shutil
    import zipfile

    # Built from a copy, so the build leaves nothing in the working tree.
    source = tmp_path / "src"
    shutil.copytree(
        PROJECT_ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "outputs", "tests", "bench", "docs", "*.egg-info",
                                      "build", "dist", "__pycache__"),
    )  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("components/templates/model_card.md.j2",
                     "components/templates/model_card.html.j2",
                     "report/templates/report.html.j2"):  # fmt: skip
        assert template in names
    # The top-level modules every layer imports.
    assert {"contract.py", "rates.py"} <= names
