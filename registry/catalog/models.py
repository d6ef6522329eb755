"""Model-level operations: listing, summaries, rename, delete, comment and tags."""

from __future__ import annotations

from sqlmodel import col, delete, select

from registry.catalog.access import visible_models
from registry.catalog.audit import Actor, record
from registry.catalog.base import StoreBase
from registry.catalog.listing import ModelListing, read_listing
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


class ModelOps(StoreBase):
    def list_models(self, namespace_id: int, *, visible_to: str | None = None) -> list[ModelRow]:
        """The namespace's models by name: all, or those role ``visible_to`` holds any
        privilege on."""
        with self.read() as s:
            statement = select(ModelRow).where(ModelRow.namespace_id == namespace_id)
            if visible_to is not None:
                statement = statement.where(visible_models(s, visible_to))
            return list(s.exec(statement.order_by(col(ModelRow.name))))

    def model_listing(self, namespace_id: int, *, visible_to: str | None = None) -> ModelListing:
        """Every model of the namespace (or those ``visible_to`` may see) with its versions
        and aliases, as Arrow columns."""
        with self.read() as s:
            condition = visible_models(s, visible_to) if visible_to is not None else None
            return read_listing(s.connection(), namespace_id, condition)

    def delete_model(self, model_id: str, *, actor: Actor | None = None) -> list[str]:
        """Delete the model and everything under it; return the deleted versions' ids."""
        with self.write() as s:
            model = self.lock_model(s, model_id)
            versions = s.exec(
                select(VersionRow.id, VersionRow.name).where(VersionRow.model_id == model_id)
            ).all()
            record(s, actor, "DELETE MODEL", self.model_label(s, model), model_id=model_id,
                        before={"versions": [format_identifier(n) for _, n in versions]})
            ids = [version_id for version_id, _ in versions]
            self._delete_versions(s, ids)
            s.exec(delete(AliasRow).where(col(AliasRow.model_id) == model_id))
            s.exec(delete(ModelTagRow).where(col(ModelTagRow.model_id) == model_id))
            s.exec(delete(ModelRow).where(col(ModelRow.id) == model_id))
            return ids

    def rename_model(
        self, model_id: str, namespace_id: int, new_name: str, *, actor: Actor | None = None
    ) -> ModelRow:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            old_label = self.model_label(s, model)
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
            new_label = self.model_label(s, model)
            record(s, actor, "RENAME MODEL", new_label, model_id=model_id,
                        before={"name": old_label}, after={"name": new_label})
            return model

    def set_model_comment(
        self, model_id: str, comment: str | None, *, actor: Actor | None = None
    ) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            record(s, actor, "SET COMMENT", self.model_label(s, model), model_id=model_id,
                        before={"comment": model.comment}, after={"comment": comment})
            model.comment = comment
            s.add(model)

    # -- tags ---------------------------------------------------------------------------------

    def set_tag(
        self, model_id: str, name: str, value: str, *, actor: Actor | None = None
    ) -> None:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            old = s.get(ModelTagRow, (model_id, name))
            tag = format_identifier(name)
            record(s, actor, "SET TAG", self.model_label(s, model), model_id=model_id,
                        before={tag: old.value if old else None}, after={tag: value})
            row = old or ModelTagRow(model_id=model_id, name=name, value=value)
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

    def unset_tag(self, model_id: str, name: str, *, actor: Actor | None = None) -> bool:
        with self.write() as s:
            model = self.lock_model(s, model_id)
            row = s.get(ModelTagRow, (model_id, name))
            if row is None:
                return False
            record(s, actor, "UNSET TAG", self.model_label(s, model), model_id=model_id,
                        before={format_identifier(name): row.value})
            s.delete(row)
            return True
