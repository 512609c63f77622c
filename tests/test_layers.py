"""The house's layers (docs/design.md): every import of a project module runs downward, never
up or across to a package of the same layer."""

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

# Package (or top-level module) -> its layer; a module imports only lower layers and its own.
LAYERS = {
    "contract": 0,
    "rates": 0,
    "trainer_modules": 1,
    "components": 1,
    "pipeline": 2,
    "ingest": 3,
    "report": 4,
    "runners": 5,
    "local_runner": 6,
    "kubeflow": 6,
    # The benchmarks read the product; the product never reads them (nor their results).
    "bench": 7,
}


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in LAYERS}


def test_every_import_runs_downward():
    upward = []
    for package, layer in LAYERS.items():
        folder = PROJECT_ROOT / package
        files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
        for path in files:
            for name in project_imports(path):
                target = name.split(".")[0]
                if target != package and LAYERS[target] >= layer:
                    upward.append(f"{path.relative_to(PROJECT_ROOT)} imports {name}")
    assert upward == []
