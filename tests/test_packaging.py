"""The package sets the Keras mode itself: every process that imports it gets Keras 2."""

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    "package",
    ["pipeline", "trainer_modules", "components", "kubeflow", "ingest", "runners", "report"],
)
def test_importing_a_package_selects_legacy_keras(package):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_USE_LEGACY_KERAS"] = "0"  # a user's setting would break MinDiff, TFCO and TFMA
    code = f"import {package}, tensorflow as tf; print(tf.keras.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith("tf_keras"), result.stdout


def test_trainer_and_preprocessing_paths_resolve_from_the_installed_package():
    from pipeline import config

    code = (
        "import importlib; from pipeline import config\n"
        "for path in [config.PREPROCESSING_FN, *config.RUN_FN.values()]:\n"
        "    module, name = path.rsplit('.', 1)\n"
        "    assert callable(getattr(importlib.import_module(module), name)), path\n"
        "print('ok')"
    )
    # From another folder, so the imports come from the installed package, not the cwd.
    result = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
    assert set(config.RUN_FN) == {"baseline", "min_diff", "tfco", "clp"}


def test_the_wheel_ships_the_templates(tmp_path):
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
