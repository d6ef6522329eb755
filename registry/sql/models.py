"""Snowflake's model statements, parsed into frozen dataclasses (no database, no I/O).

The words are read as ``registry.sql.cursor`` reads every statement's: keywords in any case,
free whitespace, one trailing ``;``, names under ``registry.identifiers`` (an unquoted name
resolves upper-cased, a double-quoted one keeps its case), strings in single quotes (``''``
is a quote inside one), ``=`` with spaces around it or not::

    SHOW MODELS [LIKE 'pattern'] [IN DATABASE db | IN SCHEMA [db.]schema]
    SHOW VERSIONS [LIKE 'pattern'] IN MODEL model
    SHOW FUNCTIONS [LIKE 'pattern'] IN MODEL model [VERSION version]
    {DESCRIBE | DESC} MODEL model
    ALTER MODEL [IF EXISTS] model SET COMMENT = 'text'
    ALTER MODEL [IF EXISTS] model UNSET COMMENT
    ALTER MODEL [IF EXISTS] model RENAME TO [db.[schema.]]name
    ALTER MODEL [IF EXISTS] model SET DEFAULT_VERSION = version
    ALTER MODEL [IF EXISTS] model VERSION version SET ALIAS = alias
    ALTER MODEL [IF EXISTS] model VERSION alias UNSET ALIAS
    ALTER MODEL [IF EXISTS] model DROP VERSION version
    ALTER MODEL [IF EXISTS] model MODIFY VERSION version SET COMMENT = 'text'
    ALTER MODEL [IF EXISTS] model MODIFY VERSION version UNSET COMMENT
    ALTER MODEL [IF EXISTS] model MODIFY VERSION version SET METADATA = '{"metrics": {...}}'
    ALTER MODEL [IF EXISTS] model SET TAG tag = 'value'
    ALTER MODEL [IF EXISTS] model UNSET TAG tag
    DROP MODEL [IF EXISTS] model
    {LIST | LS} 'floe://model/<model>/versions/<version or alias>/[path]'
    GET 'floe://model/<model>/versions/<version or alias>/[path]' 'file://<local directory>'

    model: [db.[schema.]]name; version: a version name or alias (DEFAULT, FIRST, LAST or a
    user's). As in Snowflake, DEFAULT_VERSION and ALIAS also take the name as a string
    ('v2'), which is read as an identifier. A LIKE pattern matches names case-insensitively,
    ``%`` any run of characters and ``_`` one (``\\`` before either matches it as written).
    One property per ALTER MODEL statement.

``SET METADATA`` replaces the version's metadata, which holds its metrics (its task and
framework are fixed when it is logged): the JSON is parsed here, its metrics checked when the
statement runs. Each statement keeps, in ``spots``, where its names were written, so that an
error raised when it runs (a model that does not exist) points at the name like a syntax
error does. What a statement does is ``registry.api.sql``'s: one Python API call each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from registry.errors import InvalidIdentifier
from registry.identifiers import QualifiedName, parse_identifier
from registry.sql.cursor import Cursor, Grammar, Spot

__all__ = [
    "GRAMMAR",
    "MODEL_STATEMENTS",
    "AlterModel",
    "DescribeModel",
    "DropModel",
    "DropVersion",
    "GetFiles",
    "ListFiles",
    "ModelChange",
    "ModelStatement",
    "RenameModel",
    "SetAlias",
    "SetComment",
    "SetDefaultVersion",
    "SetTag",
    "SetVersionComment",
    "SetVersionMetadata",
    "ShowFunctions",
    "ShowModels",
    "ShowVersions",
    "UnsetAlias",
    "UnsetTag",
]


@dataclass(frozen=True)
class _Located:
    """A statement and where its names were written (``"model"``, ``"version"``, ...): kept
    for messages, so two statements that mean the same compare equal."""

    spots: Mapping[str, Spot] = field(default_factory=dict, compare=False, repr=False,
                                      kw_only=True)


@dataclass(frozen=True)
class ShowModels(_Located):
    """``database`` without ``schema``: every schema of that database (IN DATABASE); neither:
    the registry's own namespace."""

    like: str | None = None
    database: str | None = None
    schema: str | None = None


@dataclass(frozen=True)
class ShowVersions(_Located):
    model: QualifiedName
    like: str | None = None


@dataclass(frozen=True)
class ShowFunctions(_Located):
    """``version`` None: the model's default version."""

    model: QualifiedName
    version: str | None = None
    like: str | None = None


@dataclass(frozen=True)
class DescribeModel(_Located):
    model: QualifiedName


# -- what ALTER MODEL changes -----------------------------------------------------------------


@dataclass(frozen=True)
class SetComment:
    comment: str | None  # None: UNSET COMMENT


@dataclass(frozen=True)
class RenameModel:
    target: QualifiedName


