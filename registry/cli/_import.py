"""Copy models from other registries into Floe: ``floe import mlflow``."""

from __future__ import annotations

from typing import Annotated

import typer

from registry.cli._scope import Database, Schema, scope_of
from registry.importers.mlflow import import_mlflow

__all__ = ["import_app"]

import_app = typer.Typer(help="Copy models from other registries into Floe.",
                         no_args_is_help=True)


@import_app.command("mlflow")
def import_from_mlflow(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="The MLflow tracking (and registry) URI: sqlite:///path/mlflow.db, "
            "http://host:5000, ...",
            show_default=False,
        ),
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            metavar="NAME",
            help="An MLflow registered model to import (repeat for several; default: every "
            "one).",
            show_default=False,
        ),
    ] = None,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Copy MLflow registered models (every version, with its files, comment, tags, aliases
    and run metrics) into the namespace; run again, it copies only what is new. Prints one
    line per MLflow model version: copied, already present or skipped."""
    import_mlflow(
        scope_of(ctx, database, schema).registry(), tracking_uri=tracking_uri,
        models=model or None, on_version=lambda record: typer.echo(record.line),
    )
