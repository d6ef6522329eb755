"""Snowflake's access-control statements, parsed into frozen dataclasses (no database, no I/O).

Keywords are case-insensitive, whitespace (newlines included) is free and one trailing ``;``
is allowed (the words are read as ``registry.sql.cursor`` reads every statement's). Names
follow ``registry.identifiers``: an unquoted name resolves upper-cased, a
double-quoted one keeps its case (``""`` is a quote inside it). The ``=`` of
``DEFAULT_ROLE = role`` may have spaces around it or not. Privileges are granted to roles
only; a user holds them through the roles granted to it::

    CREATE ROLE [IF NOT EXISTS] role
    DROP ROLE [IF EXISTS] role
    CREATE USER [IF NOT EXISTS] user [DEFAULT_ROLE = role]
    DROP USER [IF EXISTS] user
    GRANT ROLE role TO ROLE role
    REVOKE ROLE role FROM ROLE role
    GRANT ROLE role TO USER user
    REVOKE ROLE role FROM USER user
    GRANT privilege ON target TO ROLE role
    REVOKE privilege ON target FROM ROLE role
    SHOW GRANTS ON MODEL [db.[schema.]]model
    SHOW GRANTS TO ROLE role
    SHOW GRANTS TO USER user
    SHOW ROLES
    SHOW USERS

    target                                 privileges that apply to it
    MODEL [db.[schema.]]model              USAGE | READ | OWNERSHIP
    ALL MODELS IN SCHEMA [db.]schema       USAGE | READ | OWNERSHIP
    FUTURE MODELS IN SCHEMA [db.]schema    USAGE | READ
    SCHEMA [db.]schema                     CREATE MODEL

``parse_statement`` returns one ``Statement`` or raises ``StatementError`` (an
``InvalidInput``) that quotes the offending word, gives its 1-based position and what was
expected there, and repeats the statement's line with a caret under the word::

    syntax error at 'TOO' (position 29): expected TO
    GRANT USAGE ON MODEL ml.r.m TOO ROLE analyst
                                ^
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from registry.sql.cursor import Cursor, Grammar, StatementError, one_of, parse_with

__all__ = [
    "GRAMMAR",
    "CreateRole",
    "CreateUser",
    "DropRole",
    "DropUser",
    "GrantPrivilege",
    "GrantRole",
    "GrantRoleToUser",
    "ModelTarget",
    "Privilege",
    "RevokePrivilege",
    "RevokeRole",
    "RevokeRoleFromUser",
    "SchemaModelsTarget",
    "SchemaTarget",
    "Scope",
    "ShowGrantsOn",
    "ShowGrantsTo",
    "ShowGrantsToUser",
    "ShowRoles",
    "ShowUsers",
    "Statement",
    "StatementError",
    "Target",
    "parse_statement",
]

Privilege: TypeAlias = Literal["USAGE", "READ", "OWNERSHIP", "CREATE MODEL"]
Scope: TypeAlias = Literal["ALL", "FUTURE"]


@dataclass(frozen=True)
class ModelTarget:
    """``MODEL [db.[schema.]]model``; database and schema are None when not written."""

    database: str | None
    schema: str | None
    name: str


@dataclass(frozen=True)
class SchemaModelsTarget:
    """``ALL MODELS IN SCHEMA [db.]schema`` or ``FUTURE MODELS IN SCHEMA [db.]schema``."""

    database: str | None
    schema: str
    scope: Scope


@dataclass(frozen=True)
class SchemaTarget:
    """``SCHEMA [db.]schema``, the target of ``CREATE MODEL``."""

    database: str | None
    schema: str


Target: TypeAlias = ModelTarget | SchemaModelsTarget | SchemaTarget


@dataclass(frozen=True)
class CreateRole:
    role: str
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropRole:
    role: str
    if_exists: bool = False


@dataclass(frozen=True)
class CreateUser:
    user: str
    default_role: str | None = None
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropUser:
    user: str
    if_exists: bool = False


@dataclass(frozen=True)
class GrantRole:
    role: str
    to_role: str


@dataclass(frozen=True)
class RevokeRole:
    role: str
    from_role: str


@dataclass(frozen=True)
class GrantRoleToUser:
    role: str
    user: str


@dataclass(frozen=True)
class RevokeRoleFromUser:
    role: str
    user: str


@dataclass(frozen=True)
class GrantPrivilege:
    privilege: Privilege
    target: Target
    role: str


@dataclass(frozen=True)
class RevokePrivilege:
    privilege: Privilege
    target: Target
    role: str


@dataclass(frozen=True)
class ShowGrantsOn:
    target: ModelTarget


@dataclass(frozen=True)
class ShowGrantsTo:
    role: str


@dataclass(frozen=True)
class ShowGrantsToUser:
    user: str


@dataclass(frozen=True)
class ShowRoles:
    pass


@dataclass(frozen=True)
class ShowUsers:
    pass


Statement: TypeAlias = (
    CreateRole
    | DropRole
    | CreateUser
    | DropUser
    | GrantRole
    | RevokeRole
    | GrantRoleToUser
    | RevokeRoleFromUser
    | GrantPrivilege
    | RevokePrivilege
    | ShowGrantsOn
    | ShowGrantsTo
    | ShowGrantsToUser
    | ShowRoles
    | ShowUsers
)

_FORMS = (
    "CREATE ROLE", "DROP ROLE", "CREATE USER", "DROP USER", "GRANT ROLE",
    "GRANT <privilege> ON", "REVOKE ROLE", "REVOKE <privilege> ON", "SHOW GRANTS", "SHOW ROLES",
    "SHOW USERS",
)
_PRIVILEGES: dict[str, Privilege] = {
    "USAGE": "USAGE",
    "READ": "READ",
    "OWNERSHIP": "OWNERSHIP",
    "CREATE": "CREATE MODEL",
}
_MODEL_PRIVILEGES: tuple[Privilege, ...] = ("USAGE", "READ", "OWNERSHIP")
# Target keyword -> the privileges that apply to it, and how a message names it.
_APPLIES: dict[str, tuple[tuple[Privilege, ...], str]] = {
    "MODEL": (_MODEL_PRIVILEGES, "a model"),
    "ALL": (_MODEL_PRIVILEGES, "ALL MODELS"),
    "FUTURE": (
        ("USAGE", "READ"),
        "FUTURE MODELS: a new model is owned by the role that creates it",
    ),
    "SCHEMA": (
        ("CREATE MODEL",),
        "a schema: grant model privileges ON MODEL or ON ALL|FUTURE MODELS",
    ),
}


def _role(p: Cursor) -> str:
    return p.identifier("role")


def _user(p: Cursor) -> str:
    return p.identifier("user")


def _model(p: Cursor) -> ModelTarget:
    name = p.qualified("model")
    return ModelTarget(name.database, name.schema, name.name)


def parse_statement(text: str) -> Statement:
    """Parse one access-control statement (grammar in the module docstring)."""
    return parse_with(text, GRAMMAR)


def _parse_rest(p: Cursor, verb: str, noun: str) -> Statement:
    """The statement after its verb and noun (``parse_with`` read them)."""
    if verb in ("CREATE", "DROP"):
        has_if = p.skip("IF")
        if has_if:
            if verb == "CREATE":
                p.take("NOT")
            p.take("EXISTS")
        if noun == "ROLE":
            role = _role(p)
            return CreateRole(role, has_if) if verb == "CREATE" else DropRole(role, has_if)
        if verb == "CREATE":
            return CreateUser(_user(p), _default_role(p), if_not_exists=has_if)
        return DropUser(_user(p), has_if)
    if verb == "SHOW":
        return _parse_show(p, noun)
    return _parse_grant(p, is_grant=verb == "GRANT")


def _default_role(p: Cursor) -> str | None:
    """``[DEFAULT_ROLE = role]`` after ``CREATE USER user``; ``=`` spaced or not."""
    if p.is_at_end():
        return None
    p.split("DEFAULT_ROLE", then="=")
    p.take("DEFAULT_ROLE", expected="DEFAULT_ROLE or the end of the statement")
    p.split("=")
    p.take("=")
    return _role(p)


def _parse_show(p: Cursor, what: str) -> Statement:
    if what != "GRANTS":
        return ShowRoles() if what == "ROLES" else ShowUsers()
    if p.take("ON", "TO") == "ON":
        p.take("MODEL")
        return ShowGrantsOn(_model(p))
    if p.take("ROLE", "USER") == "ROLE":
        return ShowGrantsTo(_role(p))
    return ShowGrantsToUser(_user(p))


def _parse_grant(p: Cursor, *, is_grant: bool) -> Statement:
    to = "TO" if is_grant else "FROM"
    if p.skip("ROLE"):
        role = _role(p)
        p.take(to)
        if p.take("ROLE", "USER") == "ROLE":
            grantee = _role(p)
            return GrantRole(role, grantee) if is_grant else RevokeRole(role, grantee)
        user = _user(p)
        return GrantRoleToUser(role, user) if is_grant else RevokeRoleFromUser(role, user)
    at = p.i
    word = p.take(*_PRIVILEGES, expected="ROLE, USAGE, READ, OWNERSHIP or CREATE MODEL")
    if word == "CREATE":
        p.take("MODEL")
    privilege = _PRIVILEGES[word]
    p.take("ON")
    kind = p.take(
        "MODEL", "ALL", "FUTURE", "SCHEMA", expected="MODEL, ALL MODELS, FUTURE MODELS or SCHEMA"
    )
    target: Target
    if kind == "MODEL":
        target = _model(p)
    elif kind == "SCHEMA":
        target = SchemaTarget(*p.schema_name())
    else:
        p.take("MODELS")
        p.take("IN")
        p.take("SCHEMA")
        target = SchemaModelsTarget(*p.schema_name(), scope="ALL" if kind == "ALL" else "FUTURE")
    allowed, label = _APPLIES[kind]
    if privilege not in allowed:
        why = "; grant it ON SCHEMA" if privilege == "CREATE MODEL" else ""
        detail = f"{privilege} does not apply to {label}{why}; expected {one_of(allowed)}"
        raise p.error(detail, "invalid privilege", at=at)
    p.take(to)
    if p.is_at("USER"):
        raise p.error(
            f"expected ROLE: privileges are granted to roles, and roles to users "
            f"({'GRANT ROLE role TO' if is_grant else 'REVOKE ROLE role FROM'} USER user)"
        )
    p.take("ROLE")
    role = _role(p)
    return (
        GrantPrivilege(privilege, target, role)
        if is_grant
        else RevokePrivilege(privilege, target, role)
    )


GRAMMAR: Grammar[Statement] = Grammar(
    verbs=("CREATE", "DROP", "GRANT", "REVOKE", "SHOW"),
    nouns={"CREATE": ("ROLE", "USER"), "DROP": ("ROLE", "USER"),
           "SHOW": ("GRANTS", "ROLES", "USERS")},
    forms=_FORMS,
    parse_rest=_parse_rest,
)
