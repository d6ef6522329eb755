"""Files of versions: ``floe artifacts list|get``, ``floe export`` and ``floe gc``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from registry.api.model_version import ExportMode
from registry.cli._output import echo_json, frame_records, print_table
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

__all__ = ["artifacts_app", "collect_garbage", "export_version"]

artifacts_app = typer.Typer(help="List and download the files of a version.", no_args_is_help=True)

UrlArg = Annotated[
    str,
    typer.Argument(
        metavar="URL",
        help="floe://model/MODEL/versions/VERSION/[PATH]; MODEL may be DATABASE.SCHEMA.NAME "
        "and VERSION any alias.",
        show_default=False,
    ),
]


@artifacts_app.command("list")
def list_artifacts(
    ctx: typer.Context,
    url: UrlArg,
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """List the files of a version, or of a folder or file in it."""
    frame = scope_of(ctx, database, schema).registry().list_artifacts(url)
    records = frame_records(frame)
    if as_json:
        echo_json(records)
        return
    for record in records:
        record["sha256"] = str(record["sha256"])[:12]
    print_table(records, ["name", "size", "last_modified", "sha256"], title=url)


@artifacts_app.command("get")
def get_artifacts(
    ctx: typer.Context,
    url: UrlArg,
    local_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="The directory to download into (made if needed): a file goes inside it.",
            show_default=False,
        ),
    ],
    database: Database = None,
    schema: Schema = None,
    as_json: AsJson = False,
) -> None:
    """Download a file or folder of a version into DIR, checking every file's sha256.

    A file of the same name with other contents is refused, never replaced; one with the
    same contents counts as downloaded. Links in DIR are never written through."""
    written = scope_of(ctx, database, schema).registry().get_artifact(url, local_dir)
    if as_json:
        echo_json([str(p) for p in written])
        return
    for path in written:
        typer.echo(str(path))


def export_version(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    target: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A new or empty directory to export into.", show_default=False
        ),
    ],
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Add predict.py and a README: everything needed to run the model elsewhere.",
        ),
    ] = False,
    database: Database = None,
    schema: Schema = None,
) -> None:
    """Export a version's files (the model, its environment, MANIFEST.yml) to DIR."""
    mv = scope_of(ctx, database, schema).version(model, version)
    mode = ExportMode.FULL if full else ExportMode.MODEL
    out = mv.export(target, export_mode=mode)
    typer.echo(f"exported {version_label(mv)} to {out} ({mode.value})")


def collect_garbage(
    ctx: typer.Context,
    grace_period_s: Annotated[
        float,
        typer.Option(
            "--grace-period-s",
            metavar="SECONDS",
            min=0,
            help="Only remove directories untouched for this long, so that a model being "
            "logged right now is never removed.",
        ),
    ] = 3600.0,
    yes: Yes = False,
    as_json: AsJson = False,
) -> None:
    """Remove stored version directories that no catalog entry references."""
    confirm(
        f"remove stored versions that no catalog entry references, untouched for "
        f"{grace_period_s:g} s",
        yes=yes,
    )
    removed = scope_of(ctx).registry().gc(grace_period_s=grace_period_s)
    if as_json:
        echo_json(removed)
        return
    for version_id in removed:
        typer.echo(f"removed {version_id}")
    typer.echo(
        f"removed {len(removed)} unreferenced version director{'y' if len(removed) == 1 else 'ies'}"
    )
