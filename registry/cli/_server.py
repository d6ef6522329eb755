"""``floe server start``: the registry server (``registry.server``) under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from registry.cli._scope import CliError, scope_of
from registry.settings import is_loopback

__all__ = ["server_app"]

server_app = typer.Typer(help="The registry server: the registry's API over HTTP, identity "
                         "from tokens.", no_args_is_help=True)


@server_app.command("start")
def start(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    tls_certfile: Annotated[Path | None, typer.Option(
        "--tls-certfile", help="PEM certificate: serve HTTPS.", show_default=False)] = None,
    tls_keyfile: Annotated[Path | None, typer.Option(
        "--tls-keyfile", help="PEM private key of --tls-certfile.", show_default=False)] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the registry on HOST:PORT (loopback by default) until Ctrl-C or SIGTERM: every
    request needs Authorization: Bearer <token> (floe tokens create --user U)."""
    import uvicorn

    if (tls_certfile is None) != (tls_keyfile is None):
        raise CliError("pass both --tls-certfile and --tls-keyfile, or neither")
    if not is_loopback(host) and tls_certfile is None:
        typer.echo(f"warning: serving on {host}:{port} without TLS: tokens travel in clear "
                   "text; pass --tls-certfile and --tls-keyfile", err=True)
    scope = scope_of(ctx)
    # the server's processes open the same catalog as this command would
    for var, value in (("FLOE_CATALOG_URL", scope.catalog_url),
                       ("FLOE_ARTIFACT_ROOT", scope.artifact_root)):
        if value is not None:
            os.environ[var] = value
    from registry.server.app import create_app

    app = create_app()  # here, so a catalog that cannot be opened is one error line
    scheme = "https" if tls_certfile else "http"
    typer.echo(f"floe registry server on {scheme}://{host}:{port} (API under /api/v1, "
               "OpenAPI at /openapi.json)", err=True)
    # one worker serves the app made above; more are processes, each making its own
    target = app if workers == 1 else "registry.server.app:create_app"
    uvicorn.run(target, factory=workers > 1, host=host, port=port, workers=workers,
                ssl_certfile=str(tls_certfile) if tls_certfile else None,
                ssl_keyfile=str(tls_keyfile) if tls_keyfile else None, log_level="warning")
