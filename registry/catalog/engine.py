"""Open a catalog database: engine set-up per backend, then Alembic migrations to head.

SQLite runs in WAL mode with a busy timeout, foreign keys on, and write transactions that
take the write lock up front (``BEGIN IMMEDIATE``), so concurrent writers queue instead of
failing on a lock upgrade. Migrations run under a lock (a file lock beside an SQLite file,
an advisory lock on PostgreSQL), so processes that open a new catalog at once do not race.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from registry.errors import CatalogError

__all__ = ["WRITE_OPTION", "create_catalog_engine", "first_line", "head_revision", "migrate"]

log = logging.getLogger(__name__)

WRITE_OPTION = "floe_write"
_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x466C6F65  # "Floe"
_migrated: set[str] = set()
_migrated_lock = threading.Lock()


def create_catalog_engine(url: str) -> Engine:
    """An engine for ``url`` with Floe's per-backend settings."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise CatalogError(
            f"invalid catalog URL {url!r}: {exc}; use an SQLAlchemy URL such as "
            "sqlite:////path/catalog.db or postgresql+psycopg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return sa.create_engine(parsed, pool_pre_ping=True, future=True)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise CatalogError(
            f"no driver for catalog URL {parsed.render_as_string(hide_password=True)}: {exc}; "
            "install it (PostgreSQL: pip install 'psycopg[binary]')"
        ) from exc


def _sqlite_engine(url: sa.URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60}, future=True)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:  # a read-only file keeps its journal mode
            log.debug("journal_mode unchanged on %s: %s", url, exc)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        is_write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")

    return engine


def first_line(error: object) -> str:
    """The first line of an error's text: a driver's detail lines and statement stay out."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    yield


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the catalog to ``revision`` (default: the newest), once per process and URL."""
    key = engine.url.render_as_string(hide_password=False)
    if revision == "head" and key in _migrated:
        return
    with _migrated_lock:
        try:
            target = head_revision() if revision == "head" else revision
            with engine.connect() as conn:
                current = _current_revision(conn)
            if current != target:
                with _migration_lock(engine), engine.begin() as conn:
                    if _current_revision(conn) != target:
                        from alembic import command

                        log.info("migrating catalog from %s to %s", current, target)
                        command.upgrade(_alembic_config(conn), target)
        except sa.exc.OperationalError as exc:
            raise CatalogError(
                f"cannot open the catalog at {engine.url.render_as_string(hide_password=True)}: "
                f"{first_line(exc.orig)}; check that the database server runs and the URL is "
                "right (FLOE_CATALOG_URL)"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:  # never the statement: it is not the user's
            raise CatalogError(
                f"cannot migrate the catalog at "
                f"{engine.url.render_as_string(hide_password=True)}: "
                f"{first_line(getattr(exc, 'orig', None) or exc)}; check that the user may "
                "create tables there, or let an administrator open it once"
            ) from exc
        if revision == "head":
            _migrated.add(key)
