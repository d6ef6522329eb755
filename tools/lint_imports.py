"""Run the import-linter contracts from pyproject.toml on the packages that exist.

import-linter stops with an error when a root package named in its config cannot be
imported, and pipelines/ and serve/ arrive after registry/. This script reads
[tool.importlinter] from pyproject.toml, keeps the root packages that exist in the
repository, narrows every contract to them, drops a contract that has nothing left to
check (saying so), writes the result to a temporary INI config and runs
`lint-imports <it>`. Once all three packages exist, the config it writes is
the one in pyproject.toml.

Usage: python tools/lint_imports.py [extra lint-imports flags, e.g. --verbose]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def find_existing_packages(names: list[str]) -> list[str]:
    return [name for name in names if (ROOT / name / "__init__.py").is_file()]


def narrow_contract(contract: dict[str, object], existing: set[str]) -> dict[str, object] | str:
    """Return the contract narrowed to existing packages, or the reason it is dropped."""

    def keep(key: str) -> list[str]:
        modules = contract.get(key, [])
        assert isinstance(modules, list), f"{key} must be a list"
        return [m for m in modules if m.split(".")[0] in existing]

    kind = contract["type"]
    narrowed = dict(contract)
    if kind == "forbidden":
        sources, forbidden = keep("source_modules"), keep("forbidden_modules")
        if not sources or not forbidden:
            return "its source or forbidden packages do not exist yet"
        narrowed.update(source_modules=sources, forbidden_modules=forbidden)
    elif kind in ("independence", "layers"):
        key = "modules" if kind == "independence" else "layers"
        modules = keep(key)
        if len(modules) < 2:
            return f"fewer than two of its {key} exist yet"
        narrowed[key] = modules
    else:
        raise SystemExit(f"lint_imports: unsupported contract type {kind!r}; extend {__file__}")
    return narrowed


def render_ini(root_packages: list[str], contracts: list[dict[str, object]]) -> str:
    lines = ["[importlinter]", "root_packages =", *(f"    {p}" for p in root_packages)]
    for contract in contracts:
        lines += ["", f"[importlinter:contract:{contract['id']}]"]
        for key, value in contract.items():
            if key == "id":
                continue
            if isinstance(value, list):
                lines += [f"{key} =", *(f"    {v}" for v in value)]
            else:
                lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    declared: list[str] = config["root_packages"]
    root_packages = find_existing_packages(declared)
    if not root_packages:
        print(f"lint_imports: none of {declared} exists in {ROOT}", file=sys.stderr)
        return 1
    missing = sorted(set(declared) - set(root_packages))
    if missing:
        print(f"lint_imports: not yet present, left out: {', '.join(missing)}")

    contracts = []
    for contract in config["contracts"]:
        narrowed = narrow_contract(contract, set(root_packages))
        if isinstance(narrowed, str):
            print(f"lint_imports: skipped contract {contract['name']!r}: {narrowed}")
        else:
            contracts.append(narrowed)
    if not contracts:
        print("lint_imports: no contract applies to the packages present; nothing to check")
        return 0

    lint_imports = Path(sys.executable).parent / "lint-imports"
    executable = str(lint_imports) if lint_imports.exists() else shutil.which("lint-imports")
    if executable is None:
        print("lint_imports: lint-imports not found; run `make venv`", file=sys.stderr)
        return 1

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="floe-importlinter-") as tmp:
        ini = Path(tmp) / "importlinter.ini"
        ini.write_text(render_ini(root_packages, contracts))
        cmd = [executable, str(ini), "--no-cache", "--no-logo", *argv]
        return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