@dataclass(frozen=True)
class SetDefaultVersion:
    version: str


@dataclass(frozen=True)
class SetAlias:
    version: str
    alias: str


@dataclass(frozen=True)
class UnsetAlias:
    alias: str


@dataclass(frozen=True)
class DropVersion:
    version: str


@dataclass(frozen=True)
class SetVersionComment:
    version: str
    comment: str | None  # None: UNSET COMMENT


@dataclass(frozen=True)
class SetVersionMetadata:
    """The version's metrics become exactly ``metrics`` (JSON values, checked when run)."""

    version: str
    metrics: Mapping[str, object]


@dataclass(frozen=True)
class SetTag:
    tag: str
    value: str


@dataclass(frozen=True)
class UnsetTag:
    tag: str


ModelChange: TypeAlias = (
    SetComment | RenameModel | SetDefaultVersion | SetAlias | UnsetAlias | DropVersion
    | SetVersionComment | SetVersionMetadata | SetTag | UnsetTag
)


@dataclass(frozen=True)
class AlterModel(_Located):
    model: QualifiedName
    change: ModelChange
    if_exists: bool = False


@dataclass(frozen=True)
class DropModel(_Located):
    model: QualifiedName
    if_exists: bool = False


@dataclass(frozen=True)
class ListFiles(_Located):
    url: str


@dataclass(frozen=True)
class GetFiles(_Located):
    """``local_dir``: the path of the ``file://`` URL, as written (``~`` is expanded)."""

    url: str
    local_dir: str


ModelStatement: TypeAlias = (
    ShowModels | ShowVersions | ShowFunctions | DescribeModel | AlterModel | DropModel
    | ListFiles | GetFiles
)
MODEL_STATEMENTS = (ShowModels, ShowVersions, ShowFunctions, DescribeModel, AlterModel,
                    DropModel, ListFiles, GetFiles)

_FILE = "file://"
_METADATA = """a JSON object such as '{"metrics": {"accuracy": 0.93}}'"""


def _parse_rest(p: Cursor, verb: str, noun: str) -> ModelStatement:
    """The statement after its verb and noun (``parse_with`` read them)."""
    spots: dict[str, Spot] = {}
    if verb == "SHOW":
        like = _like(p, spots)
        if noun == "MODELS":
            return _show_models(p, like, spots)
        p.take("IN")
        p.take("MODEL")
        model = _model(p, spots)
        if noun == "VERSIONS":
            return ShowVersions(model, like, spots=spots)
        version = _version(p, spots) if p.skip("VERSION") else None
        return ShowFunctions(model, version, like, spots=spots)
    if verb in ("DESCRIBE", "DESC"):
        return DescribeModel(_model(p, spots), spots=spots)
    if verb in ("LIST", "LS"):
        return ListFiles(_location(p, spots, "url", "a floe:// URL"), spots=spots)
    if verb == "GET":
        url = _location(p, spots, "url", "a floe:// URL")
        return GetFiles(url, _local_dir(p, spots), spots=spots)
    has_if = p.skip("IF")
    if has_if:
        p.take("EXISTS")
    model = _model(p, spots)
    if verb == "DROP":
        return DropModel(model, has_if, spots=spots)
    return AlterModel(model, _change(p, spots), has_if, spots=spots)


def _show_models(p: Cursor, like: str | None, spots: dict[str, Spot]) -> ShowModels:
    if not p.skip("IN"):
        return ShowModels(like, spots=spots)
    if p.take("DATABASE", "SCHEMA") == "DATABASE":
        spots["database"] = p.spot()
        return ShowModels(like, p.identifier("database"), spots=spots)
    spots["schema"] = p.spot()
    database, schema = p.schema_name()
    return ShowModels(like, database, schema, spots=spots)


