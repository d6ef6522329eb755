"""Access control through the API (``Registry``'s ``AccessMixin``): ``sql`` statements and the
``grant``/``revoke``/``show_grants``/``show_roles`` methods build the same statement objects
(``registry.access.statements``) and run here, so both paths answer alike; the audit log and
tokens too. Who may run each
is decided by ``registry.access.authorize``: grants on a model need its OWNERSHIP, grants on a
schema (CREATE MODEL, ALL, FUTURE) the schema's, roles ADMIN.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import pandas as pd
import pyarrow as pa

from registry.access.authorize import require_admin, require_schema
from registry.access.statements import (
    CreateRole,
    DropRole,
    GrantPrivilege,
    GrantRole,
    ModelTarget,
    RevokePrivilege,
    RevokeRole,
    SchemaTarget,
    ShowGrantsOn,
    ShowGrantsTo,
    ShowRoles,
    Statement,
)
from registry.api.backend import Backend
from registry.api.context import Context, Namespace, missing_model
from registry.api.identity import USER_STATEMENTS, execute_user_statement
from registry.api.sql import execute_model_statement
from registry.catalog.access import ADMIN, FUTURE, ON_SCHEMA
from registry.catalog.base import as_utc, model_label
from registry.errors import InvalidInput, NotFound, PermissionDenied
from registry.identifiers import format_identifier
from registry.sql.select import is_select, run_select
from registry.sql.statements import is_model_statement, parse_sql

if TYPE_CHECKING:
    from registry.api.registry import Registry

__all__ = ["AUDIT_COLUMNS", "GRANT_COLUMNS", "ROLE_COLUMNS", "AccessMixin", "audit_frame",
           "execute"]

GRANT_COLUMNS = [
    "created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name",
    "grant_option", "granted_by",
]
ROLE_COLUMNS = ["created_on", "name", "comment", "created_by", "granted_roles"]
_DONE = "Statement executed successfully."


def execute(ctx: Context, statement: Statement) -> pd.DataFrame:
    """Run one statement as ``ctx``'s caller: SHOW statements give their rows, the others one
    ``status`` row."""
    if isinstance(statement, USER_STATEMENTS):
        return execute_user_statement(ctx, statement)
    if isinstance(statement, ShowRoles):
        return _show_roles(ctx)
    if isinstance(statement, ShowGrantsOn):
        return _frame(_grants_on(ctx, statement.target))
    if isinstance(statement, ShowGrantsTo):
        return _frame(_grants_to(ctx, statement.role))
    if isinstance(statement, (CreateRole, DropRole, GrantRole, RevokeRole)):
        return _status(_roles(ctx, statement))
    return _status(_privilege(ctx, statement))


def _status(message: str) -> pd.DataFrame:
    return pd.DataFrame({"status": [message]})


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=GRANT_COLUMNS)


# -- roles ----------------------------------------------------------------------------------------


def _roles(ctx: Context, statement: CreateRole | DropRole | GrantRole | RevokeRole) -> str:
    store, caller = ctx.store, ctx.caller
    require_admin(store, caller, action="manage roles")
    if isinstance(statement, CreateRole):
        created = store.create_role(statement.role, by=caller.user,
                                    if_not_exists=statement.if_not_exists, actor=caller)
        return _DONE if created else f"role {format_identifier(statement.role)} already exists"
    if isinstance(statement, DropRole):
        dropped = store.drop_role(statement.role, if_exists=statement.if_exists, actor=caller)
        return _DONE if dropped else f"role {format_identifier(statement.role)} did not exist"
    if isinstance(statement, GrantRole):
        store.grant_role(statement.role, statement.to_role, by=caller.user, actor=caller)
        return _DONE
    if not store.revoke_role(statement.role, statement.from_role, actor=caller):
        return (f"role {format_identifier(statement.role)} was not granted to "
                f"{format_identifier(statement.from_role)}")
    return _DONE


def _show_roles(ctx: Context) -> pd.DataFrame:
    ctx.unrestricted()  # no privilege to check, but a revoked or expired token is refused
    rows = []
    grants = ctx.store.role_grants()
    for role in ctx.store.list_roles():
        rows.append({
            "created_on": as_utc(role.created_on), "name": format_identifier(role.name),
            "comment": role.comment, "created_by": role.created_by,
            "granted_roles": sum(1 for g in grants if g.grantee_name == role.name),
        })
    return pd.DataFrame.from_records(rows, columns=ROLE_COLUMNS)


# -- privileges -----------------------------------------------------------------------------------


def _namespace(ctx: Context, database: str | None, schema: str) -> Namespace:
    return Namespace(database or ctx.namespace.database_name, schema)


def _model_id(ctx: Context, target: ModelTarget, privilege: str, action: str) -> tuple[str, str]:
    """The target model's id and label, once the caller holds ``privilege`` on it."""
    ns = Namespace(target.database or ctx.namespace.database_name,
                   target.schema or ctx.namespace.schema_name)
    namespace_id, row = ctx.store.locate_model(ns.database_name, ns.schema_name, target.name)
    if row is None:
        raise missing_model(ns, target.name, namespace_exists=namespace_id is not None)
    ctx.require(row.id, privilege, action, missing=lambda: missing_model(ns, target.name))
    return row.id, f"{ns}.{format_identifier(row.name)}"


