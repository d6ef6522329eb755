"""Model-level operations: listing, summaries, rename, delete, comment and tags."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlmodel import col, delete, select

from registry.catalog.base import StoreBase
from registry.catalog.tables import (
    AliasRow,
    ModelRow,
    ModelTagRow,
    NamespaceRow,
    VersionRow,
)
from registry.errors import AlreadyExists
from registry.identifiers import format_identifier

__all__ = ["ModelListing", "ModelOps"]


@dataclass(frozen=True)
class ModelListing:
    """Every model of a namespace, ordered by name, one Arrow array per field.

    Names are resolved (as stored). ``created_on`` is ``timestamp[us, UTC]``;
    ``default_version`` is null for a model without versions; ``versions`` lists version
    names in creation order; ``aliases`` maps alias name to version name, ordered by alias.
    """

    name: pa.StringArray
    owner: pa.StringArray
    comment: pa.StringArray
    created_on: pa.TimestampArray
    default_version: pa.StringArray
    versions: pa.ListArray
    aliases: pa.MapArray

    def __len__(self) -> int:
        return len(self.name)


class ModelOps(StoreBase):
    def list_models(self, namespace_id: int) -> list[ModelRow]:
        with self.read() as s:
            return list(
                s.exec(
                    select(ModelRow)
                    .where(ModelRow.namespace_id == namespace_id)
                    .order_by(col(ModelRow.name))
                )
            )

    def model_listing(self, namespace_id: int) -> ModelListing:
        """Every model of the namespace with its versions and aliases, as Arrow columns."""
        statement, passes = _listing_statement(self.engine.dialect.name)
        with self.read() as s:
            row = s.execute(statement, {"namespace_id": namespace_id}).one()
        texts = iter(row)
        versions, aliases = (
            _in_order({name: next(texts) for name in columns}) for columns in passes
        )
        return _assemble(versions, aliases)

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


# -- model_listing helpers -----------------------------------------------------------------------


@functools.cache
def _listing_statement(dialect: str) -> tuple[sa.Select[Any], list[list[str]]]:
    """One statement, so one snapshot on every backend, that returns one row: each column of
    the two passes below gathered by the database into the text of a JSON array. Fetching
    10,000 rows one by one costs more than running the query; a few long strings cost little.

    * versions: models LEFT JOIN versions, one row per version (one for a model without any),
      ordered by model name, then creation (created_on, id);
    * aliases: one row per alias with its version's name, ordered by model name, then alias.

    SQLite keeps a FROM-subquery's ORDER BY when the outer query aggregates with anything but
    count/min/max (select.c), so its aggregates see the rows in order, as long as the ordered
    subquery is that query's only FROM item. PostgreSQL promises an order only for an ORDER BY
    inside each aggregate, which sorts once per column; there each row carries its place
    (``pos``) instead, and ``_in_order`` sorts where the database did not.

    Also returns each pass's column names, in the order of the row's values. Built once per
    dialect; the namespace is the bound parameter ``namespace_id``.
    """
    m, v = ModelRow.__table__, VersionRow.__table__  # type: ignore[attr-defined]
    a = AliasRow.__table__  # type: ignore[attr-defined]
    in_namespace = m.c.namespace_id == sa.bindparam("namespace_id")
    is_numbered = dialect != "sqlite"
    # A timestamptz renders with the session's offset: ask PostgreSQL for UTC.
    created = m.c.created_on if dialect == "sqlite" else sa.func.timezone("UTC", m.c.created_on)
    by_version = (m.c.name, v.c.created_on, v.c.id)
    by_alias = (m.c.name, a.c.name)
    subqueries = [
        sa.select(
            *([sa.func.row_number().over(order_by=by_version).label("pos")] if is_numbered else []),
            m.c.name.label("model"),
            m.c.owner,
            m.c.comment,
            created.label("created_on"),
            v.c.name.label("version"),
            sa.case((v.c.id == m.c.default_version_id, 1), else_=0).label("is_default"),
        )
        .select_from(m.outerjoin(v, v.c.model_id == m.c.id))
        .where(in_namespace)
        .order_by(*by_version)
        .subquery(),
        sa.select(
            *([sa.func.row_number().over(order_by=by_alias).label("pos")] if is_numbered else []),
            m.c.name.label("model"),
            a.c.name.label("alias"),
            v.c.name.label("version"),
        )
        .select_from(m.join(a, a.c.model_id == m.c.id).join(v, v.c.id == a.c.version_id))
        .where(in_namespace)
        .order_by(*by_alias)
        .subquery(),
    ]
    gathered = [
        sa.select(*(_json_array_agg(c, dialect) for c in sub.c)).subquery() for sub in subqueries
    ]
    statement = sa.select(gathered[0].join(gathered[1], sa.true()))
    return statement, [list(sub.c.keys()) for sub in subqueries]


def _json_array_agg(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    """Aggregate: the column's values as the text of one JSON array, NULLs kept."""
    if dialect == "postgresql":
        return sa.cast(sa.func.array_to_json(sa.func.array_agg(column)), sa.Text)
    return sa.func.json_group_array(column, type_=sa.Text)


