"""``floe models ...`` and ``floe versions ...``: list, show, rename and delete."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from registry.cli._output import echo_json, frame_records, print_fields, print_table
from registry.cli._scope import (
    AsJson,
    Database,
    ModelArg,
    Schema,
    VersionArg,
    Yes,
    confirm,
    scope_of,
    version_label,
)
from registry.runtime.functions import ModelFunctionInfo

__all__ = ["models_app", "versions_app"]

models_app = typer.Typer(help="List, show, rename and delete models.", no_args_is_help=True)
versions_app = typer.Typer(help="List, show and delete model versions.", no_args_is_help=True)

_MODEL_COLUMNS = [
    "created_on",
    "name",
    "versions",
    "default_version_name",
    "aliases",
    "owner",
    "comment",
]
_SHOWN_VERSION_FIELDS = ["name", "aliases", "created_on", "comment"]
_VERSION_COLUMNS = ["created_on", "name", "aliases", "comment", "functions", "metrics"]


# -- models -------------------------------------------------------------------------------------


@models_app.command("list")
def list_models(
    ctx: typer.Context, database: Database = None, schema: Schema = None, as_json: AsJson = False
) -> None:
    """List the models of a namespace (none, with a note on stderr, if it does not exist)."""
    reg = scope_of(ctx, database, schema).registry()
    records = frame_records(reg.show_models(), json_columns=("versions", "aliases"))
    if not records and not reg.exists():
        typer.echo(f"note: {reg.database_name}.{reg.schema_name} does not exist", err=True)
    if as_json:
        echo_json(records)
        return
    print_table(
        records,
        _MODEL_COLUMNS,
        title=f"models in {reg.database_name}.{reg.schema_name}",
        empty="no models; log one with Registry.log_model",
    )


@models_app.command("show")
def show_model(
    ctx: typer.Context,
    model: ModelArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """Show a model: its comment, tags, and versions with their aliases."""
    m = scope_of(ctx, database, schema).model(model)
    versions = frame_records(m.show_versions(), json_columns=("aliases",))
    summaries = [{k: v[k] for k in _SHOWN_VERSION_FIELDS} for v in versions]
    details: dict[str, Any] = {
        "name": m.name,
        "fully_qualified_name": m.fully_qualified_name,
        "comment": m.comment,
        "tags": m.show_tags(),
        "default_version_name": next(
            (v["name"] for v in versions if v["is_default_version"]), None
        ),
        "versions": summaries,
    }
    if as_json:
        echo_json(details)
        return
    print_fields([(k, v) for k, v in details.items() if k != "versions"])
    typer.echo()
    print_table(summaries, _SHOWN_VERSION_FIELDS, title="versions")


@models_app.command("delete")
def delete_model(
    ctx: typer.Context,
    model: ModelArg,
    yes: Yes = False,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Delete a model, all its versions and their artifacts."""
    reg, name = scope_of(ctx, database, schema).locate(model)
    m = reg.get_model(name)
    label, count = m.fully_qualified_name, len(m.versions())
    confirm(f"delete model {label} and its {_versions(count)}", yes=yes)
    reg.delete_model(name)
    typer.echo(f"deleted model {label} and its {_versions(count)}")


def _versions(count: int) -> str:
    return f"{count} version" + ("" if count == 1 else "s")


@models_app.command("rename")
def rename_model(
    ctx: typer.Context,
    model: ModelArg,
    new_name: Annotated[
        str,
        typer.Argument(
            metavar="NEW_NAME",
            help="NAME, or DATABASE.SCHEMA.NAME to move the model to another namespace.",
            show_default=False,
        ),
    ],
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Rename a model (and move it, given DATABASE.SCHEMA.NAME)."""
    m = scope_of(ctx, database, schema).model(model)
    old = m.fully_qualified_name
    m.rename(new_name)
    typer.echo(f"renamed {old} to {m.fully_qualified_name}")


# -- versions -----------------------------------------------------------------------------------


@versions_app.command("list")
def list_versions(
    ctx: typer.Context,
    model: ModelArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """List the versions of a model, oldest first."""
    m = scope_of(ctx, database, schema).model(model)
    records = frame_records(
        m.show_versions(), json_columns=("aliases", "functions", "metadata", "user_data")
    )
    if as_json:
        echo_json(records)
        return
    for record in records:
        record["metrics"] = record["metadata"].get("metrics")
    print_table(records, _VERSION_COLUMNS, title=f"versions of {m.fully_qualified_name}")


@versions_app.command("show")
def show_version(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """Show a version: its comment, aliases, metrics (to a role with READ) and functions."""
    m = scope_of(ctx, database, schema).model(model)
    mv = m.version(version)
    functions = mv.show_functions()
    details: dict[str, Any] = {
        "model": mv.fully_qualified_model_name,
        "name": mv.version_name,
        "id": mv.id,
        "comment": mv.comment,
        "aliases": mv.aliases,
        "metrics": mv.show_metrics() if m.holds("READ") else None,  # READ shows them
    }
    if as_json:
        echo_json({**details, "functions": [f.to_dict() for f in functions]})
        return
    print_fields(list(details.items()))
    typer.echo()
    print_table(
        [_function_row(f) for f in functions],
        ["function", "target_method", "inputs", "outputs"],
        title="functions",
    )


def _function_row(function: ModelFunctionInfo) -> dict[str, str]:
    signature = function.signature
    return {
        "function": function.name,
        "target_method": function.target_method,
        "inputs": ", ".join(f.describe() for f in signature.inputs)
        if signature
        else "",
        "outputs": ", ".join(f.describe() for f in signature.outputs)
        if signature
        else "",
    }


@versions_app.command("delete")
def delete_version(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    yes: Yes = False,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Delete a version and its artifacts (not the default while others exist)."""
    m = scope_of(ctx, database, schema).model(model)
    mv = m.version(version)
    label = version_label(mv)
    confirm(f"delete {label}", yes=yes)
    m.delete_version(mv.version_name)
    typer.echo(f"deleted {label}")
