"""Which catalog, artifact root and namespace a command works on, and the options that say so.

Global options (``floe --catalog-url URL --database DB ...``) fill the root context's
``Scope``; a command's own ``--database/--schema`` override them; a ``DB.SCHEMA.MODEL``
argument overrides both. Anything left unset falls to ``Registry``'s defaults
(``FLOE_CATALOG_URL``, ``FLOE_ARTIFACT_ROOT``, ``FLOE_DATABASE``, ``FLOE_SCHEMA``,
``FLOE_ROLE``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Annotated

import typer

from registry.api.model import Model
from registry.api.model_version import ModelVersion
from registry.api.registry import Registry
from registry.identifiers import format_identifier, parse_qualified_name

__all__ = [
    "AsJson",
    "CliError",
    "Database",
    "ModelArg",
    "Schema",
    "Scope",
    "VersionArg",
    "Yes",
    "confirm",
    "scope_of",
    "version_label",
]

Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="DATABASE",
        help="Database of the namespace (default: $FLOE_DATABASE, else ML); "
        "a DB.SCHEMA.MODEL argument overrides it.",
        show_default=False,
    ),
]
Schema = Annotated[
    str | None,
    typer.Option(
        "--schema",
        metavar="SCHEMA",
        help="Schema of the namespace (default: $FLOE_SCHEMA, else REGISTRY); "
        "a SCHEMA.MODEL argument overrides it.",
        show_default=False,
    ),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON to stdout (and nothing else) for scripts.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ModelArg = Annotated[
    str, typer.Argument(metavar="MODEL", help="NAME or DATABASE.SCHEMA.NAME.", show_default=False)
]
VersionArg = Annotated[
    str,
    typer.Argument(
        metavar="VERSION",
        help="A version name or alias (DEFAULT, FIRST, LAST or your own).",
        show_default=False,
    ),
]


class CliError(Exception):
    """A failure the CLI itself detects; ``main`` prints its message as is."""


@dataclass(frozen=True)
class Scope:
    """Where to find models; ``None`` leaves the choice to ``Registry``'s defaults."""

    catalog_url: str | None = None
    artifact_root: str | None = None
    database: str | None = None
    schema: str | None = None
    role: str | None = None
    registry_url: str | None = None

    def registry(self) -> Registry:
        return Registry(
            self.database,
            self.schema,
            catalog_url=self.catalog_url,
            artifact_root=self.artifact_root,
            role=self.role,
            url=self.registry_url,
        )

    def locate(self, model: str) -> tuple[Registry, str]:
        """The registry holding ``model`` (``NAME``, ``SCHEMA.NAME`` or
        ``DATABASE.SCHEMA.NAME``) and the model's bare name in it."""
        name = parse_qualified_name(model, "model")
        scope = self
        if name.schema is not None:
            database = format_identifier(name.database) if name.database else self.database
            scope = replace(self, database=database, schema=format_identifier(name.schema))
        return scope.registry(), format_identifier(name.name)

    def model(self, model: str) -> Model:
        reg, name = self.locate(model)
        return reg.get_model(name)

    def version(self, model: str, version: str) -> ModelVersion:
        """A version of ``model`` by name, user alias or system alias (DEFAULT, FIRST, LAST)."""
        return self.model(model).version(version)


def scope_of(ctx: typer.Context, database: str | None = None, schema: str | None = None) -> Scope:
    """The root context's scope, with a command's own ``--database/--schema`` applied."""
    root = ctx.find_root().obj
    scope = root if isinstance(root, Scope) else Scope()
    return replace(
        scope,
        database=database if database is not None else scope.database,
        schema=schema if schema is not None else scope.schema,
    )


def confirm(action: str, *, yes: bool) -> None:
    """Ask before ``action`` on a terminal; without one, refuse unless ``--yes`` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(
            f"refusing to {action} without confirmation (stdin is not a terminal); "
            "pass --yes to confirm"
        )
    typer.confirm(f"{action[0].upper()}{action[1:]}?", abort=True)


def version_label(mv: ModelVersion) -> str:
    return f"{mv.fully_qualified_model_name} version {mv.version_name}"