_TYPES = {"pos": pa.int64(), "is_default": pa.int64()}


def _in_order(texts: dict[str, str | None]) -> dict[str, pa.Array]:
    """One pass's JSON arrays as Arrow arrays, in the order of ``pos`` where there is one."""
    arrays = {
        name: pa.array(json.loads(text) if text is not None else [], _TYPES.get(name, pa.string()))
        for name, text in texts.items()
    }
    if "pos" in arrays:
        pos = arrays.pop("pos").to_numpy()
        if (pos[1:] < pos[:-1]).any():
            order = np.argsort(pos)
            arrays = {name: arr.take(order) for name, arr in arrays.items()}
    return arrays


def _offsets(group: np.ndarray, n_groups: int) -> pa.Int32Array:
    """List offsets for items already grouped in order, given each item's group."""
    counts = np.bincount(group, minlength=n_groups)
    return pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32())


def _assemble(versions: dict[str, pa.Array], aliases: dict[str, pa.Array]) -> ModelListing:
    # Pass 1 has one row per version, grouped by model: a model starts where the name changes.
    model = versions["model"]
    starts = np.ones(len(model), dtype=bool)
    if len(model) > 1:
        starts[1:] = pc.not_equal(model[1:], model[:-1]).to_numpy(zero_copy_only=False)
    firsts = np.flatnonzero(starts)
    model_of_row = np.cumsum(starts) - 1
    names = model.take(firsts)

    version = versions["version"]
    has_version = pc.is_valid(version).to_numpy(zero_copy_only=False)
    is_default = versions["is_default"].to_numpy() == 1
    default_row = np.full(len(names), -1)
    default_row[model_of_row[is_default]] = np.flatnonzero(is_default)

    alias_model = pc.index_in(aliases["model"], value_set=names)
    assert alias_model.null_count == 0, "pass 2 names a model that pass 1 lacks"
    alias_model = alias_model.to_numpy()
    by_model = np.argsort(alias_model, kind="stable")  # keeps the alias order within a model

    created_on = pc.cast(versions["created_on"].take(firsts), pa.timestamp("us"))
    return ModelListing(
        name=names,
        owner=versions["owner"].take(firsts),
        comment=versions["comment"].take(firsts),
        created_on=pc.assume_timezone(created_on, "UTC"),
        default_version=version.take(pa.array(default_row, mask=default_row < 0)),
        versions=pa.ListArray.from_arrays(
            _offsets(model_of_row[has_version], len(names)), version.filter(has_version)
        ),
        aliases=pa.MapArray.from_arrays(
            _offsets(alias_model, len(names)),
            aliases["alias"].take(by_model),
            aliases["version"].take(by_model),
        ),
    )
