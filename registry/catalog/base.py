"""The catalog store's foundation: the engine, transactions and error translation, namespaces
and the model-row helpers every operation uses.

Driver errors are translated here, and only here, into ``FloeError``s.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from registry.catalog.engine import WRITE_OPTION, create_catalog_engine, migrate
from registry.catalog.tables import (
    AliasRow,
    FunctionRow,
    MetricRow,
    ModelRow,
    NamespaceRow,
    VersionRow,
)
from registry.errors import AlreadyExists, CatalogError, NotFound
from registry.identifiers import format_identifier

__all__ = ["SYSTEM_ALIASES", "StoreBase", "as_utc", "new_id", "utcnow"]

log = logging.getLogger(__name__)


SYSTEM_ALIASES = ("DEFAULT", "FIRST", "LAST")
_RETRIES = 8


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive timestamps; every timestamp Floe stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)



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
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                session.connection(execution_options={WRITE_OPTION: is_write})
                yield session
                if is_write:
                    session.commit()
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(
                f"the catalog refused the change because a name is already taken "
                f"({_constraint_of(exc)}); choose another name"
            ) from exc
        except sa.exc.OperationalError as exc:
            raise CatalogError(
                f"the catalog at {self.engine.url.render_as_string(hide_password=True)} "
                f"failed: {exc.orig}; check that the database is reachable and not read-only"
            ) from exc

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
        ns = self.namespace_of(s, model)
        return ".".join(
            format_identifier(p) for p in (ns.database_name, ns.schema_name, model.name)
        )

    # -- models -------------------------------------------------------------------------------

    def find_model(self, s: Session, namespace_id: int, name: str) -> ModelRow | None:
        return s.exec(
            select(ModelRow).where(ModelRow.namespace_id == namespace_id, ModelRow.name == name)
        ).first()

    def lock_model(self, s: Session, model_id: str) -> ModelRow:
        model = s.exec(select(ModelRow).where(ModelRow.id == model_id).with_for_update()).first()
        if model is None:
            raise NotFound("the model no longer exists; list models: floe models list")
        return model

    def get_model(self, model_id: str) -> ModelRow:
        with self.read() as s:
            model = s.get(ModelRow, model_id)
            if model is None:
                raise NotFound("the model no longer exists; list models: floe models list")
            return model
    def _delete_versions(self, s: Session, ids: Sequence[str]) -> None:
        if not ids:
            return
        for table in (AliasRow, MetricRow, FunctionRow):
            s.exec(delete(table).where(col(table.version_id).in_(ids)))
        s.exec(delete(VersionRow).where(col(VersionRow.id).in_(ids)))


def _constraint_of(exc: sa.exc.IntegrityError) -> str:
    text = str(exc.orig)
    for name in ("uq_model_name", "uq_version_name", "uq_namespace"):
        if name in text:
            return name
    return text.splitlines()[0] if text else "unique constraint"
