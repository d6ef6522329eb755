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


#: The actor pool of these tests: one actor, never scaled. On the session's 2-CPU Ray, Ray Data
#: 2.60 can leak an actor it scaled up just as a Dataset finished (its pool counted the actor
#: as released while Ray was still creating it; the process then held 0.5 CPU for the rest of
#: the session, seen in CI's ray-data.log), and three such leaks left no CPU for the
#: repartition tasks of later tests, which waited past their timeout.
ONE_ACTOR = {"min_actors": 1, "max_actors": 1}
