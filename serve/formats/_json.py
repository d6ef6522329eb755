"""JSON bodies: read a request, write a response, and the JSON form of Arrow values.

Every JSON answer (MLflow, Snowflake, the ``data`` of OIP tensors) writes values by one rule:

=============================  ==========================================================
Arrow type                     JSON
=============================  ==========================================================
float16, float32, float64      number; NaN, inf and -inf become null
decimal                        number (converted to float64)
int, uint, bool, string        number, true/false, string
binary                         base64 text (RFC 4648, padded)
timestamp                      ISO 8601 text: ``2024-01-02T03:04:05.123456``, with the
                               offset (``+00:00``) when the column has a time zone
date, time                     ISO 8601 text: ``2024-01-02``, ``03:04:05.000000``
duration                       integer count of the column's unit
dictionary                     its decoded values
list, struct                   array, object, their values written by these rules
map                            array of ``{"key": ..., "value": ...}`` objects
null                           null
=============================  ==========================================================

The conversion runs on whole Arrow arrays (``pyarrow.compute``); only binary columns are
base64-encoded value by value.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry import InvalidInput

__all__ = ["dump_json", "json_columns", "json_kind", "json_records", "jsonable", "load_json"]

log = logging.getLogger(__name__)


def load_json(body: bytes, *, example: str) -> Any:
    """The JSON document in ``body``; ``InvalidInput`` naming ``example`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidInput(
            f"body is not JSON: {exc}; send a JSON object such as {example}"
        ) from exc


def json_kind(value: object) -> str:
    """What a decoded JSON value is, for messages: ``an object``, ``a list``, ``null``, ..."""
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return kinds.get(type(value), "a number")


def dump_json(doc: Mapping[str, Any]) -> bytes:
    """``doc`` as compact UTF-8 JSON; numpy scalars become Python values, NaN becomes null."""
    return json.dumps(
        doc, allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=_default
    ).encode()


def _default(value: object) -> Any:
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, float) and not math.isfinite(item):
            return None
        return item
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_columns(table: pa.Table) -> list[list[Any]]:
    """Each column of ``table`` as a list of JSON-ready Python values (see the module)."""
    columns: list[list[Any]] = []
    for column in table.columns:
        values: list[Any] = []
        for chunk in column.chunks:
            values.extend(jsonable(chunk).to_pylist())
        columns.append(values)
    return columns


def jsonable(array: pa.Array) -> pa.Array:
    """``array`` converted so that ``to_pylist()`` holds only JSON values (see the module)."""
    kind = array.type
    if isinstance(array, pa.ExtensionArray):
        return jsonable(array.storage)
    if pa.types.is_dictionary(kind):
        return jsonable(array.dictionary_decode())
    if pa.types.is_float16(kind):
        return jsonable(array.cast(pa.float32()))
    if pa.types.is_decimal(kind):
        return jsonable(array.cast(pa.float64()))
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(array), array, pa.scalar(None, kind))
    if pa.types.is_timestamp(kind):
        zone = "%Ez" if kind.tz is not None else ""
        return pc.strftime(array, format=f"%Y-%m-%dT%H:%M:%S{zone}")
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        return array.cast(pa.string())
    if pa.types.is_duration(kind):
        return array.cast(pa.int64())
    if _is_binary(kind):
        encoded = [
            None if value is None else base64.b64encode(value).decode("ascii")
            for value in array.to_pylist()
        ]
        return pa.array(encoded, pa.string())
    if pa.types.is_map(kind):
        offsets, start, end = _span(array)
        entries = pa.StructArray.from_arrays(
            [jsonable(array.keys.slice(start, end - start)),
             jsonable(array.items.slice(start, end - start))],
            names=["key", "value"],
        )
        return pa.ListArray.from_arrays(offsets, entries, mask=array.is_null())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        offsets, start, end = _span(array)
        values = jsonable(array.values.slice(start, end - start))
        return type(array).from_arrays(offsets, values, mask=array.is_null())
    if pa.types.is_fixed_size_list(kind):
        size = kind.list_size
        values = array.values.slice(array.offset * size, len(array) * size)
        return pa.FixedSizeListArray.from_arrays(jsonable(values), size, mask=array.is_null())
    if pa.types.is_struct(kind):
        return pa.StructArray.from_arrays(
            [jsonable(child) for child in array.flatten()],
            names=[field.name for field in kind],
            mask=array.is_null(),
        )
    return array


def _span(array: pa.Array) -> tuple[pa.Array, int, int]:
    """A (possibly sliced) list array's offsets rebased to 0, and the child range they cover."""
    offsets = array.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return pc.subtract(offsets, pa.scalar(start, offsets.type)), start, end


def _is_binary(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind)
    )


def json_records(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as ``{column: value}`` objects of JSON-ready values."""
    if table.num_columns == 0:
        return [{} for _ in range(table.num_rows)]
    names = table.column_names
    return [dict(zip(names, row, strict=True)) for row in zip(*json_columns(table), strict=True)]
