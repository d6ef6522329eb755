"""The runtime tests' registry: SQLite in the test's own folder (the run path does not
depend on the catalog's backend; the catalog tests run on both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import Registry


@pytest.fixture
def sqlite_reg(tmp_path: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}",
                    artifact_root=str(tmp_path / "a"))
