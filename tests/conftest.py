"""Shared fixtures: every catalog and API test runs on SQLite and on a real PostgreSQL.

PostgreSQL: one throwaway database per test session on the server at
``FLOE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), dropped at
the end; tables are emptied after each test. Where no server answers the PostgreSQL cases
skip with that reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import Registry

POSTGRES_ADMIN = os.environ.get(
    "FLOE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IS_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")


@contextmanager
def _throwaway_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database on the server at POSTGRES_ADMIN, dropped afterwards; raises
    ``OperationalError`` when no server answers."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(
            hide_password=False)
        try:
            yield url
        finally:
            from registry.api.registry import close_catalog

            close_catalog(url)
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for the whole session."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(_throwaway_database("floe_test"))
        except sa.exc.OperationalError as exc:
            if IS_CI:
                pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN} ({exc.orig}); "
                            "CI=true: the PostgreSQL tests must run, not skip")
            pytest.skip(reason=f"environment: PostgreSQL is not reachable at {POSTGRES_ADMIN} "
                        f"({exc.orig}); start it, or point FLOE_TEST_POSTGRES at a server")
        yield url


def _empty_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        names = sa.inspect(conn).get_table_names()
        tables = [t for t in names if t.startswith("floe_") and t != "floe_role"]
        if tables:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        if "floe_role" in names:  # the built-in roles are the migration's: a fresh catalog has them
            conn.execute(sa.text("DELETE FROM floe_role WHERE name NOT IN ('ADMIN', 'PUBLIC')"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty catalog: an SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    _empty_postgres(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def unmigrated_catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A catalog no migration has touched in this process, for tests that migrate step by
    step: an SQLite file, or a PostgreSQL database of its own, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'unmigrated.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails, in CI) without a server
    with _throwaway_database("floe_migrate") as url:
        yield url


@pytest.fixture(autouse=True)
def floe_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test's FLOE_HOME (cache, default catalog) inside its tmp_path."""
    home = tmp_path / "floe-home"
    monkeypatch.setenv("FLOE_HOME", str(home))
    for var in ("FLOE_CATALOG_URL", "FLOE_ARTIFACT_ROOT", "FLOE_DATABASE", "FLOE_SCHEMA",
                "FLOE_ROLE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def reg(catalog_url: str, artifact_root: Path) -> Registry:
    return Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))


@pytest.fixture(autouse=True)
def _release_ray_actors(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the shared Ray, collect the cyclic garbage it left. A Dataset that
    failed in an actor leaves its actor pool reachable only through a reference cycle (the
    exception's traceback frames hold the executor, which holds the actor handles): until
    Python's collector runs, the actor lives on and keeps its CPU. On 2 CPUs a few such
    actors starved the next tests' tasks past their timeout in CI; measured: one
    ``MapWorker`` alive and 1.5 of 2 CPUs free after tests/registry/runtime/test_on_ray.py,
    none and 2.0 after ``gc.collect()``."""
    yield
    if "ray_local" in request.fixturenames:
        import gc

        gc.collect()


# Modules that start a Ray of their own (a subprocess cluster, the quickstart's local Ray).
_OWN_RAY = ("tests/test_quickstart.py", "tests/pipelines/test_cli_output.py",
            "tests/pipelines/test_jobs.py", "tests/serve/test_cli.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2`` (pytest-xdist, ``--dist loadgroup``, pyproject.toml), every test
    on the session's one Ray (``num_cpus=2``), and every test that starts a Ray of its own,
    runs on one worker, in one group ("ray"): the session's Ray is never doubled, and the
    clusters some tests start run one at a time beside it, as in one process. Every other
    test (catalog, API, handlers in process, CLI, server) goes to whichever worker is free:
    the other one while the group runs. (A group of its own for the tests that start their
    own Ray measured a minute slower, 17 min 49 s against 16 min 49 s: xdist is free to hand
    both groups to one worker.)"""
    root = Path(__file__).parent.parent
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()) or \
                item.path.relative_to(root).as_posix().startswith(_OWN_RAY):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(autouse=True)
def _ray_only_on_the_ray_worker(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test outside the Ray group must not start a Ray (``ray.data`` starts one on first
    use, with every CPU): under ``-n 2`` it would be a second Ray beside the session's."""

    def running() -> bool:
        ray = sys.modules.get("ray")
        return ray is not None and bool(ray.is_initialized())

    before = running()
    yield
    if request.node.get_closest_marker("xdist_group") is None and not before and running():
        sys.modules["ray"].shutdown()
        pytest.fail(f"{request.node.nodeid} started a Ray without the ray_local fixture; "
                    "request ray_local (tests/ray_fixtures.py), the session's one Ray")
