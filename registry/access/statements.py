"""Snowflake's access-control statements, parsed into frozen dataclasses (no database, no I/O).

Keywords are case-insensitive, whitespace (newlines included) is free and one trailing ``;``
is allowed. Names follow ``registry.identifiers``: an unquoted name resolves upper-cased, a
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

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from registry.errors import InvalidIdentifier, InvalidInput
from registry.identifiers import parse_identifier, parse_qualified_name

__all__ = [
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

_T = TypeVar("_T")


class StatementError(InvalidInput):
    """An access-control statement that does not parse; the message points at the word."""


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

# A word is a run of characters other than whitespace, ';' and '"', or double-quoted
# segments (which may hold those); an unterminated quote runs to the end, and
# parse_identifier says so. Every non-space character starts a word, so finditer skips
# only whitespace. What a word means is left to registry.identifiers.
_WORD = re.compile(r'(?:"(?:[^"]|"")*"?|[^\s";])+|;')
_SUPPORTED = (
    "CREATE ROLE, DROP ROLE, CREATE USER, DROP USER, GRANT ROLE, GRANT <privilege> ON, "
    "REVOKE ROLE, REVOKE <privilege> ON, SHOW GRANTS, SHOW ROLES or SHOW USERS"
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


def _one_of(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.words = [(m.group(), m.start()) for m in _WORD.finditer(text)]
        self.i = 0

    def peek(self) -> str:
        return self.words[self.i][0] if self.i < len(self.words) else ""

    def is_at(self, *keywords: str) -> bool:
        word = self.peek()
        # isascii: else "EX\u0131STS" (dotless i) would upper-case to the keyword EXISTS.
        return word.isascii() and word.upper() in keywords

    def take(self, *keywords: str, expected: str | None = None) -> str:
        if not self.is_at(*keywords):
            raise self.error(f"expected {expected or _one_of(keywords)}")
        self.i += 1
        return self.words[self.i - 1][0].upper()

    def parse_word(self, parse: Callable[[str], _T], expected: str) -> _T:
        word = self.peek()
        if word in ("", ";"):
            raise self.error(f"expected {expected}")
        try:
            value = parse(word)
        except InvalidIdentifier as exc:
            raise self.error(f"expected {expected}; {exc.message}", "invalid name") from exc
        self.i += 1
        return value

    def role(self) -> str:
        return self.parse_word(lambda w: parse_identifier(w, "role"), "a role name")

    def user(self) -> str:
        return self.parse_word(lambda w: parse_identifier(w, "user"), "a user name")

    def split(self, head: str, then: str = "") -> None:
        """Where the word here is ``head`` and more that starts with ``then``, make it two
        words, ``head`` and the rest: so ``DEFAULT_ROLE=R`` reads as ``DEFAULT_ROLE = R``."""
        word = self.peek()
        n = len(head)
        if (
            len(word) > n
            and word[:n].isascii()
            and word[:n].upper() == head
            and word[n:].startswith(then)
        ):
            start = self.words[self.i][1]
            self.words[self.i : self.i + 1] = [(word[:n], start), (word[n:], start + n)]

    def model(self) -> ModelTarget:
        name = self.parse_word(lambda w: parse_qualified_name(w, "model"), "a model name")
        return ModelTarget(name.database, name.schema, name.name)

    def schema(self) -> tuple[str | None, str]:
        expected = "a schema name as SCHEMA or DATABASE.SCHEMA"
        name = self.parse_word(lambda w: parse_qualified_name(w, "schema"), expected)
        if name.database is not None:
            raise self.error(f"expected {expected}, not DATABASE.SCHEMA.NAME", at=self.i - 1)
        return name.schema, name.name

    def end(self) -> None:
        if self.peek() == ";":
            self.i += 1
        if self.i < len(self.words):
            raise self.error("expected the end of the statement")

    def error(
        self, detail: str, problem: str = "syntax error", at: int | None = None
    ) -> StatementError:
        index = self.i if at is None else at
        if index < len(self.words):
            word, start = self.words[index]
            where = repr(word)
        else:
            start, where = len(self.text.rstrip()), "the end of the statement"
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", start)
        line = self.text[line_start : len(self.text) if line_end < 0 else line_end].rstrip("\r")
        pad = "".join(c if c == "\t" else " " for c in self.text[line_start:start])
        return StatementError(
            f"{problem} at {where} (position {start + 1}): {detail}\n{line}\n{pad}^"
        )


def parse_statement(text: str) -> Statement:
    """Parse one access-control statement (grammar in the module docstring)."""
    if not isinstance(text, str):
        raise StatementError(f"a statement must be a string, not {type(text).__name__}")
    p = _Parser(text)
    verb = p.take("CREATE", "DROP", "GRANT", "REVOKE", "SHOW", expected=f"one of {_SUPPORTED}")
    statement: Statement
    if verb in ("CREATE", "DROP"):
        noun = p.take("ROLE", "USER")
        has_if = p.is_at("IF")
        if has_if:
            p.i += 1
            if verb == "CREATE":
                p.take("NOT")
            p.take("EXISTS")
        if noun == "ROLE":
            role = p.role()
            statement = CreateRole(role, has_if) if verb == "CREATE" else DropRole(role, has_if)
        elif verb == "CREATE":
            statement = CreateUser(p.user(), _default_role(p), if_not_exists=has_if)
        else:
            statement = DropUser(p.user(), has_if)
    elif verb == "SHOW":
        statement = _parse_show(p)
    else:
        statement = _parse_grant(p, is_grant=verb == "GRANT")
    p.end()
    return statement


def _default_role(p: _Parser) -> str | None:
    """``[DEFAULT_ROLE = role]`` after ``CREATE USER user``; ``=`` spaced or not."""
    if p.peek() in ("", ";"):
        return None
    p.split("DEFAULT_ROLE", then="=")
    p.take("DEFAULT_ROLE", expected="DEFAULT_ROLE or the end of the statement")
    p.split("=")
    p.take("=")
    return p.role()


def _parse_show(p: _Parser) -> Statement:
    what = p.take("GRANTS", "ROLES", "USERS")
    if what != "GRANTS":
        return ShowRoles() if what == "ROLES" else ShowUsers()
    if p.take("ON", "TO") == "ON":
        p.take("MODEL")
        return ShowGrantsOn(p.model())
    if p.take("ROLE", "USER") == "ROLE":
        return ShowGrantsTo(p.role())
    return ShowGrantsToUser(p.user())


def _parse_grant(p: _Parser, *, is_grant: bool) -> Statement:
    to = "TO" if is_grant else "FROM"
    if p.is_at("ROLE"):
        p.i += 1
        role = p.role()
        p.take(to)
        if p.take("ROLE", "USER") == "ROLE":
            grantee = p.role()
            return GrantRole(role, grantee) if is_grant else RevokeRole(role, grantee)
        user = p.user()
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
        target = p.model()
    elif kind == "SCHEMA":
        target = SchemaTarget(*p.schema())
    else:
        p.take("MODELS")
        p.take("IN")
        p.take("SCHEMA")
        target = SchemaModelsTarget(*p.schema(), scope="ALL" if kind == "ALL" else "FUTURE")
    allowed, label = _APPLIES[kind]
    if privilege not in allowed:
        why = "; grant it ON SCHEMA" if privilege == "CREATE MODEL" else ""
        detail = f"{privilege} does not apply to {label}{why}; expected {_one_of(allowed)}"
        raise p.error(detail, "invalid privilege", at=at)
    p.take(to)
    if p.is_at("USER"):
        raise p.error(
            f"expected ROLE: privileges are granted to roles, and roles to users "
            f"({'GRANT ROLE role TO' if is_grant else 'REVOKE ROLE role FROM'} USER user)"
        )
    p.take("ROLE")
    role = p.role()
    return (
        GrantPrivilege(privilege, target, role)
        if is_grant
        else RevokePrivilege(privilege, target, role)
    )
