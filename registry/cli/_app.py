"""The ``floe`` command: its global options, its command groups, and the error edge.

``main`` is the only place that catches broad exceptions, for every command group: the
registry's own and those found through the ``floe.cli`` entry points (``floe pipeline``,
``floe serve`` next), which only raise. Whatever goes wrong, the user sees one line on
stderr and a non-zero exit status, never a traceback::

    FloeError (NotFound, Conflict, ...), CliError   error: <message>             exit 1
    click usage errors                              error: <message> (see ...)   exit 2
    declined confirmation                           error: aborted               exit 1
    Ctrl-C                                          (nothing: the shell shows ^C) exit 130
    stdout closed early (floe ... | head)           (nothing)                    exit 1
    anything else                                   error: <Type>: <message>     exit 1

The line is the first line of the message that is not traceback or SQL text (a driver's
``[SQL: ...]``, ``[parameters: ...]``, ``File "...", line N``); ``floe -v`` logs the whole
error with its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Annotated, Any

import typer

from registry.cli._access import (
    audit,
    grant,
    grants,
    revoke,
    roles_app,
    sql,
    tokens_app,
    users_app,
)
from registry.cli._artifacts import artifacts_app, collect_garbage, export_version
from registry.cli._import import import_app
from registry.cli._metadata import alias_app, comment_app, default_app, metrics_app, tags_app
from registry.cli._models import models_app, versions_app
from registry.cli._scope import CliError, Database, Schema, Scope
from registry.cli._server import server_app
from registry.errors import FloeError

__all__ = ["app", "main"]

log = logging.getLogger(__name__)

_SETTINGS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="floe",
    help="Floe: a self-hosted model registry. Browse and curate models, versions and their "
    "files. Log models with the Python API (registry.Registry.log_model).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=_SETTINGS,
)
for _group, _name in (
    (models_app, "models"),
    (versions_app, "versions"),
    (alias_app, "alias"),
    (default_app, "default"),
    (metrics_app, "metrics"),
    (tags_app, "tags"),
    (comment_app, "comment"),
    (artifacts_app, "artifacts"),
    (roles_app, "roles"),
    (tokens_app, "tokens"),
    (users_app, "users"),
    (server_app, "server"),
    (import_app, "import"),
):
    app.add_typer(_group, name=_name, context_settings=_SETTINGS)
app.command("export")(export_version)
app.command("gc")(collect_garbage)
for _command in (sql, grant, revoke, grants, audit):
    app.command(_command.__name__)(_command)


def _add_plugins() -> None:
    """Command groups that other packages register under the ``floe.cli`` entry-point group
    (``floe pipeline`` from pipelines/, ``floe serve`` from serve/): the registry never
    imports them, so the layering holds while one ``floe`` command offers them all."""
    for entry in metadata.entry_points(group="floe.cli"):
        try:
            plugin = entry.load()
        except ImportError as exc:
            logging.getLogger(__name__).debug("floe.cli plugin %s unavailable: %s", entry, exc)
            continue
        app.add_typer(plugin, name=entry.name, context_settings=_SETTINGS)


_add_plugins()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"floe {metadata.version('floe')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    catalog_url: Annotated[
        str | None,
        typer.Option(
            "--catalog-url",
            metavar="URL",
            help="SQLAlchemy URL of the catalog (default: $FLOE_CATALOG_URL, else "
            "sqlite:///$FLOE_HOME/catalog.db).",
            show_default=False,
        ),
    ] = None,
    artifact_root: Annotated[
        str | None,
        typer.Option(
            "--artifact-root",
            metavar="PATH_OR_URI",
            help="Where versions' files live (default: $FLOE_ARTIFACT_ROOT, else "
            "$FLOE_HOME/artifacts).",
            show_default=False,
        ),
    ] = None,
    registry_url: Annotated[
        str | None,
        typer.Option(
            "--registry-url",
            metavar="URL",
            help="A registry server (floe server start) to use instead of the catalog and "
            "artifact root (default: $FLOE_REGISTRY_URL); its token comes from $FLOE_TOKEN.",
            show_default=False,
        ),
    ] = None,
    database: Database = None,
    schema: Schema = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="The role to act as (default: $FLOE_ROLE, else ADMIN). Whoever holds the "
            "catalog URL may choose any role: this direct mode is for one trusted team. "
            "Through a server: a role granted to the token's user (default: their default "
            "role).",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what Floe does to stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print Floe's version."
        ),
    ] = False,
) -> None:
    """Floe: a self-hosted model registry."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Scope(catalog_url, artifact_root, database, schema, role, registry_url)


@functools.cache
def _click_command() -> Any:
    """The click command typer builds from ``app``, built once per process (50 ms a build:
    it reads every command's signature) since the app is complete once this module is."""
    return typer.main.get_command(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``floe`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        result = _click_command().main(args=argv, prog_name="floe", standalone_mode=False)
    except typer.Abort:
        return _fail("aborted", 1)
    except KeyboardInterrupt:  # in a command typer returns 130 itself; this is before one runs
        return 130
    except SystemExit as exc:  # click exits itself (status 1) when stdout's pipe closes
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return _fail(str(exc.code), 1)
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `floe ... | head` closed the pipe: stop quietly
            _silence_stdout()
            return 1
        return _fail(_describe(exc), 1, exc)
    except Exception as exc:
        if _is_click_error(exc):
            return _usage_error(exc)
        return _fail(_describe(exc), 1, exc)
    return result if isinstance(result, int) else 0


def _is_click_error(exc: Exception) -> bool:
    """Click's own errors (bad usage, a bad parameter); typer may vendor click, so duck-type."""
    return callable(getattr(exc, "format_message", None)) and isinstance(
        getattr(exc, "exit_code", None), int
    )


def _usage_error(exc: Any) -> int:
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message()
    if ctx is None:
        return _fail(message, exc.exit_code)
    if message == ctx.get_help():  # a group run without a command: show its help
        exc.show()
        return int(exc.exit_code)
    return _fail(f"{message.rstrip('.')}; see '{ctx.command_path} --help'", exc.exit_code)


def _describe(exc: BaseException) -> str:
    """A FloeError's or CliError's message as is; anything else prefixed with its type."""
    if isinstance(exc, FloeError):
        return exc.message
    if isinstance(exc, CliError):
        return str(exc)
    text = _one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: Lines of a message that are a traceback or a driver's SQL, never shown in the error line.
_NOT_A_MESSAGE = re.compile(
    r"^\s*(Traceback \(most recent call last\)|File \"|\[SQL:|\[parameters:|"
    r"\(Background on this error|LINE \d+:|\^)"
)
#: Where a driver appends its statement on the same line.
_SQL_TAIL = re.compile(r"\s*\[(SQL|parameters): .*$")


def _one_line(message: str) -> str:
    """The first line of ``message`` that is not traceback or SQL text, without SQL."""
    for line in message.splitlines():
        if line.strip() and not _NOT_A_MESSAGE.match(line):
            return _SQL_TAIL.sub("", line).strip()
    return ""


def _fail(message: str, status: int, exc: BaseException | None = None) -> int:
    if exc is not None:
        log.debug("the command failed", exc_info=exc)
    line = _one_line(message) or (type(exc).__name__ if exc is not None else "failed")
    with contextlib.suppress(OSError):
        print(f"error: {line}", file=sys.stderr, flush=True)
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot fail on the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
