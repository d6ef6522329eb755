"""Model input tables from decoded request values: positional rows, records or columns.

The decoders build columns and do not check them against the signature: the run path
(``ModelVersion.run``) validates and widens, and its ``InvalidInput`` is what users see.
What happens here is only what a correct request needs to pass:

* pyarrow infers each column from its JSON values (numbers to int64 or float64, booleans,
  strings, nested lists and objects);
* with a signature, a column of numbers is cast to its numeric feature's type when that is
  exact (``2`` and ``2.0`` for an INT32 feature, ``1.5`` for a FLOAT one; a value that does
  not fit keeps the column as inferred, for the run path to report), a column of nulls
  takes its feature's type, text for a TIMESTAMP feature is parsed as ISO 8601 where it can
  be, and text for a BYTES feature is base64-decoded (bytes travel as base64 in JSON and
  CSV, as they are answered);
* positional values take the feature names in signature order; without a signature they
  are named ``input_feature_0``, ``input_feature_1``, ... as ``registry`` names the columns
  of a numpy array.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from registry import DataType, FeatureSpec, InvalidInput

__all__ = [
    "conform_array",
    "conform_table",
    "empty_table",
    "positional_names",
    "rows_named",
    "table_from_columns",
    "table_from_records",
    "table_from_rows",
]

log = logging.getLogger(__name__)

_PREFIX = "input_feature"
_NUMBERS = {
    DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64,
    DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64,
    DataType.FLOAT, DataType.DOUBLE,
}
_BUILD_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
_SHOWN = 5  # bad rows named in a message


def positional_names(features: Sequence[FeatureSpec] | None, width: int) -> list[str]:
    """The names of ``width`` positional values: the features', or ``input_feature_<i>``."""
    if features is None:
        return [f"{_PREFIX}_{i}" for i in range(width)]
    return [f.name for f in features]


def _feature_list(features: Sequence[FeatureSpec]) -> str:
    return ", ".join(f"{f.name} ({f.dtype.value})" for f in features) or "none"


def rows_named(indices: Sequence[int]) -> str:
    """``row 3`` or ``rows 0, 2, 5, 6, 9 and 4 more``."""
    shown = ", ".join(str(i) for i in indices[:_SHOWN])
    more = f" and {len(indices) - _SHOWN} more" if len(indices) > _SHOWN else ""
    return f"row{'s' if len(indices) > 1 else ''} {shown}{more}"


def empty_table(features: Sequence[FeatureSpec] | None) -> pa.Table:
    """No rows: the features' columns, typed, or no columns without a signature."""
    if features is None:
        return pa.table({})
    return pa.table(
        [pa.array([], f.dtype.to_arrow()) for f in features], names=[f.name for f in features]
    )


def table_from_rows(
    rows: Sequence[Any],
    features: Sequence[FeatureSpec] | None,
    *,
    where: str,
    example: str,
    names: Sequence[str] | None = None,
) -> pa.Table:
    """A table from positional rows: lists of values named by ``names`` or, without them, by
    ``positional_names`` (the features in signature order)."""
    if not rows and names is None:
        return empty_table(features)
    not_lists = [i for i, row in enumerate(rows) if not isinstance(row, list)]
    if not_lists:
        raise InvalidInput(
            f"{where}: {rows_named(not_lists)} {'are' if len(not_lists) > 1 else 'is'} not "
            f"a list; send one list of values per row, such as {example}"
        )
    if names is not None:
        width = len(names)
    else:
        width = len(features) if features is not None else len(rows[0])
    wrong = [i for i, row in enumerate(rows) if len(row) != width]
    if wrong:
        if names is not None:
            expected = f"there {'are' if width != 1 else 'is'} {width} column{'s' if width != 1 else ''}"
        elif features is not None:
            expected = (f"the signature has {width} feature{'s' if width != 1 else ''}: "
                        f"{_feature_list(features)}")
        else:
            expected = f"row 0 has {width}, and every row needs as many"
        raise InvalidInput(
            f"{where}: {rows_named(wrong)} {'have' if len(wrong) > 1 else 'has'} "
            f"{len(rows[wrong[0]])} values but {expected}; send one value per "
            f"{'column' if names is not None else 'feature'} in that order, such as {example}"
        )
    if names is None:
        names = positional_names(features, width)
    values: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return table_from_columns(
        list(zip(names, values, strict=True)), features, where=where, num_rows=len(rows)
    )


