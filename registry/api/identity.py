"""``Registry``'s users and tokens (ADMIN only), and the user statements: ``CREATE USER``,
``DROP USER``, ``GRANT ROLE r TO USER u``, ``REVOKE ROLE r FROM USER u``, ``SHOW USERS``,
``SHOW GRANTS TO USER u``.

A user signs in with a token of theirs and acts, per request, as one of the roles granted
to them (``Registry.from_token(..., role=)``, a request's ``X-Floe-Role``); a service token
is bound to one role. Tokens are shown once, when created: the catalog keeps a salted hash.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from registry.access.authorize import require_admin
from registry.access.statements import (
    CreateUser,
    DropUser,
    GrantRoleToUser,
    RevokeRoleFromUser,
    ShowGrantsToUser,
    ShowUsers,
)
from registry.access.tokens import new_token, parse_duration
from registry.api.backend import Backend
from registry.api.context import Context
from registry.catalog.base import as_utc
from registry.errors import InvalidInput, NotFound
from registry.identifiers import format_identifier, parse_identifier

__all__ = ["TOKEN_COLUMNS", "USER_COLUMNS", "USER_GRANT_COLUMNS", "USER_STATEMENTS",
           "IdentityMixin", "add_token", "execute_user_statement", "revoke_token",
           "tokens_frame"]

USER_COLUMNS = ["name", "created_on", "default_role", "granted_roles", "comment", "created_by"]
USER_GRANT_COLUMNS = ["created_on", "role", "granted_to", "grantee_name", "granted_by"]
TOKEN_COLUMNS = ["id", "user", "role", "created_on", "created_by", "expires_on", "revoked_on",
                 "status"]
USER_STATEMENTS = (CreateUser, DropUser, GrantRoleToUser, RevokeRoleFromUser, ShowUsers,
                   ShowGrantsToUser)
_DONE = "Statement executed successfully."

UserStatement = (CreateUser | DropUser | GrantRoleToUser | RevokeRoleFromUser | ShowUsers
                 | ShowGrantsToUser)


def execute_user_statement(ctx: Context, statement: UserStatement) -> pd.DataFrame:
    """Run one user statement (ADMIN only): SHOW gives rows, the others one status row."""
    store, caller = ctx.store, ctx.caller
    require_admin(store, caller, action="manage users")
    if isinstance(statement, ShowUsers):
        return _users(ctx)
    if isinstance(statement, ShowGrantsToUser):
        return _grants_to_user(ctx, statement.user)
    user = format_identifier(statement.user)
    message = _DONE
    if isinstance(statement, CreateUser):
        if not store.create_user(statement.user, default_role=statement.default_role,
                                 by=caller.user, if_not_exists=statement.if_not_exists,
                                 actor=caller):
            message = f"user {user} already exists"
    elif isinstance(statement, DropUser):
        if not store.drop_user(statement.user, if_exists=statement.if_exists, actor=caller):
            message = f"user {user} did not exist"
    elif isinstance(statement, GrantRoleToUser):
        store.grant_role_to_user(statement.role, statement.user, by=caller.user, actor=caller)
    elif not store.revoke_role_from_user(statement.role, statement.user, actor=caller):
        message = f"role {format_identifier(statement.role)} was not granted to user {user}"
    return pd.DataFrame({"status": [message]})


def _users(ctx: Context) -> pd.DataFrame:
    rows = [
        {"name": format_identifier(u.name), "created_on": as_utc(u.created_on),
         "default_role": format_identifier(u.default_role) if u.default_role else None,
         "granted_roles": ", ".join(format_identifier(r) for r in roles),
         "comment": u.comment, "created_by": u.created_by}
        for u, roles in ctx.store.list_users()
    ]
    return pd.DataFrame.from_records(rows, columns=USER_COLUMNS)


def _grants_to_user(ctx: Context, user: str) -> pd.DataFrame:
    if ctx.store.find_user(user) is None:
        raise NotFound(f"user {format_identifier(user)} does not exist; list users: "
                       "floe users list")
    rows = [
        {"created_on": as_utc(g.created_on), "role": format_identifier(g.role_name),
         "granted_to": "USER", "grantee_name": format_identifier(user),
         "granted_by": g.granted_by}
        for g in ctx.store.user_role_grants(user)
    ]
    return pd.DataFrame.from_records(rows, columns=USER_GRANT_COLUMNS)


class IdentityMixin:
    """``Registry``'s users and tokens."""

    _backend: Backend

    def create_user(self, name: str, *, default_role: str | None = None) -> None:
        """``CREATE USER name [DEFAULT_ROLE = role]`` (ADMIN only); the default role is
        granted to the user too."""
        user = format_identifier(parse_identifier(name, "user"))
        default = (f" DEFAULT_ROLE = {format_identifier(parse_identifier(default_role, 'role'))}"
                   if default_role is not None else "")
        self._backend.sql(f"CREATE USER {user}{default}")

    def drop_user(self, name: str) -> None:
        """``DROP USER name``: their grants and tokens go with them."""
        self._backend.sql(f"DROP USER {format_identifier(parse_identifier(name, 'user'))}")

    def show_users(self) -> pd.DataFrame:
        """``SHOW USERS`` (ADMIN only): name, created_on, default_role, granted_roles, ..."""
        return self._backend.sql("SHOW USERS")

    def create_token(
        self, role: str | None = None, *, user: str | None = None,
        expires_in: str | timedelta | None = None,
    ) -> str:
        """A bearer token (ADMIN only) for ``user`` (who picks a role of theirs per request)
        or, a service token, bound to ``role``: pass one. Shown this once (the catalog keeps
        a salted hash). ``expires_in``: ``90s``, ``15m``, ``12h``, ``30d`` or a timedelta;
        None never expires (revoke it: ``revoke_token``)."""
        if (role is None) == (user is None):
            raise InvalidInput("a token is for a user or bound to a role: pass one of user= "
                               "or role= (floe tokens create --user NAME | --role ROLE)")
        delta = parse_duration(expires_in) if isinstance(expires_in, str) else expires_in
        return self._backend.create_token(
            parse_identifier(role, "role") if role is not None else None,
            parse_identifier(user, "user") if user is not None else None, delta)

    def show_tokens(self) -> pd.DataFrame:
        """Every token (ADMIN only), never its secret: id, its user or role, times, status."""
        return self._backend.show_tokens()

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token (ADMIN only): refused from its next use on (the serving front's
        bound: ``auth_ttl_s``)."""
        self._backend.revoke_token(token_id)


# -- on the catalog -------------------------------------------------------------------------------


def add_token(ctx: Context, role: str | None, user: str | None,
              expires_in: timedelta | None) -> str:
    require_admin(ctx.store, ctx.caller, action="create tokens")
    expires_on = datetime.now(UTC) + expires_in if expires_in is not None else None
    made = new_token()
    ctx.store.add_token(made.id, made.salt, made.digest, role=role, user=user,
                        expires_on=expires_on, by=ctx.caller.user, actor=ctx.caller)
    return made.token


def tokens_frame(ctx: Context) -> pd.DataFrame:
    require_admin(ctx.store, ctx.caller, action="list tokens")
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for t in ctx.store.list_tokens():
        expires = as_utc(t.expires_on) if t.expires_on else None
        status = ("revoked" if t.revoked_on else
                  "expired" if expires is not None and expires <= now else "active")
        rows.append({
            "id": t.id, "user": format_identifier(t.user_name) if t.user_name else None,
            "role": format_identifier(t.role_name) if t.role_name else None,
            "created_on": as_utc(t.created_on).isoformat(), "created_by": t.created_by,
            "expires_on": expires.isoformat() if expires else None,
            "revoked_on": as_utc(t.revoked_on).isoformat() if t.revoked_on else None,
            "status": status,
        })
    return pd.DataFrame.from_records(rows, columns=TOKEN_COLUMNS)


def revoke_token(ctx: Context, token_id: str) -> None:
    require_admin(ctx.store, ctx.caller, action="revoke tokens")
    if not ctx.store.revoke_token(token_id, actor=ctx.caller):
        raise NotFound(f"no active token {token_id!r}; list them: floe tokens list")
