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



#: The actor pool of these tests: one actor, never scaled, so each test holds at most 0.5 of
#: the shared Ray's 2 CPUs. (Added while chasing CI timeouts first blamed on a scale-up race;
#: the cause was actors kept alive by a failed Dataset's exception cycle, which
#: tests/conftest.py's ``_release_ray_actors`` collects. A scaling pool is still run by the
#: actor-pool config configs/score.yaml, min 1 and max 2.)
ONE_ACTOR = {"min_actors": 1, "max_actors": 1}