def table_from_records(
    records: Sequence[Any], features: Sequence[FeatureSpec] | None, *, where: str, example: str
) -> pa.Table:
    """A table from ``{column: value}`` objects; a column a record lacks is null there."""
    if not records:
        return empty_table(features)
    not_objects = [i for i, record in enumerate(records) if not isinstance(record, dict)]
    if not_objects:
        raise InvalidInput(
            f"{where}: {rows_named(not_objects)} {'are' if len(not_objects) > 1 else 'is'} "
            f"not an object; send one object per row, such as {example}"
        )
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = [(name, [record.get(name) for record in records]) for name in names]
    return table_from_columns(columns, features, where=where, num_rows=len(records))


def table_from_columns(
    columns: Sequence[tuple[str, Sequence[Any]]],
    features: Sequence[FeatureSpec] | None,
    *,
    where: str,
    num_rows: int | None = None,
) -> pa.Table:
    """A table from ``(name, values)`` pairs of equal length; names may repeat (the run path
    reports duplicates)."""
    lengths = {len(values) for _, values in columns}
    if len(lengths) > 1:
        shown = ", ".join(f"{name} ({len(values)})" for name, values in columns)
        raise InvalidInput(
            f"{where}: columns have different lengths: {shown}; send one value per row in "
            "every column"
        )
    if not columns and num_rows:
        raise InvalidInput(f"{where}: the rows hold no columns; send the features' values")
    specs = {f.name: f for f in features} if features is not None else {}
    arrays = [_build(name, values, specs.get(name), where) for name, values in columns]
    return pa.Table.from_arrays(arrays, names=[name for name, _ in columns])


def _build(name: str, values: Sequence[Any], spec: FeatureSpec | None, where: str) -> pa.Array:
    try:
        array = pa.array(values)
    except _BUILD_ERRORS as exc:
        if (spec is not None and spec.dtype == DataType.UINT64 and isinstance(exc, OverflowError)
                and all(type(v) is int or v is None for v in values)):
            return pa.array(values, pa.uint64())
        wanted = f" ({spec.dtype.value} for this feature)" if spec is not None else ""
        raise InvalidInput(
            f"{where}: column {name} cannot be read as one column: {exc}; send values of one "
            f"type in each column{wanted}"
        ) from exc
    return conform_array(array, spec, name=name, where=where)


def conform_table(table: pa.Table, features: Sequence[FeatureSpec] | None, *,
                  where: str) -> pa.Table:
    """``table`` with each feature's column conformed (see ``conform_array``)."""
    if features is None:
        return table
    specs = {f.name: f for f in features}
    arrays = [
        conform_array(column, specs.get(name), name=name, where=where)
        for name, column in zip(table.column_names, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=table.column_names)


def conform_array(array: pa.Array | pa.ChunkedArray, spec: FeatureSpec | None, *, name: str,
                  where: str) -> pa.Array | pa.ChunkedArray:
    """``array`` in its feature's type where a correct request needs it (see the module);
    left as it is where that is not exact, for the run path to report."""
    if spec is None:
        return array
    kind, target = array.type, spec.dtype.to_arrow()
    if kind.equals(target):
        return array
    if pa.types.is_null(kind):
        return array.cast(target)
    is_number = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if spec.dtype == DataType.BYTES and is_text:
        return _from_base64(array, name=name, where=where)
    if ((is_number and spec.dtype in _NUMBERS)
            or (spec.dtype == DataType.TIMESTAMP and (is_text or pa.types.is_timestamp(kind)))):
        try:
            return array.cast(target)  # safe: truncation and overflow raise
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return array
    return array


def _from_base64(array: pa.Array | pa.ChunkedArray, *, name: str, where: str) -> pa.Array:
    decoded: list[bytes | None] = []
    bad: list[int] = []
    for i, text in enumerate(array.to_pylist()):
        if text is None:
            decoded.append(None)
            continue
        try:
            decoded.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            bad.append(i)
            decoded.append(None)
    if bad:
        raise InvalidInput(
            f"{where}: column {name} is a BYTES feature but {rows_named(bad)} "
            f"{'are' if len(bad) > 1 else 'is'} not base64 text; send bytes as base64 "
            '(RFC 4648), such as "aGVsbG8=" for b"hello"'
        )
    return pa.array(decoded, pa.binary())
