"""Configs as validated pydantic models, every problem named with its YAML line.

    cfg = load_config_file("configs/serve.yaml", ServeConfig, kind="serve config",
                           example="configs/serve.yaml")

``load_config_file`` reads a file (no further than the loader's size bound),
``parse_config_text`` a string and ``validate_config_mapping`` a mapping already in hand (a
job's JSON, an HTTP body: no lines to name). Each validates strictly (YAML already gives
numbers, booleans and dates their types) and raises one ``InvalidInput`` that lists every
problem in line order::

    configs/x.yaml: line 15: unknown key 'batchsize' in compute; allowed keys: strategy,
    min_actors, max_actors, batch_size, num_cpus, num_gpus (did you mean 'batch_size'?)

A missing key says what the key allows, a wrong value what it got and what is allowed (the
type and bounds, read from the model's fields), and a validator's ``ValueError`` keeps its own
message. ``prepare`` rewrites the mapping before validation (the pipeline config makes
relative paths absolute there). ``dump_config_yaml`` writes a config as YAML that
``parse_config_text(..., expand_env=False)`` reads back equal.
"""

from __future__ import annotations

import difflib
import enum
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError

from registry.config_files.yaml_loader import (
    MAX_CHARS,
    Loc,
    YamlDocument,
    format_loc,
    load_with_lines,
)
from registry.errors import InvalidInput

__all__ = [
    "dump_config_yaml",
    "load_config_file",
    "parse_config_text",
    "validate_config_mapping",
]

M = TypeVar("M", bound=BaseModel)


def load_config_file(
    path: str | os.PathLike[str],
    model: type[M],
    *,
    kind: str,
    example: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    expand_env: bool = True,
) -> M:
    """Read the YAML file at ``path`` and validate it as ``model``; ``kind`` names the config
    in messages ("serve config") and ``example`` is a path to suggest (configs/serve.yaml)."""
    source = Path(path).expanduser()
    try:
        with source.open(encoding="utf-8") as handle:  # a longer text is refused unread
            text = handle.read(MAX_CHARS + 1)
    except FileNotFoundError:
        raise InvalidInput(f"no {kind} at {source}; pass the path of a YAML file such as "
                           f"{example}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {kind} {source}: {exc}") from None
    return parse_config_text(text, model, source=str(path), kind=kind, example=example,
                             prepare=prepare, expand_env=expand_env)


def parse_config_text(
    text: str,
    model: type[M],
    *,
    source: str = "<config>",
    kind: str,
    example: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    expand_env: bool = True,
) -> M:
    """Validate a YAML (or JSON) config held in a string; ``source`` says where it was read."""
    doc = load_with_lines(text, source, expand_env=expand_env, kind=kind)
    return _validate(doc, model, kind=kind, example=example, prepare=prepare)


