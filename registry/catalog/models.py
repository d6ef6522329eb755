"""Model-level operations: listing, summaries, rename, delete, comment and tags."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, delete, select

from registry.catalog.base import StoreBase, as_utc
from registry.catalog.tables import (
    AliasRow,
    ModelRow,
    ModelTagRow,
    NamespaceRow,
    VersionRow,
)
from registry.errors import AlreadyExists
from registry.identifiers import format_identifier

__all__ = ["ModelOps"]


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
