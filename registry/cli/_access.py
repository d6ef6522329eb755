"""``floe sql``, ``floe roles ...``, ``floe users ...``, ``floe grant``, ``floe revoke``,
``floe grants``, ``floe tokens ...`` and ``floe audit``: SQL and access control from the
shell. Each command but ``tokens`` and ``audit`` is one statement run by ``Registry.sql``
(the same grammar, checks and errors as the Python API), as the role of ``floe --role``;
``floe sql`` runs any of them, the model statements included (SHOW MODELS, ALTER MODEL,
GET, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer

from registry.api.sql import JSON_COLUMNS
from registry.artifacts.paths import replacing
from registry.cli._output import echo_json, frame_records, print_table
from registry.cli._scope import AsJson, scope_of
from registry.errors import NotFound

__all__ = ["audit", "grant", "grants", "revoke", "roles_app", "sql", "tokens_app",
           "users_app"]

roles_app = typer.Typer(help="Create, drop and list roles.", no_args_is_help=True)

Words = Annotated[
    list[str],
    typer.Argument(metavar="WORDS...", help="The rest of the statement, as in SQL.",
                   show_default=False),
]


def _run(ctx: typer.Context, statement: str, *, as_json: bool, title: str,
         duckdb_path: Path | None = None, output: Path | None = None) -> None:
    reg = scope_of(ctx).registry()
    if output is not None:
        table = reg.sql(statement, arrow=True, duckdb_path=duckdb_path)
        _write_parquet(table, output)
        typer.echo(f"wrote {table.num_rows} rows to {output}")
        return
    frame: pd.DataFrame = reg.sql(statement, duckdb_path=duckdb_path)
    records = frame_records(frame, json_columns=JSON_COLUMNS)
    if as_json:
        echo_json(records)
    elif list(frame.columns) == ["status"]:
        typer.echo(str(frame["status"].iloc[0]))
    else:
        print_table(records, list(frame.columns), title=title, empty="none")


def _write_parquet(table: pa.Table, path: Path) -> None:
    """``--output``: the rows as one Parquet file, written whole or not at all (a failing
    write keeps the file that was there)."""
    target = path.expanduser()
    if not target.parent.is_dir():
        raise NotFound(f"no directory {target.parent} to write {target.name} in; create it "
                       "first")
    with replacing(target) as temp:
        pq.write_table(table, temp)


def sql(
    ctx: typer.Context,
    statement: Annotated[str, typer.Argument(
        metavar="STATEMENT", show_default=False,
        help="One statement, quoted for the shell: floe sql \"SHOW MODELS LIKE 'churn%'\".")],
    as_json: AsJson = False,
    duckdb_path: Annotated[Path | None, typer.Option(
        "--duckdb", metavar="PATH", show_default=False,
        help="A DuckDB database file whose tables a SELECT reads (opened read-only).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE.parquet", show_default=False,
        help="Write the rows to this Parquet file (atomically) instead of printing them.")
    ] = None,
) -> None:
    """Run one statement in Snowflake's grammar and print its rows (or its status).

    Queries run on DuckDB over what it reads (Parquet, CSV, --duckdb tables) and may call
    model methods: SELECT id, m!predict(*):output_feature_0 FROM 'data/*.parquet';
    MODEL(m, v2)!predict(a, b); WITH mv AS MODEL m VERSION v2 SELECT mv!predict(*) FROM t.

    Models: SHOW MODELS [LIKE 'p'] [IN DATABASE d | IN SCHEMA d.s], SHOW VERSIONS [LIKE 'p']
    IN MODEL m, SHOW FUNCTIONS IN MODEL m [VERSION v], DESCRIBE MODEL m, ALTER MODEL [IF
    EXISTS] m SET COMMENT = '...' | UNSET COMMENT | RENAME TO n | SET DEFAULT_VERSION = v |
    VERSION v SET ALIAS = a | VERSION a UNSET ALIAS | DROP VERSION v | MODIFY VERSION v SET
    COMMENT = '...' | MODIFY VERSION v SET METADATA = '{"metrics": {...}}' | SET TAG t =
    '...' | UNSET TAG t, DROP MODEL [IF EXISTS] m, LIST 'floe://model/m/versions/v/', GET
    'floe://model/m/versions/v/path' 'file:///local/dir'.

    Access control: CREATE/DROP ROLE, CREATE/DROP USER, GRANT/REVOKE ..., SHOW GRANTS ON
    MODEL m | TO ROLE r | TO USER u, SHOW ROLES, SHOW USERS."""
    _run(ctx, statement, as_json=as_json, title=statement, duckdb_path=duckdb_path,
         output=output)


def grant(ctx: typer.Context, words: Words) -> None:
    """GRANT ...: floe grant USAGE ON MODEL m TO ROLE analyst."""
    _run(ctx, "GRANT " + " ".join(words), as_json=False, title="grant")


def revoke(ctx: typer.Context, words: Words) -> None:
    """REVOKE ...: floe revoke USAGE ON MODEL m FROM ROLE analyst."""
    _run(ctx, "REVOKE " + " ".join(words), as_json=False, title="revoke")


def grants(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", metavar="MODEL",
                                              help="The grants on this model.")] = None,
    role: Annotated[str | None, typer.Option("--to-role", metavar="ROLE",
                                             help="The grants to this role.")] = None,
    user: Annotated[str | None, typer.Option("--to-user", metavar="USER",
                                             help="The roles granted to this user.")] = None,
    as_json: AsJson = False,
) -> None:
    """Show the grants on a model (--model), to a role (--to-role) or to a user (--to-user)."""
    if sum(x is not None for x in (model, role, user)) != 1:
        raise typer.BadParameter("pass one of --model MODEL, --to-role ROLE or --to-user USER")
    statement = (f"SHOW GRANTS ON MODEL {model}" if model else
                 f"SHOW GRANTS TO ROLE {role}" if role else f"SHOW GRANTS TO USER {user}")
    _run(ctx, statement, as_json=as_json, title=statement.lower())


@roles_app.command("create")
def create_role(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="ROLE")]) -> None:
    """Create a role (ADMIN only)."""
    _run(ctx, f"CREATE ROLE {name}", as_json=False, title="roles")


@roles_app.command("drop")
def drop_role(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="ROLE")]) -> None:
    """Drop a role and its grants (ADMIN only; refused while it owns models)."""
    _run(ctx, f"DROP ROLE {name}", as_json=False, title="roles")


@roles_app.command("list")
def list_roles(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the roles."""
    _run(ctx, "SHOW ROLES", as_json=as_json, title="roles")