def validate_config_mapping(
    data: Mapping[str, Any],
    model: type[M],
    *,
    source: str = "<config>",
    kind: str,
    example: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> M:
    """Validate a config given as a mapping, the same way (with no line numbers to report)."""
    values = dict(data) if isinstance(data, Mapping) else data
    doc = YamlDocument(data=values, source=source, lines={})
    return _validate(doc, model, kind=kind, example=example, prepare=prepare)


def dump_config_yaml(config: BaseModel) -> str:
    """``config`` as YAML that ``parse_config_text(..., expand_env=False)`` reads back equal,
    keys in field order (YAML keeps a date apart from a string that looks like one)."""
    return yaml.dump(config.model_dump(mode="python"), Dumper=_PlainDumper, sort_keys=False)


class _PlainDumper(yaml.SafeDumper):
    """Never writes anchors and aliases, which the loader counts against its budget."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _validate(
    doc: YamlDocument,
    model: type[M],
    *,
    kind: str,
    example: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> M:
    if not isinstance(doc.data, dict):
        raise InvalidInput(f"{doc.source}: a {kind} is a mapping of keys ({_some_keys(model)}), "
                           f"not a {type(doc.data).__name__}; see {example}")
    data = doc.data if prepare is None else prepare(doc.data)
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise InvalidInput(f"{doc.source}: " + "; ".join(_problems(exc, doc, model))) from None


def _some_keys(model: type[BaseModel]) -> str:
    """Up to three of the model's keys, the required ones first: "model, input, output, ..."."""
    fields = model.model_fields
    keys = [name for name, field in fields.items() if field.is_required()] or list(fields)
    return ", ".join(keys[:3] + (["..."] if len(fields) > len(keys[:3]) else []))


# -- validation errors as lines --------------------------------------------------------------


def _problems(exc: ValidationError, doc: YamlDocument, root: type[BaseModel]) -> list[str]:
    grouped: dict[Loc, list[Any]] = {}
    for error in exc.errors(include_url=False):
        grouped.setdefault(_data_loc(error, doc.data), []).append(error)
    found = sorted(
        (doc.line_of(loc), _describe_error(root, loc, errs)) for loc, errs in grouped.items()
    )
    return [f"line {line}: {text}" if doc.lines else text for line, text in found]


def _data_loc(error: Any, data: Any) -> Loc:
    """The part of pydantic's ``loc`` that names keys and items of the document (it adds
    union member names such as ``list[str]``); a missing key keeps its own name."""
    loc: list[str | int] = []
    node = data
    for part in error["loc"]:
        is_key = isinstance(node, dict) and part in node
        is_item = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if is_key or is_item:
            node = node[part]
        else:
            if error["type"] == "missing" and isinstance(part, str):
                loc.append(part)
            break
        loc.append(part)
    return tuple(loc)


def _describe_error(root: type[BaseModel], loc: Loc, errors: list[Any]) -> str:
    first = errors[0]
    parent, key = loc[:-1], loc[-1] if loc else None
    if first["type"] == "extra_forbidden" and isinstance(key, str):
        model = _model_at(root, parent)
        keys = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        where = f"in {format_loc(parent)}" if parent else "at the top level"
        return f"unknown key '{key}' {where}; allowed keys: {', '.join(keys)}{hint}"
    allowed = _allowed_at(root, loc)
    if first["type"] == "missing":
        return f"{format_loc(parent)} is missing required key '{key}' ({allowed})"
    if len(errors) == 1:
        message = str(first["msg"]).removeprefix("Value error, ")
    else:
        message = "Input has the wrong type"
    if first["type"] == "value_error":  # a validator's own message says what is wrong
        return f"{format_loc(loc)}: {message}"
    got = _short(first.get("input"))
    if first["type"] in ("literal_error", "enum"):  # the message lists the allowed values
        return f"{format_loc(loc)}: {message} (got {got})"
    return f"{format_loc(loc)}: {message} (got {got}; allowed: {allowed})"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model whose keys ``loc`` names, walking the fields down from ``root``."""
    annotation: Any = root
    for part in loc:
        model = _find_model(annotation)
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
    return _find_model(annotation)


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _allowed_at(root: type[BaseModel], loc: Loc) -> str:
    if not loc:
        return "a mapping"
    model = _model_at(root, loc[:-1])
    key = loc[-1]
    if model is None or not isinstance(key, str) or key not in model.model_fields:
        return "see the field's documentation"
    field = model.model_fields[key]
    text = _describe_type(field.annotation)
    bounds = [_bound(m) for m in field.metadata if _bound(m)]
    return " ".join([text, *bounds])


def _bound(meta: Any) -> str:
    for cls, attr, symbol in ((annotated_types.Gt, "gt", ">"), (annotated_types.Ge, "ge", ">="),
                              (annotated_types.Lt, "lt", "<"), (annotated_types.Le, "le", "<=")):
        if isinstance(meta, cls):
            return f"{symbol} {getattr(meta, attr)}"
    if isinstance(meta, annotated_types.MinLen) and meta.min_length > 0:
        return "(non-empty)"
    return ""


def _describe_type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a.value if isinstance(a, enum.Enum) else a) for a in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in annotation)
    if origin in (typing.Union, types.UnionType):
        described = [_describe_type(a) for a in args if a is not type(None)]
        if type(None) in args:
            described.append("null")
        return " or ".join(described)
    if origin in (list, tuple, set, frozenset):
        return f"a list of ({_describe_type(args[0])})" if args else "a list"
    if origin is dict:
        return "a mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping with keys " + ", ".join(annotation.model_fields)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))
