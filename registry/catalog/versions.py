"""Version-level operations: registration, resolution (versions and aliases), default,
comment, aliases, metrics and functions.

Writes that touch a model lock its row first (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite every write transaction holds the write lock), so rules that span rows hold under
concurrent writers; the unique constraints in ``tables`` back them up.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from registry.catalog.access import copy_future_grants
from registry.catalog.audit import Actor, record
from registry.catalog.base import SYSTEM_ALIASES, StoreBase, new_id, utcnow
from registry.catalog.tables import (
    AliasRow,
    CatalogRow,
    FunctionRow,
    MetricRow,
    ModelRow,
    VersionRow,
)
from registry.errors import AlreadyExists, CatalogError, Conflict, InvalidInput, NotFound
from registry.identifiers import format_identifier, generate_version_name

__all__ = ["VersionOps"]

log = logging.getLogger(__name__)
_RETRIES = 8



def _aliases_of_query() -> sa.Select[tuple[str | None, str | None, str | None, str | None]]:
    """A version's model's default, first and last version ids, once per alias of its own
    (one row, alias NULL, when it has none)."""
    version: sa.BindParameter[str] = sa.bindparam("version")
    ordered = select(VersionRow.id).where(col(VersionRow.model_id) == col(ModelRow.id))
    first = ordered.order_by(col(VersionRow.created_on), col(VersionRow.id)).limit(1)
    last = ordered.order_by(col(VersionRow.created_on).desc(), col(VersionRow.id).desc()).limit(1)
    own = aliased(VersionRow)
    return (select(ModelRow.default_version_id, first.scalar_subquery(),  # type: ignore[return-value]
                   last.scalar_subquery(), AliasRow.name)
            .select_from(own)
            .join(ModelRow, col(ModelRow.id) == own.model_id)
            .outerjoin(AliasRow, col(AliasRow.version_id) == own.id)
            .where(own.id == version)
            .order_by(col(AliasRow.name)))


_ALIASES_OF = _aliases_of_query()

class VersionOps(StoreBase):
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
        actor: Actor | None = None,
    ) -> tuple[ModelRow, VersionRow]:
        """Register a version whose artifacts are already stored; create the model if new.

        ``version_name=None`` picks a fresh generated name. Everything commits at once.
        """
        for _ in range(_RETRIES):
            try:
                return self._add_version_once(
                    namespace_id=namespace_id, model_name=model_name, version=version,
                    version_name=version_name, metrics=metrics, functions=functions, owner=owner,
                    model_comment=model_comment, actor=actor,
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
        actor: Actor | None,
    ) -> tuple[ModelRow, VersionRow]:
        with self.write() as s:
            model = s.exec(
                select(ModelRow)
                .where(ModelRow.namespace_id == namespace_id, ModelRow.name == model_name)
                .with_for_update()
            ).first()
            taken: set[str] = set(SYSTEM_ALIASES)
            is_new = model is None
            if model is None:
                model = ModelRow(
                    id=new_id(), namespace_id=namespace_id, name=model_name, owner=owner,
                    comment=model_comment, created_on=utcnow(), default_version_id=version.id,
                )
                s.add(model)
                s.flush()
                copy_future_grants(s, model)
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
            self.refresh_listing(s, model)
            record(
                s, actor, "LOG VERSION",
                f"{self.model_label(s, model)} version {format_identifier(name)}",
                model_id=model.id, after={
                    "version": format_identifier(name), "framework": row.framework,
                    "manifest_sha256": row.manifest_sha256, "is_new_model": is_new,
                    "owner": model.owner,
                },
            )
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

    def resolve_version(self, model_id: str, name: str) -> VersionRow | None:
        """The version that a version name or an alias (system or user) of the model names,
        or None, in one query."""
        kind = name if name in SYSTEM_ALIASES else "NAME"
        with self.read() as s:
            return s.exec(_resolution(kind), params={"model_id": model_id, "name": name}).first()

    def delete_version(
        self, model_id: str, version_id: str, *, actor: Actor | None = None
    ) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            version = s.get(VersionRow, version_id)
            if version is None:
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
            self.refresh_listing(s, model)
            record(s, actor, "DELETE VERSION", self.model_label(s, model),
                        model_id=model_id, before={"version": format_identifier(version.name)})

    def set_default(self, model_id: str, version_id: str, *, actor: Actor | None = None) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            if s.get(VersionRow, version_id) is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            before = model.listing_default
            model.default_version_id = version_id
            s.add(model)
            self.refresh_listing(s, model)
            record(s, actor, "SET DEFAULT", self.model_label(s, model), model_id=model_id,
                        before={"default": before}, after={"default": model.listing_default})

    def set_version_comment(
        self, version_id: str, comment: str | None, *, actor: Actor | None = None
    ) -> None:
        with self.write() as s:
            row = s.get(VersionRow, version_id)
            if row is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            record(s, actor, "SET COMMENT", self._version_label(s, row),
                        model_id=row.model_id, before={"comment": row.comment},
                        after={"comment": comment})
            row.comment = comment
            s.add(row)

    # -- aliases ------------------------------------------------------------------------------

    def set_alias(
        self, model_id: str, version_id: str, alias: str, *, actor: Actor | None = None
    ) -> None:
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
            before = self._version_name(s, row.version_id) if row else None
            if row is None:
                row = AliasRow(model_id=model_id, name=alias, version_id=version_id)
            row.version_id = version_id
            s.add(row)
            self.refresh_listing(s, model)
            record(s, actor, "SET ALIAS", self.model_label(s, model), model_id=model_id,
                        before={format_identifier(alias): before},
                        after={format_identifier(alias): self._version_name(s, version_id)})

    def unset_alias(self, model_id: str, alias: str, *, actor: Actor | None = None) -> bool:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            row = s.get(AliasRow, (model_id, alias))
            if row is None:
                return False
            before = self._version_name(s, row.version_id)
            s.delete(row)
            self.refresh_listing(s, model)
            record(s, actor, "UNSET ALIAS", self.model_label(s, model), model_id=model_id,
                        before={format_identifier(alias): before})
            return True

    def aliases_of(self, version_id: str) -> list[str]:
        """The version's system aliases (DEFAULT, FIRST, LAST, those it answers to) and then
        its own, by name: one statement."""
        with self.read() as s:
            rows = s.execute(_ALIASES_OF, {"version": version_id}).all()
        if not rows:
            return []
        default_id, first_id, last_id = rows[0][:3]
        system = [name for name, holder in (("DEFAULT", default_id), ("FIRST", first_id),
                                            ("LAST", last_id)) if holder == version_id]
        return system + [name for *_, name in rows if name is not None]

    # -- metrics and functions ----------------------------------------------------------------

    def set_metric(
        self, version_id: str, name: str, value: Any, *, actor: Actor | None = None
    ) -> None:
        with self.write() as s:
            version = s.get(VersionRow, version_id)
            if version is None:
                raise NotFound("the model version no longer exists; list them: floe versions list")
            row = s.get(MetricRow, (version_id, name))
            record(s, actor, "SET METRIC", self._version_label(s, version),
                        model_id=version.model_id, before={name: row.value if row else None},
                        after={name: value})
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

    def delete_metric(self, version_id: str, name: str, *, actor: Actor | None = None) -> bool:
        with self.write() as s:
            row = s.get(MetricRow, (version_id, name))
            version = s.get(VersionRow, version_id)
            if row is None or version is None:
                return False
            record(s, actor, "DELETE METRIC", self._version_label(s, version),
                        model_id=version.model_id, before={name: row.value})
            s.delete(row)
            return True

    def _version_name(self, s: Session, version_id: str) -> str | None:
        version = s.get(VersionRow, version_id)
        return format_identifier(version.name) if version is not None else None

    def _version_label(self, s: Session, version: VersionRow) -> str:
        """``DB.SCHEMA.MODEL version V`` of a version row."""
        model = s.get(ModelRow, version.model_id)
        assert model is not None
        return f"{self.model_label(s, model)} version {format_identifier(version.name)}"

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

    def catalog_id(self) -> str:
        """This catalog's id, which its artifact root records; made when absent (migration
        0004 makes it, so only a catalog whose row was deleted writes here)."""
        for _ in range(_RETRIES):
            with self.read() as s:
                row = s.get(CatalogRow, 1)
            if row is not None:
                return row.catalog_id
            with contextlib.suppress(AlreadyExists), self.write() as s:
                s.add(CatalogRow(id=1, catalog_id=new_id(), created_on=utcnow()))
        raise CatalogError("could not record the catalog's id; retry")


def _fresh_name(taken: set[str]) -> str:
    for _ in range(1000):
        name = generate_version_name()
        if name not in taken:
            return name
    raise CatalogError("could not generate a free version name; pass version_name")


@functools.cache
def _resolution(kind: str) -> SelectOfScalar[VersionRow]:
    """The query that finds a version by ``kind``: DEFAULT, FIRST, LAST, or NAME (a version
    name or a user alias), with parameters ``model_id`` and ``name``. Built once: building a
    statement costs more than a round trip to a local database."""
    v, a, m = VersionRow, AliasRow, ModelRow
    model_id = sa.bindparam("model_id", type_=sa.String)
    statement = select(v)
    if kind == "DEFAULT":
        return statement.join(m, col(m.default_version_id) == col(v.id)).where(
            col(m.id) == model_id
        )
    if kind in ("FIRST", "LAST"):
        order: tuple[Any, Any] = (col(v.created_on), col(v.id))
        if kind == "LAST":
            order = (col(v.created_on).desc(), col(v.id).desc())
        return statement.where(col(v.model_id) == model_id).order_by(*order).limit(1)
    # A version name and an alias never coincide within a model (the store refuses it), so
    # at most one of the two branches matches.
    name = sa.bindparam("name", type_=sa.String)
    aliased = select(a.version_id).where(col(a.model_id) == model_id, col(a.name) == name)
    return statement.where(
        col(v.model_id) == model_id, sa.or_(col(v.name) == name, col(v.id).in_(aliased))
    ).limit(1)
