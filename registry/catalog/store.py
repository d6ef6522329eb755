"""Every read and write of the catalog. Each method checks its arguments, then runs in one
transaction; driver errors are translated here, and only here, into ``FloeError``s.

Writes that touch a model lock its row first (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite every write transaction holds the database's write lock), so the rules that span rows
(an alias never equals a version name, the default version cannot be deleted while others
exist) hold under any number of concurrent writers. The unique constraints in ``tables``
back them up.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from registry.catalog.engine import WRITE_OPTION, create_catalog_engine, migrate
from registry.catalog.tables import (
    AliasRow,
    FunctionRow,
    MetricRow,
    ModelRow,
    ModelTagRow,
    NamespaceRow,
    VersionRow,
)
from registry.errors import AlreadyExists, CatalogError, Conflict, InvalidInput, NotFound
from registry.identifiers import format_identifier, generate_version_name

__all__ = ["SYSTEM_ALIASES", "CatalogStore", "new_id", "utcnow"]

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


class CatalogStore:
    """The catalog at one SQLAlchemy URL, migrated to the newest schema when opened."""

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

    def list_models(self, namespace_id: int) -> list[ModelRow]:
        with self.read() as s:
            return list(
                s.exec(
                    select(ModelRow)
                    .where(ModelRow.namespace_id == namespace_id)
                    .order_by(col(ModelRow.name))
                )
            )

    def model_summaries(self, namespace_id: int) -> list[dict[str, Any]]:
        """One dict per model with its versions' names in creation order (two queries)."""
        m, v = ModelRow.__table__, VersionRow.__table__  # type: ignore[attr-defined]
        a = AliasRow.__table__  # type: ignore[attr-defined]
        with self.read() as s:
            models = s.execute(
                sa.select(m.c.id, m.c.name, m.c.comment, m.c.owner, m.c.created_on,
                          m.c.default_version_id)
                .where(m.c.namespace_id == namespace_id)
                .order_by(m.c.name)
            ).all()
            versions = s.execute(
                sa.select(v.c.model_id, v.c.id, v.c.name)
                .select_from(v.join(m, v.c.model_id == m.c.id))
                .where(m.c.namespace_id == namespace_id)
                .order_by(v.c.created_on, v.c.id)
            ).all()
            aliases = s.execute(
                sa.select(a.c.model_id, a.c.name, v.c.name)
                .select_from(a.join(v, a.c.version_id == v.c.id).join(m, a.c.model_id == m.c.id))
                .where(m.c.namespace_id == namespace_id)
                .order_by(a.c.name)
            ).all()
        by_alias: dict[str, list[tuple[str, str]]] = {}
        for model_id, alias, version_name in aliases:
            by_alias.setdefault(model_id, []).append((alias, version_name))
        by_model: dict[str, list[tuple[str, str]]] = {}
        for model_id, version_id, version_name in versions:
            by_model.setdefault(model_id, []).append((version_id, version_name))
        out = []
        for model_id, name, comment, owner, created_on, default_id in models:
            own = by_model.get(model_id, [])
            default_name = next((n for i, n in own if i == default_id), None)
            out.append(
                {
                    "id": model_id,
                    "created_on": as_utc(created_on),
                    "name": name,
                    "owner": owner,
                    "comment": comment,
                    "versions": [n for _, n in own],
                    "default_version_name": default_name,
                    "aliases": by_alias.get(model_id, []),
                }
            )
        return out

    def delete_model(self, model_id: str) -> list[str]:
        """Delete the model and everything under it; return the deleted versions' ids."""
        with self.write() as s:
            self.lock_model(s, model_id)
            ids = list(s.exec(select(VersionRow.id).where(VersionRow.model_id == model_id)))
            self._delete_versions(s, ids)
            s.exec(delete(AliasRow).where(col(AliasRow.model_id) == model_id))
            s.exec(delete(ModelTagRow).where(col(ModelTagRow.model_id) == model_id))
            s.exec(delete(ModelRow).where(col(ModelRow.id) == model_id))
            return ids

    def _delete_versions(self, s: Session, ids: Sequence[str]) -> None:
        if not ids:
            return
        for table in (AliasRow, MetricRow, FunctionRow):
            s.exec(delete(table).where(col(table.version_id).in_(ids)))
        s.exec(delete(VersionRow).where(col(VersionRow.id).in_(ids)))

    def rename_model(self, model_id: str, namespace_id: int, new_name: str) -> ModelRow:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            clash = self.find_model(s, namespace_id, new_name)
            if clash is not None and clash.id != model_id:
                target = NamespaceRow.model_validate(s.get(NamespaceRow, namespace_id))
                raise AlreadyExists(
                    f"{target.database_name}.{target.schema_name}."
                    f"{format_identifier(new_name)} already exists; choose another name or "
                    "delete that model first"
                )
            model.namespace_id = namespace_id
            model.name = new_name
            s.add(model)
            s.flush()
            return model

    def set_model_comment(self, model_id: str, comment: str | None) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            model.comment = comment
            s.add(model)

    # -- tags ---------------------------------------------------------------------------------

    def set_tag(self, model_id: str, name: str, value: str) -> None:
        with self.write() as s:
            self.lock_model(s, model_id)
            row = s.get(ModelTagRow, (model_id, name)) or ModelTagRow(
                model_id=model_id, name=name, value=value
            )
            row.value = value
            s.add(row)

    def list_tags(self, model_id: str) -> dict[str, str]:
        with self.read() as s:
            rows = s.exec(
                select(ModelTagRow)
                .where(ModelTagRow.model_id == model_id)
                .order_by(col(ModelTagRow.name))
            )
            return {r.name: r.value for r in rows}

    def unset_tag(self, model_id: str, name: str) -> bool:
        with self.write() as s:
            self.lock_model(s, model_id)
            row = s.get(ModelTagRow, (model_id, name))
            if row is None:
                return False
            s.delete(row)
            return True

    # -- versions -----------------------------------------------------------------------------

    def add_version(
        self,
        *,
        namespace_id: int,
        model_name: str,
        version: VersionRow,
        version_name: str | None,
        metrics: dict[str, Any],
        functions: Sequence[FunctionRow],
        owner: str,
        model_comment: str | None,
    ) -> tuple[ModelRow, VersionRow]:
        """Register a version whose artifacts are already stored; create the model if new.

        ``version_name=None`` picks a fresh generated name. Everything commits at once.
        """
        for _ in range(_RETRIES):
            try:
                return self._add_version_once(
                    namespace_id, model_name, version, version_name, metrics, functions, owner,
                    model_comment,
                )
            except AlreadyExists as exc:
                # Another process created the model, or took the generated name, between our
                # read and our insert: try again; an explicit name clash was raised above.
                if not isinstance(exc.__cause__, sa.exc.IntegrityError):
                    raise
                log.debug("retrying version registration after a race: %s", exc)
        raise CatalogError(f"could not register a version of {model_name} after {_RETRIES} tries")

    def _add_version_once(
        self,
        namespace_id: int,
        model_name: str,
        version: VersionRow,
        version_name: str | None,
        metrics: dict[str, Any],
        functions: Sequence[FunctionRow],
        owner: str,
        model_comment: str | None,
    ) -> tuple[ModelRow, VersionRow]:
        with self.write() as s:
            model = s.exec(
                select(ModelRow)
                .where(ModelRow.namespace_id == namespace_id, ModelRow.name == model_name)
                .with_for_update()
            ).first()
            taken: set[str] = set(SYSTEM_ALIASES)
            if model is None:
                model = ModelRow(
                    id=new_id(), namespace_id=namespace_id, name=model_name, owner=owner,
                    comment=model_comment, created_on=utcnow(), default_version_id=version.id,
                )
                s.add(model)
                s.flush()
            else:
                taken |= set(s.exec(select(VersionRow.name).where(VersionRow.model_id == model.id)))
                taken |= set(s.exec(select(AliasRow.name).where(AliasRow.model_id == model.id)))
                if model.default_version_id is None:
                    model.default_version_id = version.id
                    s.add(model)
            name = version_name or _fresh_name(taken)
            if name in taken:
                label = self.model_label(s, model)
                what = "a system alias" if name in SYSTEM_ALIASES else "taken"
                raise AlreadyExists(
                    f"version name {format_identifier(name)} of {label} is {what} (by a version "
                    f"or an alias); pick another version_name, or omit it for a generated one"
                )
            row = VersionRow.model_validate(version)
            row.model_id, row.name, row.created_on = model.id, name, utcnow()
            s.add(row)
            s.flush()
            for metric_name, value in metrics.items():
                s.add(MetricRow(version_id=row.id, name=metric_name, value=value))
            for fn in functions:
                s.add(FunctionRow.model_validate(fn, update={"version_id": row.id}))
            s.flush()
            return model, row

    def list_versions(self, model_id: str) -> list[VersionRow]:
        with self.read() as s:
            return list(
                s.exec(
                    select(VersionRow)
                    .where(VersionRow.model_id == model_id)
                    .order_by(col(VersionRow.created_on), col(VersionRow.id))
                )
            )

    def get_version(self, version_id: str) -> VersionRow:
        with self.read() as s:
            row = s.get(VersionRow, version_id)
            if row is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            return row

    def resolve_version(self, s: Session, model: ModelRow, name: str) -> VersionRow | None:
        """The version that a version name or an alias (system or user) names, or None."""
        v = VersionRow
        if name == "DEFAULT":
            return s.get(VersionRow, model.default_version_id) if model.default_version_id else None
        if name in ("FIRST", "LAST"):
            order = (col(v.created_on), col(v.id))
            if name == "LAST":
                order = (col(v.created_on).desc(), col(v.id).desc())
            return s.exec(select(v).where(v.model_id == model.id).order_by(*order)).first()
        row = s.exec(select(v).where(v.model_id == model.id, v.name == name)).first()
        if row is not None:
            return row
        return s.exec(
            select(v)
            .join(AliasRow, col(AliasRow.version_id) == col(v.id))
            .where(AliasRow.model_id == model.id, AliasRow.name == name)
        ).first()

    def delete_version(self, model_id: str, version_id: str) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            if s.get(VersionRow, version_id) is None:
                return
            if model.default_version_id == version_id:
                others = s.exec(
                    select(VersionRow.name).where(
                        VersionRow.model_id == model_id, VersionRow.id != version_id
                    )
                ).first()
                if others is not None:
                    label = self.model_label(s, model)
                    raise Conflict(
                        f"cannot delete the default version of {label} while it has other "
                        f"versions; set another default first: floe default set {label} "
                        f"{format_identifier(others)}"
                    )
                model.default_version_id = None
                s.add(model)
            self._delete_versions(s, [version_id])

    def set_default(self, model_id: str, version_id: str) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            if s.get(VersionRow, version_id) is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            model.default_version_id = version_id
            s.add(model)

    def set_version_comment(self, version_id: str, comment: str | None) -> None:
        with self.write() as s:
            row = s.get(VersionRow, version_id)
            if row is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            row.comment = comment
            s.add(row)

    # -- aliases ------------------------------------------------------------------------------

    def set_alias(self, model_id: str, version_id: str, alias: str) -> None:
        """Point ``alias`` at the version, moving it off any other version atomically."""
        if alias in SYSTEM_ALIASES:
            raise InvalidInput(
                f"{alias} is a system alias that Floe maintains; choose another alias name"
            )
        with self.write() as s:
            model = self.lock_model(s, model_id)
            clash = s.exec(
                select(VersionRow.id).where(VersionRow.model_id == model_id, VersionRow.name == alias)
            ).first()
            if clash is not None:
                raise AlreadyExists(
                    f"{format_identifier(alias)} is a version name of "
                    f"{self.model_label(s, model)}; an alias must differ from every version name"
                )
            row = s.get(AliasRow, (model_id, alias))
            if row is None:
                row = AliasRow(model_id=model_id, name=alias, version_id=version_id)
            row.version_id = version_id
            s.add(row)

    def unset_alias(self, model_id: str, alias: str) -> bool:
        with self.write() as s:
            self.lock_model(s, model_id)
            row = s.get(AliasRow, (model_id, alias))
            if row is None:
                return False
            s.delete(row)
            return True

    def aliases_of(self, version_id: str) -> list[str]:
        with self.read() as s:
            model_id = s.exec(select(VersionRow.model_id).where(VersionRow.id == version_id)).first()
            if model_id is None:
                return []
            model = s.get(ModelRow, model_id)
            assert model is not None
            names = list(
                s.exec(
                    select(AliasRow.name)
                    .where(AliasRow.version_id == version_id)
                    .order_by(col(AliasRow.name))
                )
            )
            ordered = s.exec(
                select(VersionRow.id)
                .where(VersionRow.model_id == model_id)
                .order_by(col(VersionRow.created_on), col(VersionRow.id))
            ).all()
            system = []
            if model.default_version_id == version_id:
                system.append("DEFAULT")
            if ordered and ordered[0] == version_id:
                system.append("FIRST")
            if ordered and ordered[-1] == version_id:
                system.append("LAST")
            return system + names

    # -- metrics and functions ----------------------------------------------------------------

    def set_metric(self, version_id: str, name: str, value: Any) -> None:
        with self.write() as s:
            if s.get(VersionRow, version_id) is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            row = s.get(MetricRow, (version_id, name))
            if row is None:
                row = MetricRow(version_id=version_id, name=name, value=value)
            row.value = value
            s.add(row)

    def list_metrics(self, version_id: str) -> dict[str, Any]:
        with self.read() as s:
            rows = s.exec(
                select(MetricRow)
                .where(MetricRow.version_id == version_id)
                .order_by(col(MetricRow.name))
            )
            return {r.name: r.value for r in rows}

    def delete_metric(self, version_id: str, name: str) -> bool:
        with self.write() as s:
            row = s.get(MetricRow, (version_id, name))
            if row is None:
                return False
            s.delete(row)
            return True

    def list_functions(self, version_id: str) -> list[FunctionRow]:
        with self.read() as s:
            return list(
                s.exec(
                    select(FunctionRow)
                    .where(FunctionRow.version_id == version_id)
                    .order_by(col(FunctionRow.name))
                )
            )

    def version_details(
        self, model_id: str
    ) -> list[tuple[VersionRow, list[str], dict[str, Any], list[str]]]:
        """Every version of a model, oldest first, with its aliases (system first), metrics
        and function names, in four queries."""
        with self.read() as s:
            model = s.get(ModelRow, model_id)
            if model is None:
                raise NotFound("the model no longer exists; list models: floe models list")
            versions = list(
                s.exec(
                    select(VersionRow)
                    .where(VersionRow.model_id == model_id)
                    .order_by(col(VersionRow.created_on), col(VersionRow.id))
                )
            )
            ids = [v.id for v in versions]
            aliases: dict[str, list[str]] = {i: [] for i in ids}
            metrics: dict[str, dict[str, Any]] = {i: {} for i in ids}
            functions: dict[str, list[str]] = {i: [] for i in ids}
            if ids:
                for a in s.exec(
                    select(AliasRow).where(AliasRow.model_id == model_id).order_by(col(AliasRow.name))
                ):
                    aliases[a.version_id].append(a.name)
                for m in s.exec(
                    select(MetricRow)
                    .where(col(MetricRow.version_id).in_(ids))
                    .order_by(col(MetricRow.name))
                ):
                    metrics[m.version_id][m.name] = m.value
                for f in s.exec(
                    select(FunctionRow)
                    .where(col(FunctionRow.version_id).in_(ids))
                    .order_by(col(FunctionRow.name))
                ):
                    functions[f.version_id].append(f.name)
        out = []
        for i, v in enumerate(versions):
            system = []
            if v.id == model.default_version_id:
                system.append("DEFAULT")
            if i == 0:
                system.append("FIRST")
            if i == len(versions) - 1:
                system.append("LAST")
            out.append((v, system + aliases[v.id], metrics[v.id], functions[v.id]))
        return out

    def all_version_ids(self) -> set[str]:
        with self.read() as s:
            return set(s.exec(select(VersionRow.id)))


def _fresh_name(taken: set[str]) -> str:
    for _ in range(1000):
        name = generate_version_name()
        if name not in taken:
            return name
    raise CatalogError("could not generate a free version name; pass version_name")


def _constraint_of(exc: sa.exc.IntegrityError) -> str:
    text = str(exc.orig)
    for name in ("uq_model_name", "uq_version_name", "uq_namespace"):
        if name in text:
            return name
    return text.splitlines()[0] if text else "unique constraint"