def _schema_id(ctx: Context, ns: Namespace, *, create: bool) -> int:
    """The namespace's id, once the caller owns it; ``create``: made now when absent (ADMIN)."""
    found = ctx.store.find_namespace(ns.database_name, ns.schema_name)
    namespace_id = found.id if found is not None else None
    require_schema(ctx.store, ctx.caller, namespace_id, "OWNERSHIP",
                   action="grant on it", label=str(ns))
    if namespace_id is None:
        if not create:
            raise NotFound(f"schema {ns} does not exist yet: it has no models to grant on; "
                           "its first model creates it")
        row = ctx.store.ensure_namespace(ns.database_name, ns.schema_name)
        assert row.id is not None
        namespace_id = row.id
    return namespace_id


def _privilege(ctx: Context, statement: Statement) -> str:
    assert isinstance(statement, (GrantPrivilege, RevokePrivilege))
    is_grant = isinstance(statement, GrantPrivilege)
    role = statement.role
    store = ctx.store
    if is_grant and store.find_role(role) is None:
        raise NotFound(f"role {format_identifier(role)} does not exist; create it first: "
                       f"CREATE ROLE {format_identifier(role)}")
    target, caller = statement.target, ctx.caller
    if isinstance(target, ModelTarget):
        model_id, label = _model_id(ctx, target, "OWNERSHIP", "grant on")
        what = f"{statement.privilege} ON MODEL {label}"
        if is_grant:
            store.grant_on_models([model_id], statement.privilege, role, by=caller.user,
                                  actor=caller, what=what)
        else:
            store.revoke_on_models([model_id], statement.privilege, role, actor=caller,
                                   what=what)
        return _DONE
    ns = _namespace(ctx, target.database, target.schema)
    if isinstance(target, SchemaTarget) or target.scope == "FUTURE":  # a row on the schema
        scope, on = ((ON_SCHEMA, f"SCHEMA {ns}") if isinstance(target, SchemaTarget)
                     else (FUTURE, f"FUTURE MODELS IN SCHEMA {ns}"))
        namespace_id = _schema_id(ctx, ns, create=is_grant)
        what = f"{statement.privilege} ON {on}"
        if is_grant:
            store.grant_on_schema(namespace_id, statement.privilege, scope, role,
                                  by=caller.user, actor=caller, what=what)
        else:
            store.revoke_on_schema(namespace_id, statement.privilege, scope, role,
                                   actor=caller, what=what)
        return _DONE
    namespace_id = _schema_id(ctx, ns, create=False)  # ALL: a row per model that exists
    what = f"{statement.privilege} ON ALL MODELS IN SCHEMA {ns}"
    models = store.model_ids_in(namespace_id)
    if is_grant:
        count = store.grant_on_models(models, statement.privilege, role, by=caller.user,
                                      actor=caller, what=what)
    else:
        count = store.revoke_on_models(models, statement.privilege, role, actor=caller,
                                       what=what)
    return f"{_DONE} ({count} model{'s' if count != 1 else ''})"


# -- grants shown ---------------------------------------------------------------------------------


def _row(created_on: datetime, privilege: str, granted_on: str, name: str, role: str,
         granted_by: str) -> dict[str, Any]:
    return {
        "created_on": as_utc(created_on), "privilege": privilege, "granted_on": granted_on,
        "name": name, "granted_to": "ROLE", "grantee_name": format_identifier(role),
        "grant_option": "false", "granted_by": granted_by,
    }


def _grants_on(ctx: Context, target: ModelTarget) -> list[dict[str, Any]]:
    model_id, label = _model_id(ctx, target, "USAGE", "show the grants on")
    return [
        _row(g["created_on"], g["privilege"], "MODEL", label, g["role"], g["granted_by"])
        for g in ctx.store.grants_on_model(model_id)
    ]


