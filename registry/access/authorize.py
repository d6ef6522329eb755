"""The one authorization point. Every operation on a model or a schema, on every path (the
Python API, the CLI, pipelines, serving), is decided here, from the catalog's grants at the
time of the call: a revoked grant or role counts from the next call.

What each privilege on a model allows (each includes the ones before it)::

    USAGE      see it (listings, name, versions, aliases, default, comment, tags, functions
               and signatures) and run it: in process, on Ray, served
    READ       also its metrics and artifacts (list_artifacts, get_artifact)
    OWNERSHIP  also change it (comment, tags, metrics, aliases, default), load the raw object,
               export, rename, add or delete versions, delete it, grant on it

A role with no privilege on a model gets what it would get if the model did not exist (the
caller's ``missing`` error, the same class and message); a role that sees the model but lacks
the privilege gets ``PermissionDenied`` naming what it lacks and the grant that fixes it.
Creating a model in a schema needs OWNERSHIP or CREATE MODEL on the schema; roles, and grants
on schemas, need ADMIN or the schema's owner. ADMIN holds everything: its checks cost nothing.
A caller that stands for a bearer token (``Registry.from_token``, the serving front) has its
token read again at every decision, so a revoked or expired token counts from the next call.

The caller's role comes from ``Registry(role=...)``, ``$FLOE_ROLE`` or ``floe --role``
(default ADMIN). In this direct-to-database mode whoever holds the catalog URL may choose any
role: it is the trusted, single-team mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from registry.access.tokens import REFUSED, check_active, check_secret, split_token
from registry.catalog.access import ADMIN, MODEL_PRIVILEGES, PUBLIC
from registry.catalog.audit import Actor
from registry.catalog.store import CatalogStore
from registry.errors import FloeError, NotFound, PermissionDenied, Unauthenticated
from registry.identifiers import format_identifier, parse_identifier

__all__ = [
    "ADMIN", "Caller", "authenticate", "holds_privilege", "listing_role", "open_caller",
    "require_admin", "require_model", "require_schema", "unrestricted",
]


@dataclass(frozen=True)
class Caller(Actor):
    """Who calls: the role privileges are checked for, and the user the audit log records;
    ``token_id`` when the caller stands for a bearer token (see ``authenticate``)."""

    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def __str__(self) -> str:
        return f"role {format_identifier(self.role)}"


def open_caller(store: CatalogStore, role: str, user: str) -> Caller:
    """The caller acting as ``role`` (an identifier); an unknown role is ``NotFound``."""
    resolved = parse_identifier(role, "role")
    if resolved != ADMIN and store.find_role(resolved) is None:
        raise NotFound(
            f"role {format_identifier(resolved)} does not exist; list roles: floe roles list "
            "(or act as one that exists: --role, $FLOE_ROLE, Registry(role=...))"
        )
    return Caller(user=user, role=resolved)


def authenticate(store: CatalogStore, authorization: str | None, role: str | None = None) -> Caller:
    """The caller an ``Authorization: Bearer <token>`` header (or a bare token) stands for. A
    user's token acts as ``role`` (a request's ``X-Floe-Role``), else as the user's default
    role while it is granted to them, else as PUBLIC, and only as a role the user may use; a
    service token acts as its one role, recorded as user ``token <id>``. A missing, malformed,
    unknown, expired or revoked token is the same ``Unauthenticated``; a role the token may
    not act as is ``PermissionDenied``."""
    token_id, secret = split_token(authorization)
    row, roles, default = store.token_and_roles(token_id)
    if row is None:
        raise Unauthenticated(REFUSED)
    check_secret(secret, row.salt, row.digest, expires_on=row.expires_on,
                 revoked_on=row.revoked_on)
    wanted = parse_identifier(role, "role") if role else None
    if row.user_name is None:
        assert row.role_name is not None  # the catalog's check: a role or a user
        if wanted is not None and wanted != row.role_name:
            raise PermissionDenied(
                f"this token is bound to role {format_identifier(row.role_name)} and cannot "
                f"act as role {format_identifier(wanted)}; use a token of a user granted it "
                f"(floe tokens create --user NAME) or one bound to it"
            )
        return Caller(user=f"token {token_id}", role=row.role_name, token_id=token_id)
    acting = wanted or (default if default in roles else PUBLIC)
    _check_granted(row.user_name, acting, roles)
    return Caller(user=row.user_name, role=acting, token_id=token_id)


def _check_granted(user: str, role: str, roles: list[str]) -> None:
    if role not in roles:
        raise PermissionDenied(
            f"user {format_identifier(user)} may not act as role {format_identifier(role)}: "
            f"it is not granted to them; ask ADMIN: GRANT ROLE {format_identifier(role)} TO "
            f"USER {format_identifier(user)}"
        )


def unrestricted(store: CatalogStore, caller: Caller) -> bool:
    """Whether ``caller`` acts as ADMIN, which holds everything. Every decision starts here:
    a caller that stands for a token does so only while the token is valid and, for a user's
    token, while its role is still the user's, so both are read again (one session) and a
    revoked token or role is refused from the next call."""
    if caller.token_id is not None:
        row, roles, _ = store.token_and_roles(caller.token_id)
        if row is None:
            raise Unauthenticated(REFUSED)
        check_active(expires_on=row.expires_on, revoked_on=row.revoked_on)
        if row.user_name is not None:
            _check_granted(row.user_name, caller.role, roles)
    return caller.is_admin


def listing_role(store: CatalogStore, caller: Caller) -> str | None:
    """The role whose models a listing shows; None (every model) for ADMIN."""
    return None if unrestricted(store, caller) else caller.role


def holds_privilege(store: CatalogStore, caller: Caller, model_id: str, privilege: str) -> bool:
    """Whether ``caller`` holds ``privilege`` (or one that includes it) on the model."""
    if unrestricted(store, caller):
        return True
    return store.model_privilege(caller.role, model_id) >= MODEL_PRIVILEGES.index(privilege) + 1


def require_model(
    store: CatalogStore,
    caller: Caller,
    model_id: str,
    privilege: str,
    *,
    action: str,
    label: Callable[[], str],
    missing: Callable[[], FloeError],
) -> None:
    """Allow ``action`` on the model when ``caller`` holds ``privilege`` on it, else raise
    ``missing()`` (it holds nothing: the model stays invisible) or ``PermissionDenied``."""
    if unrestricted(store, caller):
        return
    held = store.model_privilege(caller.role, model_id)
    needed = MODEL_PRIVILEGES.index(privilege) + 1
    if held >= needed:
        return
    name = label()
    store.record_refusal(caller, action, name, model_id)
    if held == 0:
        raise missing()
    holds = MODEL_PRIVILEGES[held - 1]
    fix = (
        f"its owner can transfer it: GRANT OWNERSHIP ON MODEL {name} TO ROLE "
        f"{format_identifier(caller.role)}"
        if privilege == "OWNERSHIP"
        else f"its owner can grant it: GRANT {privilege} ON MODEL {name} TO ROLE "
        f"{format_identifier(caller.role)}"
    )
    raise PermissionDenied(
        f"{caller} holds {holds} on {name}, but to {action} it needs {privilege}; {fix}"
    )


def require_schema(
    store: CatalogStore, caller: Caller, namespace_id: int | None, privilege: str, *,
    action: str, label: str,
) -> None:
    """Allow ``action`` on the schema when ``caller`` holds ``privilege`` (CREATE MODEL or
    OWNERSHIP; OWNERSHIP includes CREATE MODEL) on it. A schema that does not exist yet is
    created by its first write, which only ADMIN may make."""
    if unrestricted(store, caller):
        return
    held = store.schema_privileges(caller.role, namespace_id) if namespace_id is not None else set()
    if privilege in held or "OWNERSHIP" in held:
        return
    store.record_refusal(caller, action, f"SCHEMA {label}", None)
    if namespace_id is None:
        raise PermissionDenied(
            f"{label} does not exist yet and only ADMIN creates schemas; ask ADMIN to grant "
            f"what you need on it (it is created then): GRANT {privilege} ON SCHEMA {label} TO "
            f"ROLE {format_identifier(caller.role)}"
        )
    raise PermissionDenied(
        f"{caller} cannot {action}: it needs {privilege} on schema {label}; its owner can "
        f"grant it: GRANT {privilege} ON SCHEMA {label} TO ROLE {format_identifier(caller.role)}"
    )


def require_admin(store: CatalogStore, caller: Caller, *, action: str) -> None:
    """Allow ``action`` (managing roles, users and tokens; reading the audit log) to ADMIN and
    to roles that hold ADMIN."""
    if unrestricted(store, caller) or ADMIN in store.held_roles(caller.role):
        return
    store.record_refusal(caller, action, "ROLES", None)
    raise PermissionDenied(
        f"{caller} cannot {action}: only ADMIN may; run it as ADMIN (--role ADMIN), "
        f"or have ADMIN grant its role: GRANT ROLE ADMIN TO ROLE {format_identifier(caller.role)}"
    )
