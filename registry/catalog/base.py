"""The catalog store's foundation: the engine, transactions, the checks every written value
passes, error translation, namespaces and the model-row helpers every operation uses.

Driver errors are translated here, and only here, into ``FloeError``s, by kind, so SQLite and
PostgreSQL answer alike (``translate_error``)::

    unique violation                    AlreadyExists
    foreign key, on insert or update    NotFound   (the row it refers to is gone)
    foreign key, on delete              Conflict   (other rows still refer to it)
    not-null or check violation         InvalidInput
    DataError (a value the column refuses)  InvalidInput
    OperationalError (unreachable, locked, read-only)  CatalogError
    anything else from the driver       CatalogError

Values are checked before the database sees them (``check_field``, and on every flush for
every row written), so a name longer than its column or a NUL character gets the same
``InvalidInput`` on both backends; SQLite would store both, PostgreSQL refuses them. No
message quotes the SQL statement.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, delete, select

from registry.catalog.engine import WRITE_OPTION, create_catalog_engine, first_line, migrate
from registry.catalog.listing import refresh_listings
from registry.catalog.tables import (
    FIELD_LABELS,
    TABLE_LABELS,
    AliasRow,
    FunctionRow,
    MetricRow,
    ModelRow,
    NamespaceRow,
    VersionRow,
    metadata,
)
from registry.errors import (
    AlreadyExists,
    CatalogError,
    Conflict,
    FloeError,
    InvalidInput,
    NotFound,
)
from registry.identifiers import format_identifier

__all__ = [
    "SYSTEM_ALIASES",
    "CatalogSession",
    "StoreBase",
    "as_utc",
    "check_field",
    "model_label",
    "new_id",
    "one_connection",
    "translate_error",
    "utcnow",
]

log = logging.getLogger(__name__)


SYSTEM_ALIASES = ("DEFAULT", "FIRST", "LAST")


_RETRIES = 8
MODEL_GONE = "the model no longer exists; list models: floe models list"


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive timestamps; every timestamp Floe stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- checks before the database -------------------------------------------------------------------


def _label(table: str, column: str) -> str:
    return FIELD_LABELS.get((table, column)) or f"{TABLE_LABELS.get(table, table)} {column}"


def _check_column(table: str, column: sa.Column[Any], value: object) -> None:
    if value is None:
        if not (column.nullable or column.primary_key or column.default is not None
                or column.server_default is not None):
            raise InvalidInput(f"{_label(table, column.key)} is required; pass a value")
        return
    if not isinstance(value, str) or not isinstance(column.type, sa.String):
        return  # JSON columns hold escaped text: any character is stored
    if "\x00" in value:
        raise InvalidInput(
            f"{_label(table, column.key)} holds a NUL character (U+0000), which the catalog "
            "cannot store; remove it"
        )
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise InvalidInput(
            f"{_label(table, column.key)} is {len(value)} characters long, at most {limit} are "
            "allowed; shorten it"
        )


def check_field(row_type: type[SQLModel], field: str, value: object) -> None:
    """Refuse ``value`` for ``row_type.field`` as every write would: a NUL character, more
    characters than the column holds, or None where a value is required (``InvalidInput``
    naming the field, the limit and the fix). For arguments checked before any work."""
    table: sa.Table = row_type.__table__  # type: ignore[attr-defined]
    _check_column(table.name, table.columns[field], value)


def _check_row(row: object) -> None:
    table = getattr(row, "__table__", None)
    if not isinstance(table, sa.Table):
        return
    for column in table.columns:
        _check_column(table.name, column, getattr(row, column.key, None))


def model_label(ns: NamespaceRow, model: ModelRow) -> str:
    """``DATABASE.SCHEMA.MODEL`` as every message and property shows it."""
    return ".".join(format_identifier(p) for p in (ns.database_name, ns.schema_name, model.name))


class CatalogSession(Session):
    """A session whose every flush first checks each new or changed row (``check_field``)."""


@sa.event.listens_for(CatalogSession, "before_flush")
def _check_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for row in (*session.new, *session.dirty):
        _check_row(row)


# -- error translation ----------------------------------------------------------------------------

_STATEMENT = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)
_PG_KINDS = {"23505": "unique", "23503": "foreign_key", "23502": "not_null", "23514": "check"}
_SQLITE_KINDS = {
    "SQLITE_CONSTRAINT_UNIQUE": "unique",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "unique",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key",
    "SQLITE_CONSTRAINT_NOTNULL": "not_null",
    "SQLITE_CONSTRAINT_CHECK": "check",
}
# SQLite reports an ON DELETE RESTRICT failure as SQLITE_CONSTRAINT_TRIGGER: its text decides.
_SQLITE_TEXTS = {
    "UNIQUE constraint failed": "unique",
    "FOREIGN KEY constraint failed": "foreign_key",
    "NOT NULL constraint failed": "not_null",
    "CHECK constraint failed": "check",
}


def _constraint_kind(orig: BaseException | None) -> str:
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _PG_KINDS:
        return _PG_KINDS[sqlstate]
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if sqlite_name in _SQLITE_KINDS:
        return _SQLITE_KINDS[sqlite_name]
    text = str(orig)
    return next((kind for prefix, kind in _SQLITE_TEXTS.items() if prefix in text), "other")


def _statement_target(statement: str | None) -> tuple[str, str]:
    """The verb (INSERT, UPDATE, DELETE) and the table of a failed write, or ("", "")."""
    match = _STATEMENT.match(statement or "")
    if match is None:
        return "", ""
    return match.group(1).split()[0].upper(), match.group(2).lower()


def _related(table: str, *, parents: bool) -> str:
    """What ``table`` refers to (``parents``) or what refers to it, as the user names them."""
    names: set[str] = set()
    for other in metadata.tables.values():
        for fk in other.foreign_keys:
            if parents and other.name == table:
                names.add(fk.column.table.name)
            elif not parents and fk.column.table.name == table and other.name != table:
                names.add(other.name)
    return " or ".join(sorted(TABLE_LABELS.get(n, n) for n in names)) or "another row"


def _integrity_error(exc: sa.exc.IntegrityError) -> FloeError:
    kind = _constraint_kind(exc.orig)
    verb, table = _statement_target(exc.statement)
    what = TABLE_LABELS.get(table, "row")
    if kind == "foreign_key" and verb == "DELETE":
        return Conflict(
            f"the catalog refused to delete the {what}: other rows ({_related(table, parents=False)}) "
            "still refer to it; delete those first"
        )
    if kind == "foreign_key":
        return NotFound(
            f"the catalog refused to write the {what}: the {_related(table, parents=True)} it "
            "refers to no longer exists (another process deleted it); reload it and retry"
        )
    if kind == "not_null":
        column = getattr(getattr(exc.orig, "diag", None), "column_name", None)
        if column is None:  # SQLite: "NOT NULL constraint failed: table.column"
            column = first_line(exc.orig).rsplit(".", 1)[-1]
        return InvalidInput(f"{_label(table, column)} is required; pass a value")
    if kind == "check":
        return InvalidInput(
            f"the catalog refused the {what}: {first_line(exc.orig)}; fix the value"
        )
    if kind == "unique":
        return AlreadyExists(
            f"the catalog refused the {what} because its name is already taken (by another "
            "process meanwhile, or a version name and an alias alike); choose another name"
        )
    return Conflict(f"the catalog refused the {what}: {first_line(exc.orig)}; fix the change")


def translate_error(exc: sa.exc.SQLAlchemyError, catalog: str) -> FloeError:
    """The ``FloeError`` for a driver error of the catalog ``catalog`` (a URL without its
    password), most specific kind first. The caller raises it ``from exc``."""
    if isinstance(exc, sa.exc.IntegrityError):
        return _integrity_error(exc)
    orig = getattr(exc, "orig", None) or exc
    if isinstance(exc, sa.exc.DataError):
        return InvalidInput(
            f"the catalog refused a value: {first_line(orig)}; shorten it or remove characters "
            "the database cannot store"
        )
    if isinstance(exc, sa.exc.OperationalError):
        return CatalogError(
            f"the catalog at {catalog} failed: {first_line(orig)}; check that the database is "
            "reachable and not read-only"
        )
    return CatalogError(
        f"the catalog at {catalog} failed: {type(orig).__name__}: {first_line(orig)}; check "
        "that it is a Floe catalog at the newest schema and retry"
    )


_pinned: contextvars.ContextVar[dict[Engine, sa.Connection] | None] = contextvars.ContextVar(
    "floe_catalog_pinned", default=None)


@contextlib.contextmanager
def one_connection() -> Iterator[None]:
    """Within the block, this thread's reads of each catalog share one connection, checked out
    at the first read and returned at the end: a registry server's request makes a handful of
    reads, and each would otherwise pay a pool checkout (on PostgreSQL a ping, one round trip).
    Each read is still its own transaction, so it sees what a write before it committed; writes
    take their own connection, as outside the block."""
    pinned: dict[Engine, sa.Connection] = {}
    token = _pinned.set(pinned)
    try:
        yield
    finally:
        _pinned.reset(token)
        for connection in pinned.values():
            connection.close()


class StoreBase:
    """Transactions on one catalog URL, migrated to the newest schema when opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_catalog_engine(url)
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._session(is_write=False) as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        with self._session(is_write=True) as session:
            yield session

    @contextlib.contextmanager
    def _session(self, *, is_write: bool) -> Iterator[Session]:
        options: dict[str, Any] = {WRITE_OPTION: is_write}
        if not is_write and self.engine.dialect.name == "postgresql":
            # Under READ COMMITTED each statement takes its own snapshot, inside a
            # transaction or not: reads skip BEGIN and ROLLBACK, two round trips each.
            options["isolation_level"] = "AUTOCOMMIT"
        pinned = _pinned.get()
        try:
            if pinned is not None and not is_write:
                # one_connection(): each read is its own transaction on the block's
                # connection (SQLite: a fresh snapshot; the session rolls it back at close)
                connection = pinned.get(self.engine)
                if connection is None:
                    connection = pinned[self.engine] = self.engine.connect().execution_options(
                        **options)
                with CatalogSession(bind=connection, expire_on_commit=False) as session:
                    yield session
                return
            with CatalogSession(self.engine, expire_on_commit=False) as session:
                session.connection(execution_options=options)
                yield session
                if is_write:
                    session.commit()
        except sa.exc.SQLAlchemyError as exc:
            catalog = self.engine.url.render_as_string(hide_password=True)
            raise translate_error(exc, catalog) from exc

    # -- namespaces ---------------------------------------------------------------------------

    def ensure_namespace(self, database: str, schema: str) -> NamespaceRow:
        """The namespace ``database.schema``, created when absent (safe under races)."""
        for _ in range(_RETRIES):
            found = self.find_namespace(database, schema)
            if found is not None:
                return found
            with contextlib.suppress(AlreadyExists), self.write() as s:
                row = NamespaceRow(database_name=database, schema_name=schema, created_on=utcnow())
                s.add(row)
                s.flush()
                return row
        raise CatalogError(f"could not create namespace {database}.{schema}; retry")

    def find_namespace(self, database: str, schema: str) -> NamespaceRow | None:
        with self.read() as s:
            return s.exec(
                select(NamespaceRow).where(
                    NamespaceRow.database_name == database, NamespaceRow.schema_name == schema
                )
            ).first()

    def schema_names(self, database: str) -> list[str]:
        """The schemas of ``database`` that exist, resolved, in code point order."""
        with self.read() as s:
            names = s.exec(
                select(NamespaceRow.schema_name).where(NamespaceRow.database_name == database)
            ).all()
        return sorted(names)

    def namespace_of_id(self, namespace_id: int) -> NamespaceRow:
        with self.read() as s:
            ns = s.get(NamespaceRow, namespace_id)
            assert ns is not None
            return ns

    def namespace_of(self, s: Session, model: ModelRow) -> NamespaceRow:
        ns = s.get(NamespaceRow, model.namespace_id)
        assert ns is not None
        return ns

    def model_label(self, s: Session, model: ModelRow) -> str:
        return model_label(self.namespace_of(s, model), model)

    # -- models -------------------------------------------------------------------------------

    def find_model(self, s: Session, namespace_id: int, name: str) -> ModelRow | None:
        return s.exec(
            select(ModelRow).where(ModelRow.namespace_id == namespace_id, ModelRow.name == name)
        ).first()

    def locate_model(
        self, database: str, schema: str, name: str
    ) -> tuple[int | None, ModelRow | None]:
        """The namespace's id (None: it does not exist) and its model ``name`` (None: it has
        none), in one query."""
        params = {"database": database, "schema": schema, "name": name}
        with self.read() as s:
            found = s.exec(_locate_model(), params=params).first()
        if found is None:
            return None, None
        namespace_id, model = found
        return namespace_id, model

    def describe_model(self, model_id: str) -> tuple[ModelRow, NamespaceRow]:
        """The model and its namespace, in one query."""
        statement = (
            select(ModelRow, NamespaceRow)
            .join(NamespaceRow, col(NamespaceRow.id) == col(ModelRow.namespace_id))
            .where(ModelRow.id == model_id)
        )
        with self.read() as s:
            found = s.exec(statement).first()
        if found is None:
            raise NotFound(MODEL_GONE)
        return found

    def lock_model(self, s: Session, model_id: str) -> ModelRow:
        model = s.exec(select(ModelRow).where(ModelRow.id == model_id).with_for_update()).first()
        if model is None:
            raise NotFound(MODEL_GONE)
        return model

    def refresh_listing(self, s: Session, model: ModelRow) -> None:
        """Rewrite the model's listing summary in the write ``s`` (the model's row locked):
        every write that changes its versions, aliases or default ends with this."""
        s.flush()
        refresh_listings(s.connection(), [model.id])
        s.refresh(model, ["listing_versions", "listing_aliases", "listing_default"])

    def get_model(self, model_id: str) -> ModelRow:
        with self.read() as s:
            model = s.get(ModelRow, model_id)
            if model is None:
                raise NotFound(MODEL_GONE)
            return model

    def _delete_versions(self, s: Session, ids: Sequence[str]) -> None:
        if not ids:
            return
        for table in (AliasRow, MetricRow, FunctionRow):
            s.exec(delete(table).where(col(table.version_id).in_(ids)))
        s.exec(delete(VersionRow).where(col(VersionRow.id).in_(ids)))


@functools.cache
def _locate_model() -> Any:
    """Namespace ``database.schema`` LEFT JOIN its model ``name`` (parameters), built once."""
    ns, m = NamespaceRow, ModelRow
    name = sa.bindparam("name", type_=sa.String)
    return (
        select(ns.id, m)
        .outerjoin(m, sa.and_(col(m.namespace_id) == col(ns.id), col(m.name) == name))
        .where(
            col(ns.database_name) == sa.bindparam("database", type_=sa.String),
            col(ns.schema_name) == sa.bindparam("schema", type_=sa.String),
        )
    )