def _grants_to(ctx: Context, role: str) -> list[dict[str, Any]]:
    store, caller = ctx.store, ctx.caller
    if store.find_role(role) is None:
        raise NotFound(f"role {format_identifier(role)} does not exist; list roles: "
                       "floe roles list")
    held = [ADMIN] if ctx.unrestricted() else store.held_roles(caller.role)
    if role not in held and ADMIN not in held:
        raise PermissionDenied(
            f"{caller} cannot show the grants to role {format_identifier(role)}: it does "
            f"not hold that role; ask ADMIN: GRANT ROLE {format_identifier(role)} TO ROLE "
            f"{format_identifier(caller.role)}"
        )
    found = store.grants_to_role(role)
    rows = []
    with store.read() as s:
        for model in found["owned"]:
            ns = store.namespace_of(s, model)
            rows.append(_row(model.created_on, "OWNERSHIP", "MODEL", model_label(ns, model),
                             role, role))
        for g in found["models"]:
            model, ns = store.describe_model(g.model_id)
            rows.append(_row(g.created_on, g.privilege, "MODEL", model_label(ns, model), role,
                             g.granted_by))
    for g in found["schemas"]:
        ns_row = store.namespace_of_id(g.namespace_id)
        schema = str(Namespace(ns_row.database_name, ns_row.schema_name))
        if g.scope == FUTURE:
            rows.append(_row(g.created_on, g.privilege, "MODEL", f"{schema}.<MODEL>", role,
                             g.granted_by))
        else:
            rows.append(_row(g.created_on, g.privilege, "SCHEMA", schema, role, g.granted_by))
    for g in found["roles"]:
        rows.append(_row(g.created_on, "USAGE", "ROLE", format_identifier(g.role_name), role,
                         g.granted_by))
    return rows


# -- the Registry's methods ---------------------------------------------------------------------

AUDIT_COLUMNS = ["at", "user", "role", "action", "object", "outcome", "before", "after"]


