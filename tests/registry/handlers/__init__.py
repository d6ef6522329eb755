"""Helpers for the handler tests: a fast SQLite registry, and running a version in a fresh
Python process that never imported the code that trained the model.

The fresh process *can* import the ``tests`` package (the repository root is on its path), so
a model whose pickle refers to the test code that trained it loads there, and the process
reports the ``tests`` modules that loading pulled in: ``report["modules"] == []`` then shows
that the stored version does not depend on the training code, rather than holding whatever the
pickle refers to. ``test_fresh_process.py`` plants such a reference and sees it reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from registry import Registry

__all__ = ["SqliteRegistry", "run_in_fresh_process", "run_script"]

# Loads version v1 of each model and runs the given functions on X.parquet, writing
# <model>.<function>.npy; reports the loaded classes and which test modules it has imported.
_LOADER = """
import json, sys
import numpy as np, pandas as pd
from registry import Registry

catalog_url, artifact_root, workdir, *runs = sys.argv[1:]
reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
X = pd.read_parquet(f"{workdir}/X.parquet")
classes = {}
for run in runs:
    model_name, _, functions = run.partition("=")
    mv = reg.get_model(model_name).version("v1")
    for name in functions.split(","):
        values = mv.run(X, function_name=name).iloc[:, X.shape[1]:].to_numpy()
        values = values.astype(str) if values.dtype == object else values
        np.save(f"{workdir}/{model_name}.{name}.npy", values)
    classes[model_name] = type(mv.load()).__name__
print(json.dumps({
    "classes": classes,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] == "tests"),
}))
"""


class SqliteRegistry:
    """A registry on an SQLite catalog, with the URLs a second process needs to open it."""

    def __init__(self, tmp_path: Path) -> None:
        self.catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
        self.artifact_root = str(tmp_path / "artifacts")
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.registry = Registry(catalog_url=self.catalog_url, artifact_root=self.artifact_root)


REPO = Path(__file__).resolve().parents[3]


def run_script(args: list[str], cwd: Path, *, can_import_tests: bool = False) -> str:
    """Run Python with ``args`` in ``cwd``; its stdout. ``tests`` is importable only with
    ``can_import_tests`` (the repository root goes on ``PYTHONPATH``)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) if can_import_tests else "")
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def run_in_fresh_process(
    reg: SqliteRegistry, functions: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[tuple[str, str], np.ndarray]]:
    """Load version v1 of each model and run its ``functions`` on ``workdir/X.parquet`` in a
    new process that could import ``tests``; what the process reported (the loaded classes,
    and the ``tests`` modules it imported), and each (model, function)'s output columns."""
    runs = [f"{model}={','.join(names)}" for model, names in functions.items()]
    stdout = run_script(
        ["-c", _LOADER, reg.catalog_url, reg.artifact_root, str(reg.workdir), *runs],
        reg.workdir,
        can_import_tests=True,
    )
    report = json.loads(stdout.strip().splitlines()[-1])
    outputs = {
        (model, name): np.load(reg.workdir / f"{model}.{name}.npy")
        for model, names in functions.items()
        for name in names
    }
    return report, outputs