def audit(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", metavar="MODEL",
                                              help="Only the rows of this model.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="ISO-TIME",
                                              help="Only rows at or after this time.")] = None,
    as_json: AsJson = False,
) -> None:
    """Show the audit log (ADMIN only): every change and every refused attempt."""
    scope = scope_of(ctx)
    reg, name = scope.locate(model) if model is not None else (scope.registry(), None)
    frame = reg.show_audit(model=name, since=since)
    records = frame_records(frame, json_columns=("before", "after"))
    if as_json:
        echo_json(records)
    else:
        print_table(records, list(frame.columns), title="audit log", empty="no audit rows")


tokens_app = typer.Typer(help="Create, list and revoke bearer tokens (ADMIN only).",
                         no_args_is_help=True)


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(
        "--user", metavar="USER", show_default=False,
        help="The user the token signs in as (a role of theirs chosen per request).")] = None,
    role: Annotated[str | None, typer.Option(
        "--role", metavar="ROLE", show_default=False,
        help="A service token: the one role it acts as.")] = None,
    expires_in: Annotated[str | None, typer.Option(
        "--expires-in", metavar="DURATION", help="90s, 15m, 12h or 30d (default: never).")] = None,
) -> None:
    """Create a token for USER (--user) or bound to ROLE (--role); it is printed this once
    (only its hash is kept)."""
    token = scope_of(ctx).registry().create_token(role, user=user, expires_in=expires_in)
    typer.echo(token)
    typer.echo("note: the token is shown once; keep it secret (revoke it: floe tokens revoke "
               f"{token.split('_')[1]})", err=True)


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the tokens (never their secrets)."""
    frame = scope_of(ctx).registry().show_tokens()
    records = frame_records(frame)
    if as_json:
        echo_json(records)
    else:
        print_table(records, list(frame.columns), title="tokens", empty="no tokens")


@tokens_app.command("revoke")
def revoke_token(ctx: typer.Context,
                 token_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Revoke a token: refused from its next check on."""
    scope_of(ctx).registry().revoke_token(token_id)
    typer.echo(f"revoked token {token_id}")


users_app = typer.Typer(help="Create, drop and list users (ADMIN only).", no_args_is_help=True)


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="USER")],
    default_role: Annotated[str | None, typer.Option(
        "--default-role", metavar="ROLE", show_default=False,
        help="The role the user acts as when a request names none (granted to them too).")
    ] = None,
) -> None:
    """Create a user; grant roles with floe grant ROLE r TO USER u, sign in with a token of
    theirs (floe tokens create --user USER)."""
    default = f" DEFAULT_ROLE = {default_role}" if default_role is not None else ""
    _run(ctx, f"CREATE USER {name}{default}", as_json=False, title="users")


@users_app.command("drop")
def drop_user(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="USER")]) -> None:
    """Drop a user, their role grants and their tokens."""
    _run(ctx, f"DROP USER {name}", as_json=False, title="users")


@users_app.command("list")
def list_users(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the users and the roles granted to them."""
    _run(ctx, "SHOW USERS", as_json=as_json, title="users")