class AccessMixin:
    """``Registry``'s access-control methods: statements, grants, the audit log (users and
    tokens: ``IdentityMixin``)."""

    _backend: Backend

    @overload
    def sql(self, statement: str, *, arrow: Literal[False] = ...,
            duckdb_path: str | Path | None = ...) -> pd.DataFrame: ...

    @overload
    def sql(self, statement: str, *, arrow: Literal[True],
            duckdb_path: str | Path | None = ...) -> pa.Table: ...

    def sql(self, statement: str, *, arrow: bool = False,
            duckdb_path: str | Path | None = None) -> pd.DataFrame | pa.Table:
        """Run one statement, in Snowflake's grammar, as this registry's role.

        A query (``SELECT ...``, ``WITH ... SELECT ...``) runs on DuckDB in this process, over
        whatever DuckDB reads (Parquet, CSV, the tables of the DuckDB database file
        ``duckdb_path``), and may call model methods: ``m!predict(a, b)``, ``MODEL(m,
        v)!predict(*)``, ``WITH mv AS MODEL m VERSION v SELECT mv!predict(*) ...``, each
        returning an object of the function's outputs (``m!predict(*):output_feature_0``).
        See ``registry.sql.select``. ``arrow=True`` returns an Arrow table instead of a
        DataFrame (for any statement).

        Model statements (``registry.sql.models``) are each the Python API call they stand
        for (``registry.api.sql``): ``SHOW MODELS [LIKE 'p'] [IN DATABASE d | IN SCHEMA
        d.s]``, ``SHOW VERSIONS [LIKE 'p'] IN MODEL m``, ``SHOW FUNCTIONS IN MODEL m [VERSION
        v]``, ``DESCRIBE MODEL m``, ``ALTER MODEL [IF EXISTS] m ...`` (comment, rename,
        default version, aliases, drop or modify a version, tags), ``DROP MODEL [IF EXISTS]
        m``, ``LIST 'floe://...'`` and ``GET 'floe://...' 'file://dir'`` (to this machine's
        disk, also through a registry server).

        Access-control statements (``registry.access.statements``), run by the backend (a
        server's client sends them to the server): ``CREATE ROLE r``, ``DROP ROLE r``,
        ``GRANT ROLE a TO ROLE b``, ``GRANT {USAGE | READ | OWNERSHIP} ON MODEL m TO ROLE
        r``, ``GRANT USAGE ON {ALL | FUTURE} MODELS IN SCHEMA d.s TO ROLE r``, ``GRANT CREATE
        MODEL ON SCHEMA d.s TO ROLE r``, each ``REVOKE ... FROM ROLE r``, ``SHOW GRANTS ON
        MODEL m``, ``SHOW GRANTS TO ROLE r``, ``SHOW ROLES``; and users
        (``registry.api.identity``): ``CREATE USER u [DEFAULT_ROLE = r]``, ``DROP USER u``,
        ``GRANT ROLE r TO USER u``, ``REVOKE ROLE r FROM USER u``, ``SHOW USERS``, ``SHOW
        GRANTS TO USER u``.

        SHOW, DESCRIBE, LIST and GET return their rows; the others one ``status`` row. A
        statement that does not parse raises ``StatementError`` pointing at the word; an
        error about a name it wrote (a model that does not exist) points at the name."""
        if is_select(statement):  # client-side, through the API, like the model statements
            table = run_select(cast("Registry", self), statement, duckdb_path=duckdb_path)
            return table if arrow else table.to_pandas()
        if duckdb_path is not None:
            raise InvalidInput("duckdb_path= applies to a SELECT, which reads its tables")
        frame = self._sql_statement(statement)
        return pa.Table.from_pandas(frame, preserve_index=False) if arrow else frame

    def _sql_statement(self, statement: str) -> pd.DataFrame:
        parsed = parse_sql(statement)  # a statement that does not parse fails here, once
        if not is_model_statement(parsed):
            return self._backend.sql(statement)
        done = execute_model_statement(cast("Registry", self), parsed)
        return done if isinstance(done, pd.DataFrame) else _status(done or _DONE)

    def grant(self, privilege: str, *, to_role: str, model: str | None = None,
              schema: str | None = None, models: str | None = None) -> None:
        """``GRANT privilege ON MODEL model`` (or ``ON SCHEMA schema``, or, with ``models``
        ALL or FUTURE, ``ON ALL|FUTURE MODELS IN SCHEMA schema``) ``TO ROLE to_role``."""
        self.sql(f"GRANT {privilege} ON {_target(model, schema, models)} TO ROLE {to_role}")

    def revoke(self, privilege: str, *, from_role: str, model: str | None = None,
               schema: str | None = None, models: str | None = None) -> None:
        """The ``REVOKE`` of what ``grant`` with the same arguments grants."""
        self.sql(f"REVOKE {privilege} ON {_target(model, schema, models)} FROM ROLE {from_role}")

    def show_grants(self, *, model: str | None = None, to_role: str | None = None,
                    to_user: str | None = None) -> pd.DataFrame:
        """``SHOW GRANTS ON MODEL model``, ``SHOW GRANTS TO ROLE to_role`` or ``SHOW GRANTS TO
        USER to_user``: pass one."""
        if sum(x is not None for x in (model, to_role, to_user)) != 1:
            raise InvalidInput("pass one of model=, to_role= or to_user=")
        return self.sql(f"SHOW GRANTS ON MODEL {model}" if model is not None else
                        f"SHOW GRANTS TO ROLE {to_role}" if to_role is not None else
                        f"SHOW GRANTS TO USER {to_user}")

    def show_roles(self) -> pd.DataFrame:
        return self.sql("SHOW ROLES")

    def show_audit(
        self, *, model: str | None = None, since: str | datetime | None = None
    ) -> pd.DataFrame:
        """The audit log (ADMIN only), oldest first: every change and every refused attempt,
        with at (ISO-8601 UTC), user, role, action, object, outcome (OK or REFUSED) and the
        before and after values as JSON. ``model``: only rows of that model of this
        namespace; ``since``: rows at or after that time (ISO-8601; without an offset, UTC)."""
        return self._backend.show_audit(model, _utc_time(since))


def audit_frame(ctx: Context, model: str | None, since: datetime | None) -> pd.DataFrame:
    """``show_audit`` on the catalog."""
    require_admin(ctx.store, ctx.caller, action="read the audit log")
    model_id = ctx.find_model_row(model).id if model is not None else None
    rows = ctx.store.audit_rows(model_id=model_id, since=since)
    records = [
        {"at": as_utc(r.at).isoformat(), "user": r.user_name, "role": r.role_name,
         "action": r.action, "object": r.object, "outcome": r.outcome,
         "before": json.dumps(r.before) if r.before is not None else None,
         "after": json.dumps(r.after) if r.after is not None else None}
        for r in rows
    ]
    return pd.DataFrame.from_records(records, columns=AUDIT_COLUMNS)


def _utc_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"since={value!r} is not an ISO-8601 time; write it as "
                               "2026-12-01T09:30:00Z or 2026-12-01") from None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _target(model: str | None, schema: str | None, models: str | None) -> str:
    """The ON clause ``grant``/``revoke`` name with their keywords."""
    if model is not None and schema is None and models is None:
        return f"MODEL {model}"
    if model is None and schema is not None:
        if models is None:
            return f"SCHEMA {schema}"
        if models.upper() in ("ALL", "FUTURE"):
            return f"{models.upper()} MODELS IN SCHEMA {schema}"
        raise InvalidInput(f"models= is ALL or FUTURE, not {models!r}")
    raise InvalidInput("pass model=, or schema= (with models='ALL' or 'FUTURE' for the models "
                       "in it)")


