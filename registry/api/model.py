"""``Model``: a named model in a namespace, its tags, comment, versions and aliases."""

from __future__ import annotations

import json
import logging

import pandas as pd

from registry.api.context import Context, Namespace, check_comment
from registry.api.model_version import ModelVersion
from registry.catalog.access import MODEL_PRIVILEGES
from registry.catalog.base import check_field, model_label
from registry.catalog.store import as_utc
from registry.catalog.tables import ModelRow, ModelTagRow, VersionRow
from registry.errors import InvalidInput, NotFound
from registry.identifiers import format_identifier, parse_identifier, parse_qualified_name

__all__ = ["Model"]

log = logging.getLogger(__name__)

SHOW_VERSIONS_COLUMNS = [
    "created_on", "name", "aliases", "comment", "database_name", "schema_name", "model_name",
    "is_default_version", "functions", "metadata", "user_data",
]


class Model:
    """A reference to a model in the catalog. It follows the model across renames."""

    def __init__(self, ctx: Context, model_id: str) -> None:
        self._ctx = ctx
        self._model_id = model_id

    def __repr__(self) -> str:
        return f"Model({self.fully_qualified_name})"

    def __str__(self) -> str:
        return self.fully_qualified_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other._model_id == self._model_id

    def __hash__(self) -> int:
        return hash(self._model_id)

    def _row(self) -> ModelRow:
        return self._ctx.model_row(self._model_id)

    @property
    def name(self) -> str:
        return format_identifier(self._row().name)

    @property
    def fully_qualified_name(self) -> str:
        model, ns = self._ctx.store.describe_model(self._model_id)  # one query
        return model_label(ns, model)

    def _require(self, privilege: str, action: str) -> None:
        self._ctx.require(self._model_id, privilege, action)

    def holds(self, privilege: str) -> bool:
        """Whether the acting role holds ``privilege`` (USAGE, READ or OWNERSHIP) on the model,
        itself, through the roles it holds, or as ADMIN: a question, so nothing is refused or
        recorded in the audit log. Use it to show only what the role may see."""
        wanted = privilege.strip().upper() if isinstance(privilege, str) else privilege
        if wanted not in MODEL_PRIVILEGES:
            raise InvalidInput(
                f"privilege {privilege!r} is not one of a model's: write "
                f"{', '.join(MODEL_PRIVILEGES)}"
            )
        self._require("USAGE", "look up privileges on")
        return self._ctx.holds(self._model_id, wanted)

    @property
    def comment(self) -> str | None:
        self._require("USAGE", "read the comment of")
        return self._row().comment

    @comment.setter
    def comment(self, value: str | None) -> None:
        self._require("OWNERSHIP", "change the comment of")
        self._ctx.store.set_model_comment(self._model_id, check_comment(value, ModelRow),
                                          actor=self._ctx.caller)

    description = comment

    def rename(self, model_name: str) -> None:
        """Rename the model; ``DB.SCHEMA.NAME`` moves it to another namespace (created if new)."""
        target = parse_qualified_name(model_name, "model")
        self._require("OWNERSHIP", "rename")
        model, ns = self._ctx.store.describe_model(self._model_id)
        if target.schema is not None:
            database = target.database or ns.database_name
            found = self._ctx.store.find_namespace(database, target.schema)
            if found is None or found.id != ns.id:
                self._ctx.require_schema(
                    found.id if found else None, "CREATE MODEL", "move a model into",
                    Namespace(database, target.schema),
                )
            ns = found or self._ctx.store.ensure_namespace(database, target.schema)
        assert ns.id is not None
        self._ctx.store.rename_model(model.id, ns.id, target.name, actor=self._ctx.caller)

    # -- tags ---------------------------------------------------------------------------------

    def set_tag(self, tag_name: str, tag_value: str) -> None:
        if not isinstance(tag_value, str):
            raise InvalidInput(
                f"a tag value is a string, not {type(tag_value).__name__}; pass str(value)"
            )
        check_field(ModelTagRow, "value", tag_value)
        self._require("OWNERSHIP", "set a tag of")
        self._ctx.store.set_tag(self._model_id, parse_identifier(tag_name, "tag"), tag_value,
                                actor=self._ctx.caller)

    def get_tag(self, tag_name: str) -> str | None:
        """The tag's value, or None when the model does not have it."""
        self._require("USAGE", "read the tags of")
        return self._ctx.store.list_tags(self._model_id).get(parse_identifier(tag_name, "tag"))

    def unset_tag(self, tag_name: str) -> None:
        name = parse_identifier(tag_name, "tag")
        self._require("OWNERSHIP", "unset a tag of")
        if not self._ctx.store.unset_tag(self._model_id, name, actor=self._ctx.caller):
            raise NotFound(f"{self.fully_qualified_name} has no tag {format_identifier(name)}")

    def show_tags(self) -> dict[str, str]:
        self._require("USAGE", "read the tags of")
        return {
            format_identifier(k): v for k, v in self._ctx.store.list_tags(self._model_id).items()
        }

    # -- versions -----------------------------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        self._require("USAGE", "list the versions of")
        return [
            ModelVersion(self._ctx, self._model_id, row.id, row=row)
            for row in self._ctx.store.list_versions(self._model_id)
        ]

    def show_versions(self) -> pd.DataFrame:
        """One row per version; ``metadata`` holds its metrics only for a role with READ."""
        self._require("USAGE", "list the versions of")
        shows_metrics = self._ctx.holds(self._model_id, "READ")
        row, ns = self._ctx.store.describe_model(self._model_id)
        details = self._ctx.store.version_details(self._model_id)
        records = []
        for version, aliases, metrics, functions in details:
            records.append(
                {
                    "created_on": as_utc(version.created_on),
                    "name": format_identifier(version.name),
                    "aliases": json.dumps([format_identifier(a) for a in aliases]),
                    "comment": version.comment,
                    "database_name": format_identifier(ns.database_name),
                    "schema_name": format_identifier(ns.schema_name),
                    "model_name": format_identifier(row.name),
                    "is_default_version": version.id == row.default_version_id,
                    "functions": json.dumps(functions),
                    "metadata": json.dumps(
                        {"metrics": metrics if shows_metrics else None, "task": version.task,
                         "framework": version.framework}
                    ),
                    "user_data": json.dumps(version.user_data),
                }
            )
        return pd.DataFrame.from_records(records, columns=SHOW_VERSIONS_COLUMNS)

    def version(self, version_or_alias: str) -> ModelVersion:
        """A version by name, user alias, or system alias (DEFAULT, FIRST, LAST), found in
        one query."""
        row = self._resolve(version_or_alias)
        return ModelVersion(self._ctx, self._model_id, row.id, row=row)

    def _resolve(self, version_or_alias: str) -> VersionRow:
        name = parse_identifier(version_or_alias, "version")
        self._require("USAGE", "read the versions of")
        found = self._ctx.store.resolve_version(self._model_id, name)
        if found is None:
            label = self.fully_qualified_name  # NotFound here when the model is gone
            raise NotFound(
                f"{label} has no version or alias {format_identifier(name)}; list them: "
                f"floe versions list {label}"
            )
        return found

    @property
    def default(self) -> ModelVersion:
        return self.version("DEFAULT")

    @default.setter
    def default(self, version: str | ModelVersion) -> None:
        self._require("OWNERSHIP", "set the default version of")
        target = version if isinstance(version, ModelVersion) else self.version(version)
        if target._model_id != self._model_id:
            raise InvalidInput(f"{target} belongs to another model; pass a version of {self}")
        self._ctx.store.set_default(self._model_id, target.id, actor=self._ctx.caller)

    def first(self) -> ModelVersion:
        return self.version("FIRST")

    def last(self) -> ModelVersion:
        return self.version("LAST")

    def delete_version(self, version_or_alias: str) -> None:
        """Delete a version and its artifacts; refused for the default while others exist."""
        self._require("OWNERSHIP", "delete a version of")
        row = self._resolve(version_or_alias)
        self._ctx.store.delete_version(self._model_id, row.id, actor=self._ctx.caller)
        self._ctx.artifacts.delete_version(row.id)
