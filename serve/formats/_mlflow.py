"""The MLflow scoring-server format (``mlflow models serve``'s ``/invocations``).

A JSON body holds exactly one of four keys::

    {"dataframe_split": {"columns": ["x", "y"], "data": [[5.1, 3.5]]}}   # "index" is ignored
    {"dataframe_records": [{"x": 5.1, "y": 3.5}]}
    {"instances": [[5.1, 3.5]]}         # or records, or {"x": [5.1], "y": [3.5]} columns
    {"inputs": [[5.1, 3.5]]}            # as instances

``dataframe_split`` may leave out ``columns`` when the model has a signature (the values are
then in signature order); ``instances`` and ``inputs`` take a list of rows (positional, in
signature order), a list of records, a list of single values (a one-feature model) or an
object of columns. A ``text/csv`` body is a header row and the rows, read by
``pyarrow.csv``. The answer is ``{"predictions": [...]}``: one value per row when the
function returns one column, otherwise one ``{column: value}`` object per row, written as
``serve.formats._json`` describes (NaN as null, bytes as base64).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from registry import DataType, FeatureSpec, InvalidInput
from serve.formats._columns import (
    conform_table,
    positional_names,
    table_from_columns,
    table_from_records,
    table_from_rows,
)
from serve.formats._json import dump_json, json_columns, json_kind, json_records, load_json

__all__ = ["decode_mlflow", "encode_mlflow"]

log = logging.getLogger(__name__)

_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_SPLIT_KEYS = ("columns", "data", "index")
_EXAMPLE = '{"dataframe_split": {"columns": ["x", "y"], "data": [[5.1, 3.5]]}}'
_CSV_EXAMPLE = "x,y\\n5.1,3.5\\n"


def decode_mlflow(
    body: bytes, content_type: str | None, features: Sequence[FeatureSpec] | None
) -> pa.Table:
    """The model input of an MLflow scoring request (see the module for the formats)."""
    media = _media_type(content_type)
    if media == "text/csv":
        return _decode_csv(body, features)
    if media not in ("", "application/json"):
        raise InvalidInput(
            f"content type {content_type} is not supported; send application/json (an object "
            f"with one of {', '.join(_KEYS)}) or text/csv with a header row"
        )
    doc = load_json(body, example=_EXAMPLE)
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"an MLflow request is a JSON object, not {json_kind(doc)}; send one of the keys "
            f"{', '.join(_KEYS)}, such as {_EXAMPLE}"
        )
    present = [key for key in _KEYS if key in doc]
    unknown = [key for key in doc if key not in _KEYS]
    if len(present) != 1 or unknown:
        found = []
        if not present:
            found.append("none of them")
        elif len(present) > 1:
            found.append("more than one: " + ", ".join(present))
        if unknown:
            found.append("unknown keys: " + ", ".join(unknown))
        raise InvalidInput(
            f"an MLflow request has exactly one of the keys {', '.join(_KEYS)}; this one has "
            + "; ".join(found) + f"; send, for example, {_EXAMPLE}"
        )
    key = present[0]
    value = doc[key]
    if key == "dataframe_split":
        return _decode_split(value, features)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidInput(
                f"dataframe_records must be a list of objects, not {json_kind(value)}; send "
                '{"dataframe_records": [{"x": 5.1, "y": 3.5}]}'
            )
        return table_from_records(value, features, where=key,
                                  example='[{"x": 5.1, "y": 3.5}]')
    return _decode_tensor_input(key, value, features)


def encode_mlflow(outputs: pa.Table) -> bytes:
    """``{"predictions": [...]}``: values when ``outputs`` has one column, else records."""
    if outputs.num_columns == 1:
        predictions: list[Any] = json_columns(outputs)[0]
    else:
        predictions = json_records(outputs)
    return dump_json({"predictions": predictions})


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _decode_split(value: Any, features: Sequence[FeatureSpec] | None) -> pa.Table:
    where = "dataframe_split"
    if not isinstance(value, dict):
        raise InvalidInput(
            f"dataframe_split must be an object with columns and data, not {json_kind(value)}; "
            f"send {_EXAMPLE}"
        )
    problems = []
    unknown = [key for key in value if key not in _SPLIT_KEYS]
    if unknown:
        problems.append("unknown keys " + ", ".join(unknown) + " (it takes columns, data, index)")
    rows = value.get("data")
    if not isinstance(rows, list):
        problems.append(
            "no data key" if "data" not in value
            else f"data is {json_kind(rows)}, not a list of rows"
        )
    columns = value.get("columns")
    if columns is None and features is None:
        problems.append("no columns, and the model has no signature to name the values")
    elif columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        problems.append("columns is not a list of strings")
    if problems or not isinstance(rows, list):
        raise InvalidInput(
            "invalid dataframe_split: " + "; ".join(problems) + f"; send {_EXAMPLE}"
        )
    example = '{"columns": ["x", "y"], "data": [[5.1, 3.5]]}'
    return table_from_rows(rows, features, where=f"{where}.data", example=example, names=columns)


def _decode_tensor_input(
    key: str, value: Any, features: Sequence[FeatureSpec] | None
) -> pa.Table:
    rows_example = f'{{"{key}": [[5.1, 3.5], [6.2, 2.9]]}}'
    if isinstance(value, dict):
        not_lists = [name for name, column in value.items() if not isinstance(column, list)]
        if not_lists:
            raise InvalidInput(
                f"{key} is an object of columns but " + ", ".join(not_lists)
                + f" {'are' if len(not_lists) > 1 else 'is'} not a list; send one list of "
                f'values per column, such as {{"{key}": {{"x": [5.1, 6.2], "y": [3.5, 2.9]}}}}'
            )
        return table_from_columns(list(value.items()), features, where=key)
    if not isinstance(value, list):
        raise InvalidInput(
            f"{key} must be a list of rows or an object of columns, not {json_kind(value)}; "
            f"send {rows_example}"
        )
    if all(isinstance(item, dict) for item in value):
        return table_from_records(value, features, where=key, example='[{"x": 5.1, "y": 3.5}]')
    if all(isinstance(item, list) for item in value):
        return table_from_rows(value, features, where=key, example=rows_example)
    if any(isinstance(item, list | dict) for item in value):
        raise InvalidInput(
            f"{key} mixes rows of different forms (lists, objects, single values); send every "
            f"row in one form, such as {rows_example}"
        )
    if features is not None and len(features) != 1:
        raise InvalidInput(
            f"{key} is a list of single values, but the signature has {len(features)} "
            f"features ({', '.join(f.name for f in features)}); send one list of values per "
            f"row, in signature order, such as {rows_example}"
        )
    name = positional_names(features, 1)[0]
    return table_from_columns([(name, value)], features, where=key)


def _decode_csv(body: bytes, features: Sequence[FeatureSpec] | None) -> pa.Table:
    text_types = {DataType.STRING, DataType.BYTES}  # read as text; BYTES is then base64
    column_types = {f.name: pa.string() for f in features or () if f.dtype in text_types}
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body), convert_options=pa_csv.ConvertOptions(column_types=column_types)
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"body is not CSV with a header row: {exc}; send text/csv such as {_CSV_EXAMPLE}"
        ) from exc
    return conform_table(table, features, where="CSV body")
