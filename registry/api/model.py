"""``Model``: a named model in a namespace, its tags, comment, versions and aliases."""

from __future__ import annotations

import logging

import pandas as pd

from registry.api.backend import Backend
from registry.api.context import check_comment
from registry.api.model_version import ModelVersion
from registry.catalog.access import MODEL_PRIVILEGES
from registry.catalog.base import check_field
from registry.catalog.tables import ModelRow, ModelTagRow
from registry.errors import InvalidInput, NotFound
from registry.identifiers import format_identifier, id_ref, parse_identifier, parse_qualified_name

__all__ = ["Model"]

log = logging.getLogger(__name__)


class Model:
    """A reference to a model in the catalog. It follows the model across renames."""

    def __init__(self, backend: Backend, model_id: str) -> None:
        self._backend = backend
        self._model_id = model_id

    def __repr__(self) -> str:
        return f"Model({self.fully_qualified_name})"

    def __str__(self) -> str:
        return self.fully_qualified_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other._model_id == self._model_id

    def __hash__(self) -> int:
        return hash(self._model_id)

    @property
    def id(self) -> str:
        """The model's immutable id: ``get_model(f"@{id}")`` finds it under any name."""
        return self._model_id

    @property
    def name(self) -> str:
        return format_identifier(self._backend.describe_model(self._model_id)[0])

    @property
    def fully_qualified_name(self) -> str:
        return self._backend.describe_model(self._model_id)[1]

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
        return self._backend.holds(self._model_id, wanted)

    @property
    def comment(self) -> str | None:
        return self._backend.model_comment(self._model_id)

    @comment.setter
    def comment(self, value: str | None) -> None:
        self._backend.set_model_comment(self._model_id, check_comment(value, ModelRow))

    description = comment

    def rename(self, model_name: str) -> None:
        """Rename the model; ``DB.SCHEMA.NAME`` moves it to another namespace (created if new)."""
        self._backend.rename_model(self._model_id, parse_qualified_name(model_name, "model"))

    # -- tags ---------------------------------------------------------------------------------

    def set_tag(self, tag_name: str, tag_value: str) -> None:
        if not isinstance(tag_value, str):
            raise InvalidInput(
                f"a tag value is a string, not {type(tag_value).__name__}; pass str(value)"
            )
        check_field(ModelTagRow, "value", tag_value)
        self._backend.set_tag(self._model_id, parse_identifier(tag_name, "tag"), tag_value)

    def get_tag(self, tag_name: str) -> str | None:
        """The tag's value, or None when the model does not have it."""
        name = parse_identifier(tag_name, "tag")
        return self._backend.show_tags(self._model_id).get(name)

    def unset_tag(self, tag_name: str) -> None:
        name = parse_identifier(tag_name, "tag")
        if not self._backend.unset_tag(self._model_id, name):
            raise NotFound(f"{self.fully_qualified_name} has no tag {format_identifier(name)}")

    def show_tags(self) -> dict[str, str]:
        return {format_identifier(k): v for k, v in self._backend.show_tags(self._model_id).items()}

    # -- versions -----------------------------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        return [
            ModelVersion(self._backend, self._model_id, info.id, info=info)
            for info in self._backend.list_versions(self._model_id)
        ]

    def show_versions(self) -> pd.DataFrame:
        """One row per version; ``metadata`` holds its metrics only for a role with READ."""
        return self._backend.show_versions(self._model_id)

    def version(self, version_or_alias: str) -> ModelVersion:
        """A version by name, user alias, system alias (DEFAULT, FIRST, LAST) or ``@ID``,
        found in one query."""
        info = self._backend.resolve_version(self._model_id, _version_ref(version_or_alias))
        return ModelVersion(self._backend, self._model_id, info.id, info=info)

    @property
    def default(self) -> ModelVersion:
        return self.version("DEFAULT")

    @default.setter
    def default(self, version: str | ModelVersion) -> None:
        if isinstance(version, ModelVersion):
            if version._model_id != self._model_id:
                raise InvalidInput(f"{version} belongs to another model; pass a version of {self}")
            ref = f"@{version.id}"
        else:
            ref = _version_ref(version)
        self._backend.set_default(self._model_id, ref)

    def first(self) -> ModelVersion:
        return self.version("FIRST")

    def last(self) -> ModelVersion:
        return self.version("LAST")

    def delete_version(self, version_or_alias: str) -> None:
        """Delete a version and its artifacts; refused for the default while others exist."""
        self._backend.delete_version(self._model_id, _version_ref(version_or_alias))


def _version_ref(text: str) -> str:
    """A version's name or alias resolved, or ``@ID`` as written."""
    return text if id_ref(text) is not None else parse_identifier(text, "version")
