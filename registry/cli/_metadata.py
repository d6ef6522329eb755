"""The mutable metadata of models and versions: ``floe alias``, ``default``, ``metrics``,
``tags`` and ``comment``."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer

from registry.cli._output import echo_json, print_table
from registry.cli._scope import (
    AsJson,
    CliError,
    Database,
    ModelArg,
    Schema,
    VersionArg,
    scope_of,
    version_label,
)
from registry.identifiers import format_identifier, parse_identifier

__all__ = [
    "alias_app",
    "comment_app",
    "default_app",
    "metrics_app",
    "parse_metric_value",
    "tags_app",
]

alias_app = typer.Typer(
    help="Point user aliases at versions, or remove them.", no_args_is_help=True
)
default_app = typer.Typer(help="Choose a model's default version.", no_args_is_help=True)
metrics_app = typer.Typer(help="Set, read and delete a version's metrics.", no_args_is_help=True)
tags_app = typer.Typer(help="Set, read and remove a model's tags.", no_args_is_help=True)
comment_app = typer.Typer(help="Set the comment of a model or a version.", no_args_is_help=True)

AliasArg = Annotated[str, typer.Argument(metavar="ALIAS", help="A user alias.", show_default=False)]
MetricArg = Annotated[
    str, typer.Argument(metavar="NAME", help="A metric name.", show_default=False)
]
TagArg = Annotated[str, typer.Argument(metavar="NAME", help="A tag name.", show_default=False)]


# -- aliases ------------------------------------------------------------------------------------


@alias_app.command("set")
def set_alias(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    alias: AliasArg,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Point ALIAS at VERSION (moving it off any other version)."""
    mv = scope_of(ctx, database, schema).version(model, version)
    mv.set_alias(alias)
    typer.echo(f"alias {_identifier(alias, 'alias')} now points at {version_label(mv)}")


@alias_app.command("unset")
def unset_alias(
    ctx: typer.Context,
    model: ModelArg,
    alias: AliasArg,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Remove ALIAS from the version that holds it."""
    mv = scope_of(ctx, database, schema).version(model, alias)
    mv.unset_alias(alias)
    typer.echo(f"removed alias {_identifier(alias, 'alias')} from {version_label(mv)}")


# -- default ------------------------------------------------------------------------------------


@default_app.command("set")
def set_default(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Make VERSION the model's default version."""
    m = scope_of(ctx, database, schema).model(model)
    mv = m.version(version)
    m.default = mv
    typer.echo(f"the default version of {m.fully_qualified_name} is now {mv.version_name}")


# -- metrics ------------------------------------------------------------------------------------


def parse_metric_value(text: str) -> Any:
    """``text`` as JSON when it is valid JSON (numbers, true, lists...), else the string."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return text


@metrics_app.command("set")
def set_metric(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    name: MetricArg,
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help='Parsed as JSON when it is valid JSON (0.93, true, [1, 2], {"a": 1}), '
            "else kept as text.",
            show_default=False,
        ),
    ],
    as_string: Annotated[
        bool, typer.Option("--string", help="Keep VALUE as text even when it parses as JSON.")
    ] = False,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Set a metric of a version (replacing any previous value)."""
    mv = scope_of(ctx, database, schema).version(model, version)
    parsed = value if as_string else parse_metric_value(value)
    mv.set_metric(name, parsed)
    typer.echo(f"set metric {name!r} = {json.dumps(parsed)} on {version_label(mv)}")


@metrics_app.command("get")
def get_metric(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    name: MetricArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """Print one metric: text as is, other values as JSON."""
    value = scope_of(ctx, database, schema).version(model, version).get_metric(name)
    if as_json or not isinstance(value, str):
        echo_json(value)
    else:
        typer.echo(value)


@metrics_app.command("list")
def list_metrics(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """List the metrics of a version."""
    mv = scope_of(ctx, database, schema).version(model, version)
    metrics = mv.show_metrics()
    if as_json:
        echo_json(metrics)
        return
    rows = [
        {"name": k, "value": v if isinstance(v, str) else json.dumps(v)} for k, v in metrics.items()
    ]
    print_table(rows, ["name", "value"], title=f"metrics of {version_label(mv)}")


@metrics_app.command("delete")
def delete_metric(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    name: MetricArg,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Delete a metric of a version."""
    mv = scope_of(ctx, database, schema).version(model, version)
    mv.delete_metric(name)
    typer.echo(f"deleted metric {name!r} of {version_label(mv)}")


# -- tags ---------------------------------------------------------------------------------------


@tags_app.command("set")
def set_tag(
    ctx: typer.Context,
    model: ModelArg,
    name: TagArg,
    value: Annotated[
        str, typer.Argument(metavar="VALUE", help="The tag's text.", show_default=False)
    ],
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Set a tag of a model (replacing any previous value)."""
    m = scope_of(ctx, database, schema).model(model)
    m.set_tag(name, value)
    typer.echo(f"set tag {_identifier(name, 'tag')} on {m.fully_qualified_name}")


@tags_app.command("get")
def get_tag(
    ctx: typer.Context,
    model: ModelArg,
    name: TagArg,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Print the value of a tag."""
    m = scope_of(ctx, database, schema).model(model)
    value = m.get_tag(name)
    if value is None:
        label = m.fully_qualified_name
        raise CliError(
            f"{label} has no tag {_identifier(name, 'tag')}; list them: floe tags list {label}"
        )
    typer.echo(value)


@tags_app.command("unset")
def unset_tag(
    ctx: typer.Context,
    model: ModelArg,
    name: TagArg,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Remove a tag from a model."""
    m = scope_of(ctx, database, schema).model(model)
    m.unset_tag(name)
    typer.echo(f"removed tag {_identifier(name, 'tag')} from {m.fully_qualified_name}")


@tags_app.command("list")
def list_tags(
    ctx: typer.Context,
    model: ModelArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """List the tags of a model."""
    m = scope_of(ctx, database, schema).model(model)
    tags = m.show_tags()
    if as_json:
        echo_json(tags)
        return
    rows = [{"name": k, "value": v} for k, v in tags.items()]
    print_table(rows, ["name", "value"], title=f"tags of {m.fully_qualified_name}")


# -- comments -----------------------------------------------------------------------------------


@comment_app.command("set")
def set_comment(
    ctx: typer.Context,
    model: ModelArg,
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="The new comment.", show_default=False)
    ],
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            metavar="VERSION",
            help="Comment on this version (name or alias) instead of the model.",
            show_default=False,
        ),
    ] = None,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Set the comment of a model, or of one of its versions with --version."""
    m = scope_of(ctx, database, schema).model(model)
    if version is None:
        m.comment = text
        typer.echo(f"set the comment of {m.fully_qualified_name}")
        return
    mv = m.version(version)
    mv.comment = text
    typer.echo(f"set the comment of {version_label(mv)}")


def _identifier(text: str, kind: Literal["alias", "tag"]) -> str:
    """``text`` as the catalog shows it (``prod`` → ``PROD``); it has been parsed already."""
    return format_identifier(parse_identifier(text, kind))
