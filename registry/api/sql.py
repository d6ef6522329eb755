"""Model statements (``registry.sql.models``) run through the Python API.

Each statement is the API call it stands for, made on the ``Registry`` that ``sql`` was called
on: ``SHOW MODELS`` is ``show_models``, ``ALTER MODEL m SET COMMENT`` the ``Model.comment``
setter, ``DROP MODEL`` ``delete_model``, ``LIST`` ``list_artifacts``, ``GET``
``get_artifact``, and so on. So SQL decides nothing of its own: who may do what, which names
resolve, what a listing shows and which URLs are refused are the API's decisions, the same
for a registry opened directly and for a registry server's client (where ``GET`` writes to
the client's disk). A statement that names another namespace (``ALTER MODEL db.s.m ...``,
``SHOW MODELS IN SCHEMA db.s``) runs on the same registry opened there, as the same caller.

What SQL adds: ``LIKE`` filters a listing by name (case-insensitive, ``%`` and ``_``), ``IN
DATABASE`` lists every schema of a database, ``IF EXISTS`` turns a missing model into a
note, and an error about a name the statement wrote (a model that does not exist, an alias
taken, a URL refused) points at that name, as a syntax error points at its word.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from registry.api.context import check_metrics
from registry.artifacts.deliver import destination_dir
from registry.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from registry.identifiers import QualifiedName, format_identifier, parse_identifier
from registry.runtime.signatures import FeatureSpec
from registry.sql.cursor import StatementError
from registry.sql.models import (
    AlterModel,
    DescribeModel,
    DropModel,
    DropVersion,
    GetFiles,
    ListFiles,
    ModelChange,
    ModelStatement,
    RenameModel,
    SetAlias,
    SetComment,
    SetDefaultVersion,
    SetTag,
    SetVersionComment,
    SetVersionMetadata,
    ShowFunctions,
    ShowModels,
    ShowVersions,
    UnsetAlias,
    UnsetTag,
)

if TYPE_CHECKING:
    from registry.api.model import Model
    from registry.api.model_version import ModelVersion
    from registry.api.registry import Registry

__all__ = ["FUNCTION_COLUMNS", "GET_COLUMNS", "JSON_COLUMNS", "execute_model_statement"]

log = logging.getLogger(__name__)

#: ``SHOW FUNCTIONS IN MODEL``'s columns, Snowflake's; ``arguments`` and ``return_type`` are
#: JSON arrays of ``{"name", "type"}``, ``is_table_function`` is true for a partitioned one.
FUNCTION_COLUMNS = [
    "created_on", "name", "version_name", "min_num_arguments", "max_num_arguments",
    "arguments", "return_type", "description", "language", "is_table_function",
]
#: ``GET``'s columns, Snowflake's: each file downloaded, its size and DOWNLOADED.
GET_COLUMNS = ["file", "size", "status", "message"]
#: The columns of statement results that hold JSON text (a listing's, as the API gives it).
JSON_COLUMNS = ("versions", "aliases", "functions", "metadata", "user_data", "arguments",
                "return_type")
# Errors about something a statement named, which then point at the name.
_ABOUT_A_NAME = (NotFound, AlreadyExists, Conflict, InvalidInput)


def execute_model_statement(reg: Registry, statement: ModelStatement) -> pd.DataFrame | str | None:
    """Run ``statement`` as ``reg``'s caller: SHOW, DESCRIBE, LIST and GET give their rows;
    the others None once done, or the note of an ``IF EXISTS`` that found no model."""
    if isinstance(statement, ShowModels):
        return _show_models(reg, statement)
    if isinstance(statement, ListFiles):
        with _pointing(statement, "url"):
            return reg.list_artifacts(statement.url)
    if isinstance(statement, GetFiles):
        return _get(reg, statement)
    if_exists = isinstance(statement, (AlterModel, DropModel)) and statement.if_exists
    where, model = _locate(reg, statement.model, statement, if_exists=if_exists)
    if model is None:
        name = format_identifier(statement.model.name)
        return f"model {where.database_name}.{where.schema_name}.{name} did not exist"
    if isinstance(statement, ShowVersions):
        return _like(model.show_versions(), statement.like, resolve=True)
    if isinstance(statement, ShowFunctions):
        return _show_functions(model, statement)
    if isinstance(statement, DescribeModel):
        listing = where.show_models()
        return listing[listing["name"] == model.name].reset_index(drop=True)
    if isinstance(statement, DropModel):
        where.delete_model(model.name)
        return None
    _alter(model, statement.change, statement)
    return None


@contextmanager
def _pointing(statement: ModelStatement, name: str) -> Iterator[None]:
    """Errors about the name written at ``statement.spots[name]`` point at it: the same
    class, the message prefixed with where the name is and followed by its line and a
    caret."""
    try:
        yield
    except _ABOUT_A_NAME as exc:
        spot = statement.spots.get(name)
        if spot is None or isinstance(exc, StatementError):
            raise
        raise type(exc)(spot.point(exc.message)) from exc


def _locate(reg: Registry, name: QualifiedName, statement: ModelStatement, *,
            if_exists: bool) -> tuple[Registry, Model | None]:
    """The registry on the model's namespace and the model (``get_model``); None for a
    model that does not exist (or that the caller may not see) when ``if_exists``."""
    where = reg._in_namespace(name.database, name.schema)
    try:
        return where, where.get_model(format_identifier(name.name))
    except NotFound:
        if if_exists:
            return where, None
        with _pointing(statement, "model"):
            raise


# -- listings -------------------------------------------------------------------------------


def _show_models(reg: Registry, statement: ShowModels) -> pd.DataFrame:
    database, schema = statement.database, statement.schema
    if database is not None and schema is None:  # IN DATABASE: each of its schemas
        with _pointing(statement, "database"):
            schemas = reg._schema_names(database)
            if not schemas:
                raise NotFound(
                    f"database {format_identifier(database)} does not exist yet: no model was "
                    "logged or moved into it; check its name, or list one schema's models: "
                    "SHOW MODELS IN SCHEMA db.schema"
                )
        frames = [reg._in_namespace(database, s).show_models() for s in schemas]
        shown = [f for f in frames if len(f)] or frames[:1]  # concat warns on empty frames
        frame = pd.concat(shown, ignore_index=True) if len(shown) > 1 else shown[0]
    else:
        where = reg._in_namespace(database, schema)
        if schema is not None and not where.exists():
            with _pointing(statement, "schema"):
                raise NotFound(
                    f"schema {where.database_name}.{where.schema_name} does not exist yet: "
                    "no model was logged or moved into it; check its name, or list its "
                    f"database's models: SHOW MODELS IN DATABASE {where.database_name}"
                )
        frame = where.show_models()
    return _like(frame, statement.like, resolve=True)


def _like(frame: pd.DataFrame, pattern: str | None, *, resolve: bool) -> pd.DataFrame:
    """The rows whose ``name`` matches the LIKE ``pattern``, compared with the name as stored
    (``resolve``: the column holds identifiers as ``format_identifier`` writes them)."""
    if pattern is None or frame.empty:
        return frame
    names = [parse_identifier(n, "version") if resolve else n for n in frame["name"]]
    keep = pc.match_like(pa.array(names, pa.string()), pattern, ignore_case=True)
    return frame[keep.to_numpy(zero_copy_only=False)].reset_index(drop=True)


def _show_functions(model: Model, statement: ShowFunctions) -> pd.DataFrame:
    with _pointing(statement, "version"):
        mv = (model.version(format_identifier(statement.version))
              if statement.version is not None else model.default)
    versions = model.show_versions()
    created = versions.loc[versions["name"] == mv.version_name, "created_on"]
    created_on = created.iloc[0] if len(created) else None
    rows: list[dict[str, Any]] = []
    for function in mv.show_functions():
        signature = function.signature
        count = len(signature.inputs) if signature is not None else None
        rows.append({
            "created_on": created_on, "name": function.name, "version_name": mv.version_name,
            "min_num_arguments": count, "max_num_arguments": count,
            "arguments": _features(signature.inputs) if signature is not None else None,
            "return_type": _features(signature.outputs) if signature is not None else None,
            "description": None, "language": "PYTHON",
            "is_table_function": function.is_partitioned,
        })
    frame = pd.DataFrame.from_records(rows, columns=FUNCTION_COLUMNS)
    return _like(frame, statement.like, resolve=False)


def _features(features: Iterable[FeatureSpec]) -> str:
    return json.dumps([{"name": f.name, "type": f.dtype.value} for f in features])


# -- changes --------------------------------------------------------------------------------


def _alter(model: Model, change: ModelChange, statement: AlterModel) -> None:
    """The one API call of each ALTER MODEL form."""
    if isinstance(change, SetComment):
        with _pointing(statement, "comment"):
            model.comment = change.comment
    elif isinstance(change, RenameModel):
        with _pointing(statement, "target"):
            model.rename(str(change.target))
    elif isinstance(change, SetDefaultVersion):
        with _pointing(statement, "version"):
            model.default = format_identifier(change.version)
    elif isinstance(change, DropVersion):
        with _pointing(statement, "version"):
            model.delete_version(format_identifier(change.version))
    elif isinstance(change, SetTag):
        with _pointing(statement, "value"):
            model.set_tag(format_identifier(change.tag), change.value)
    elif isinstance(change, UnsetTag):
        with _pointing(statement, "tag"):
            model.unset_tag(format_identifier(change.tag))
    elif isinstance(change, UnsetAlias):
        alias = format_identifier(change.alias)
        with _pointing(statement, "alias"):
            model.version(alias).unset_alias(alias)
    else:
        mv = _version(model, change.version, statement)
        if isinstance(change, SetAlias):
            with _pointing(statement, "alias"):
                mv.set_alias(format_identifier(change.alias))
        elif isinstance(change, SetVersionComment):
            with _pointing(statement, "comment"):
                mv.comment = change.comment
        else:
            _set_metrics(mv, change, statement)


def _version(model: Model, version: str, statement: AlterModel) -> ModelVersion:
    with _pointing(statement, "version"):
        return model.version(format_identifier(version))


def _set_metrics(mv: ModelVersion, change: SetVersionMetadata, statement: AlterModel) -> None:
    """``SET METADATA``: the version's metrics become those given (``set_metric`` each,
    ``delete_metric`` the others), every one checked before the first is written."""
    with _pointing(statement, "metadata"):
        metrics = check_metrics(change.metrics)
        before = mv.show_metrics()
        for name, value in metrics.items():
            mv.set_metric(name, value)
        for name in sorted(before.keys() - metrics.keys()):
            mv.delete_metric(name)


# -- files ----------------------------------------------------------------------------------


def _get(reg: Registry, statement: GetFiles) -> pd.DataFrame:
    with _pointing(statement, "local_dir"):
        destination_dir(statement.local_dir)  # get_artifact's own check, to point at the dir
    with _pointing(statement, "url"):
        paths = reg.get_artifact(statement.url, statement.local_dir)
    rows = [{"file": str(path), "size": path.stat().st_size, "status": "DOWNLOADED",
             "message": ""} for path in paths]
    return pd.DataFrame.from_records(rows, columns=GET_COLUMNS)
