"""A batch-inference pipeline as one validated config: which model, on what, to where, how.

The same pydantic model parses a YAML file, a Python mapping and the JSON a submitted job
carries::

    model: ML.PROD.CHURN@DEFAULT        # NAME@ALIAS or NAME/VERSION; NAME may be DB.SCHEMA.NAME
    function: predict_proba             # optional when the version has one function
    input:  {path: data/customers, format: parquet, filters: [...], columns: [...]}
    output: {path: out/scores, partition_by: [region], mode: overwrite}
    compute: {min_actors: 1, max_actors: 4, batch_size: 4096, num_cpus: 0.5, num_gpus: 0}
    passthrough: [customer_id]          # also carried to the output; default: every input column
    explain: true                       # also run the version's `explain` function

The model reference is only parsed here; it is resolved through the catalog when the run
starts (``pipelines.runner``). Unknown keys and wrong types are refused together, each with
its YAML line and what the field allows. ``${VAR}`` and ``${VAR:-default}`` are expanded
from the environment, and relative local paths are made absolute against the working
directory, so a config means the same thing wherever the run is then executed.
"""

from __future__ import annotations

import difflib
import enum
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines._yaml import MAX_CHARS, Loc, YamlDocument, format_loc, load_with_lines
from pipelines.io import InputSpec, OutputSpec
from registry import ComputeConfig, InvalidInput, ModelRef, parse_model_ref

__all__ = [
    "PipelineConfig",
    "config_from_mapping",
    "dump_config",
    "load_config",
    "parse_config",
]

class PipelineConfig(BaseModel):
    """One batch-inference run: read ``input``, score it with ``model``, write ``output``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="NAME@ALIAS or NAME/VERSION; NAME may be DB.SCHEMA.NAME")
    function: str | None = Field(None, description="the version's function to run")
    input: InputSpec
    output: OutputSpec
    compute: ComputeConfig = ComputeConfig()
    passthrough: list[str] | None = Field(
        None, description="input columns carried to the output besides the features (which "
        "always go to the model, listed here or not); default: every input column"
    )
    partition_column: str | None = Field(
        None, description="the column that splits the input for a partitioned function"
    )
    explain: bool = Field(False, description="also run the version's explain function")
    strict_input_validation: bool = False
    catalog_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog (default: $FLOE_CATALOG_URL)"
    )
    artifact_root: str | None = Field(
        None, description="where versions' files live (default: $FLOE_ARTIFACT_ROOT)"
    )

    @field_validator("model")
    @classmethod
    def _check_ref(cls, value: str) -> str:
        try:
            parse_model_ref(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def model_ref(self) -> ModelRef:
        return parse_model_ref(self.model)


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    """Read and validate a YAML pipeline config; ``InvalidInput`` names every bad line."""
    source = Path(path).expanduser()
    try:
        with source.open(encoding="utf-8") as handle:  # a longer text is refused unread
            text = handle.read(MAX_CHARS + 1)
    except FileNotFoundError:
        raise InvalidInput(f"no pipeline config at {source}; pass the path of a YAML file "
                           "such as configs/score.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read pipeline config {source}: {exc}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>", expand_env: bool = True) -> PipelineConfig:
    """Validate a YAML (or JSON) pipeline config held in a string."""
    return _validate(load_with_lines(text, source, expand_env=expand_env,
                                     kind="pipeline config"))


def dump_config(config: PipelineConfig) -> str:
    """``config`` as YAML that ``parse_config(..., expand_env=False)`` reads back equal: how a
    submitted job carries it (YAML keeps a date apart from a string that looks like one)."""
    return yaml.dump(config.model_dump(mode="python"), Dumper=_PlainDumper, sort_keys=False)


class _PlainDumper(yaml.SafeDumper):
    """Never writes anchors and aliases, which the loader counts against its budget."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def config_from_mapping(data: Mapping[str, Any], *, source: str = "<config>") -> PipelineConfig:
    """Validate a config given as a mapping (no line numbers to report)."""
    return _validate(YamlDocument(data=dict(data), source=source, lines={}))


def _validate(doc: YamlDocument) -> PipelineConfig:
    if not isinstance(doc.data, dict):
        raise InvalidInput(f"{doc.source}: a pipeline config is a mapping of keys (model, input, "
                           f"output, ...), not a {type(doc.data).__name__}; see configs/score.yaml")
    data = _absolute_paths(doc.data)
    try:
        return PipelineConfig.model_validate(data, strict=True)
    except ValidationError as exc:
        raise InvalidInput(f"{doc.source}: " + "; ".join(_problems(exc, doc))) from None


def _absolute_paths(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for section in ("input", "output"):
        spec = out.get(section)
        if isinstance(spec, dict) and "path" in spec:
            path = spec["path"]
            if isinstance(path, str):
                out[section] = {**spec, "path": _absolute(path)}
            elif isinstance(path, list) and all(isinstance(p, str) for p in path):
                out[section] = {**spec, "path": [_absolute(p) for p in path]}
    return out


def _absolute(path: str) -> str:
    if "://" in path or not path:
        return path
    return str(Path(path).expanduser().absolute())


# -- validation errors as lines --------------------------------------------------------------


def _problems(exc: ValidationError, doc: YamlDocument) -> list[str]:
    grouped: dict[Loc, list[Any]] = {}
    for error in exc.errors(include_url=False):
        grouped.setdefault(_data_loc(error, doc.data), []).append(error)
    found = sorted((doc.line_of(loc), _describe_error(loc, errs)) for loc, errs in grouped.items())
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


def _describe_error(loc: Loc, errors: list[Any]) -> str:
    first = errors[0]
    parent, key = loc[:-1], loc[-1] if loc else None
    if first["type"] == "extra_forbidden" and isinstance(key, str):
        model = _model_at(parent)
        keys = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        where = f"in {format_loc(parent)}" if parent else "at the top level"
        return f"unknown key '{key}' {where}; allowed keys: {', '.join(keys)}{hint}"
    allowed = _allowed_at(loc)
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


def _model_at(loc: Loc) -> type[BaseModel] | None:
    annotation: Any = PipelineConfig
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


def _allowed_at(loc: Loc) -> str:
    if not loc:
        return "a mapping"
    model = _model_at(loc[:-1])
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
