"""registry/__init__.py: ``__all__`` lists exactly the public names, as httpx checks its own.

Plumbing (helpers that users of the registry have no reason to call) is exported only while
another of Floe's packages needs it, since pipelines/ and serve/ may import only what
``registry.__all__`` lists."""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path

import registry

ROOT = Path(registry.__file__).resolve().parents[1]
# Exported for pipelines/ and serve/, not for users: each must have an importer there.
PLUMBING = {
    "dump_config_yaml",
    "find_ray_token",
    "load_config_file",
    "parse_config_text",
    "redact_uri",
    "unwrap_ray_error",
    "validate_config_mapping",
}


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name for name, value in vars(registry).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(registry.__all__) == sorted(public)
    assert len(set(registry.__all__)) == len(registry.__all__)


def test_every_exported_name_is_floes_own() -> None:
    for name in registry.__all__:
        value = getattr(registry, name)
        module = inspect.getmodule(value)
        assert module is not None and module.__name__.startswith("registry."), name


def _names_imported_from_registry(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "registry":
                names.update(alias.name for alias in node.names)
    return names


def test_plumbing_is_exported_only_while_another_package_needs_it() -> None:
    used = _names_imported_from_registry("pipelines") | _names_imported_from_registry("serve")
    exported_plumbing = PLUMBING & set(registry.__all__)
    assert exported_plumbing <= used, f"drop from registry.__all__: {exported_plumbing - used}"
    assert used <= set(registry.__all__)  # the import contract, checked from the other side