def _change(p: Cursor, spots: dict[str, Spot]) -> ModelChange:
    """What ALTER MODEL model ... changes."""
    what = p.take("SET", "UNSET", "RENAME", "VERSION", "DROP", "MODIFY")
    if what == "SET":
        p.split("COMMENT", then="=")
        p.split("DEFAULT_VERSION", then="=")
        key = p.take("COMMENT", "DEFAULT_VERSION", "TAG")
        if key == "TAG":
            spots["tag"] = p.spot()
            p.split_before("=")
            tag = p.identifier("tag")
            _equals(p)
            spots["value"] = p.spot()
            return SetTag(tag, p.string("the tag's value"))
        _equals(p)
        if key == "COMMENT":
            spots["comment"] = p.spot()
            return SetComment(p.string("the comment"))
        return SetDefaultVersion(_name(p, spots, "version"))
    if what == "UNSET":
        if p.take("COMMENT", "TAG") == "COMMENT":
            return SetComment(None)
        spots["tag"] = p.spot()
        return UnsetTag(p.identifier("tag"))
    if what == "RENAME":
        p.take("TO")
        spots["target"] = p.spot()
        return RenameModel(p.qualified("model"))
    if what != "VERSION":  # DROP VERSION, MODIFY VERSION
        p.take("VERSION")
    version = _version(p, spots)
    if what == "DROP":
        return DropVersion(version)
    if what == "VERSION":
        if p.take("SET", "UNSET") == "UNSET":
            p.take("ALIAS")
            spots["alias"] = spots["version"]  # the version is named by the alias to unset
            return UnsetAlias(version)
        p.split("ALIAS", then="=")
        p.take("ALIAS")
        _equals(p)
        return SetAlias(version, _name(p, spots, "alias"))
    if p.take("SET", "UNSET") == "UNSET":
        p.take("COMMENT")
        return SetVersionComment(version, None)
    p.split("COMMENT", then="=")
    p.split("METADATA", then="=")
    key = p.take("COMMENT", "METADATA")
    _equals(p)
    if key == "COMMENT":
        spots["comment"] = p.spot()
        return SetVersionComment(version, p.string("the comment"))
    spots["metadata"] = p.spot()
    return SetVersionMetadata(version, _metrics(p))


def _equals(p: Cursor) -> None:
    p.split("=")
    p.take("=")


def _like(p: Cursor, spots: dict[str, Spot]) -> str | None:
    p.split("LIKE", then="'")
    if not p.skip("LIKE"):
        return None
    spots["like"] = p.spot()
    return p.string("a pattern")


def _model(p: Cursor, spots: dict[str, Spot]) -> QualifiedName:
    spots["model"] = p.spot()
    return p.qualified("model")


def _version(p: Cursor, spots: dict[str, Spot]) -> str:
    spots["version"] = p.spot()
    return p.parse_word(lambda w: parse_identifier(w, "version"), "a version name or alias")


def _name(p: Cursor, spots: dict[str, Spot], kind: Literal["version", "alias"]) -> str:
    """A version or alias name after ``=``: an identifier, or (as Snowflake writes it) a
    string that holds one."""
    expected = "a version name or alias" if kind == "version" else "an alias name"
    spots[kind] = p.spot()
    if not p.peek().startswith("'"):
        return p.parse_word(lambda w: parse_identifier(w, kind), expected)
    at = p.i
    text = p.string(expected)
    try:
        return parse_identifier(text, kind)
    except InvalidIdentifier as exc:
        raise p.error(f"expected {expected}; {exc.message}", "invalid name", at=at) from exc


def _location(p: Cursor, spots: dict[str, Spot], key: str, what: str) -> str:
    """A URL: a single-quoted string, or a word without quotes or spaces."""
    spots[key] = p.spot()
    word = p.peek()
    if word.startswith("'"):
        return p.string(what)
    if word in ("", ";") or '"' in word:
        raise p.error(f"expected {what} in single quotes")
    p.i += 1
    return word


def _local_dir(p: Cursor, spots: dict[str, Spot]) -> str:
    at = p.i
    url = _location(p, spots, "local_dir", "the local directory as a file:// URL")
    if not url[: len(_FILE)].lower() == _FILE or len(url) == len(_FILE):
        raise p.error("expected the local directory as a file:// URL, such as "
                      "'file:///tmp/model'", at=at)
    return url[len(_FILE) :]


def _metrics(p: Cursor) -> dict[str, object]:
    at = p.i
    text = p.string(f"the metadata, {_METADATA}")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise p.error("the metadata nests too deeply to read", "invalid metadata",
                      at=at) from None
    except ValueError as exc:
        raise p.error(f"the metadata is not JSON ({exc}); write {_METADATA}",
                      "invalid metadata", at=at) from exc
    metrics = doc.get("metrics") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(metrics, dict) or len(doc) != 1:
        others = sorted(doc) if isinstance(doc, dict) else []
        extra = [k for k in others if k != "metrics"]
        why = (f" (not {', '.join(map(repr, extra))}: a version's task and framework are "
               "fixed when it is logged)" if extra else "")
        raise p.error(f'expected {_METADATA}: the metadata holds "metrics" only{why}',
                      "invalid metadata", at=at)
    return metrics


GRAMMAR: Grammar[ModelStatement] = Grammar(
    verbs=("SHOW", "DESCRIBE", "DESC", "ALTER", "DROP", "LIST", "LS", "GET"),
    nouns={"SHOW": ("MODELS", "VERSIONS", "FUNCTIONS"), "DESCRIBE": ("MODEL",),
           "DESC": ("MODEL",), "ALTER": ("MODEL",), "DROP": ("MODEL",)},
    forms=("SHOW MODELS", "SHOW VERSIONS", "SHOW FUNCTIONS", "DESCRIBE MODEL", "ALTER MODEL",
           "DROP MODEL", "LIST", "GET"),
    parse_rest=_parse_rest,
)
