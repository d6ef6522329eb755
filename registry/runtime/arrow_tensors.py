"""How Arrow holds an array per row, and reading those arrays back as numpy.

The types (``layout_of`` reads any of them from the type alone):

* ``pa.fixed_shape_tensor``, Arrow's canonical extension type: a fixed-size list per row of
  the flattened tensor, the shape (and an order of dimensions) in the type;
* Ray Data's tensor types, recognised by their extension names so Ray is never imported:
  ``ArrowTensorType`` and ``ArrowTensorTypeV2`` (a list or large list per row of the
  flattened tensor, the shape in the type) and ``ArrowVariableShapedTensorType`` (a struct of
  the flattened data and each row's own shape);
* nested ``list`` / ``large_list`` / ``fixed_size_list`` columns, one level per dimension
  (list views are not read).

A shape's own type (``arrow_type``) is ``fixed_shape_tensor`` where every size is fixed, else
nested lists: ``list`` for -1, ``fixed_size_list`` for a fixed size (``(-1,)``: ``list<T>``;
``(-1, 16)``: ``list<fixed_size_list<T, 16>>``).

Reading (``tensor_values``) takes no Python step per row where the rows share a shape: each
row's place comes from the offsets (or the fixed size), its shape from the type, the shape
struct, or the list lengths level by level, all as numpy arrays; the tensor is then a view of
the values buffer, reshaped (no copy for one chunk without nulls). Rows of several shapes
come back as an object array of one array per row, which takes a step per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "Extent",
    "Layout",
    "NotATensor",
    "arrow_type",
    "layout_of",
    "object_column",
    "row_extents",
    "show_shape",
    "tensor_values",
]

_FIXED_SHAPE = "arrow.fixed_shape_tensor"
_RAY_FIXED = ("ray.data.arrow_tensor", "ray.data.arrow_tensor_v2")
_RAY_VARIABLE = "ray.data.arrow_variable_shaped_tensor"

Extent = tuple[int, int]
"""The smallest and largest size of one dimension over a column's rows."""


class NotATensor(ValueError):
    """A column's rows are not arrays of one rank (the message says how)."""


@dataclass(frozen=True)
class Layout:
    """How an Arrow type holds an array per row: the element type, and each dimension's
    size where the type fixes it (None: it may vary from row to row)."""

    value_type: pa.DataType
    dims: tuple[int | None, ...]


def layout_of(dtype: pa.DataType) -> Layout | None:
    """The tensor layout of an Arrow type, or None for a scalar type. Looks at the type only."""
    if isinstance(dtype, pa.BaseExtensionType):
        name = dtype.extension_name
        if name == _FIXED_SHAPE:
            shape = list(dtype.shape)
            order = dtype.permutation or range(len(shape))
            return Layout(dtype.value_type, tuple(int(shape[i]) for i in order))
        if name in _RAY_FIXED:
            return Layout(dtype.storage_type.value_type, tuple(int(d) for d in dtype.shape))
        if name == _RAY_VARIABLE:
            data = dtype.storage_type.field("data").type
            return Layout(data.value_type, (None,) * int(dtype.ndim))
        return None
    dims: list[int | None] = []
    while _is_list(dtype):
        dims.append(dtype.list_size if pa.types.is_fixed_size_list(dtype) else None)
        dtype = dtype.value_type
    return Layout(dtype, tuple(dims)) if dims else None


def _is_list(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_list(dtype) or pa.types.is_large_list(dtype)
                or pa.types.is_fixed_size_list(dtype))


def arrow_type(value_type: pa.DataType, shape: tuple[int, ...]) -> pa.DataType:
    """The Arrow type of ``shape`` (see the module): a fixed-shape tensor, or nested lists."""
    if all(d >= 0 for d in shape):
        return pa.fixed_shape_tensor(value_type, list(shape))
    out = value_type
    for size in reversed(shape):
        out = pa.list_(out) if size < 0 else pa.list_(out, size)
    return out


def show_shape(dims: tuple[int | str, ...] | list[int | str]) -> str:
    """A shape as Python writes a tuple: ``(1, 8, 8)``, ``(3,)``, ``()``."""
    inner = ", ".join(str(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


@dataclass
class _Rows:
    """One chunk's rows: row ``i`` is ``values[starts[i]:ends[i]]`` reshaped to
    ``shapes[i]``; ``valid`` is None when no row is null."""

    values: pa.Array
    starts: np.ndarray[Any, Any]
    ends: np.ndarray[Any, Any]
    shapes: np.ndarray[Any, Any]
    valid: np.ndarray[Any, Any] | None


def _rows(chunk: pa.Array, layout: Layout) -> _Rows:
    n = len(chunk)
    valid = chunk.is_valid().to_numpy(zero_copy_only=False) if chunk.null_count else None
    dtype = chunk.type
    if isinstance(dtype, pa.BaseExtensionType):
        order = dtype.permutation if dtype.extension_name == _FIXED_SHAPE else None
        if order and list(order) != sorted(order):
            dense = np.ascontiguousarray(chunk.to_numpy_ndarray())  # another dimension order
            size = int(np.prod([d or 0 for d in layout.dims]))
            starts = np.arange(n, dtype=np.int64) * size
            return _Rows(pa.array(dense.reshape(-1)), starts, starts + size,
                         np.tile(np.array(layout.dims, np.int64), (n, 1)), valid)
        storage = chunk.storage
        if dtype.extension_name == _RAY_VARIABLE:
            return _variable_rows(storage, len(layout.dims), valid)
        shapes = np.tile(np.array(layout.dims, np.int64), (n, 1))
        if pa.types.is_fixed_size_list(storage.type):
            size = storage.type.list_size
            starts = (storage.offset + np.arange(n, dtype=np.int64)) * size
            return _Rows(storage.values, starts, starts + size, shapes, valid)
        offsets = np.asarray(storage.offsets, dtype=np.int64)
        return _Rows(storage.values, offsets[:-1], offsets[1:], shapes, valid)
    return _list_rows(chunk, len(layout.dims), valid)


def _variable_rows(storage: pa.StructArray, ndim: int, valid: Any) -> _Rows:
    """Ray's variable-shaped tensors: each row's shape is stored beside its data."""
    import pyarrow.compute as pc

    n = len(storage)
    shape_lists = storage.field("shape")
    lengths = pc.list_value_length(shape_lists).fill_null(0).to_numpy(zero_copy_only=False)
    rows_ok = lengths == ndim
    wrong = ~rows_ok if valid is None else ~rows_ok & valid
    if wrong.any():
        raise NotATensor(f"its rows' shapes are not all of rank {ndim}")
    flat = shape_lists.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    shapes = np.zeros((n, ndim), np.int64)
    shapes[rows_ok] = flat[np.repeat(rows_ok, lengths)].reshape(-1, ndim)
    data = storage.field("data")
    offsets = np.asarray(data.offsets, dtype=np.int64)
    return _Rows(data.values, offsets[:-1], offsets[1:], shapes, valid)


def _list_rows(chunk: pa.Array, rank: int, valid: Any) -> _Rows:
    """Nested lists, level by level from the offsets: a row's size along a dimension is that
    of its first list there, and every other list of the row at that level must have it."""
    n = len(chunk)
    shapes = np.zeros((n, rank), np.int64)
    first = np.arange(n, dtype=np.int64)  # each row's first element at this level
    count = np.ones(n, dtype=np.int64)  # and how many it has there
    level = chunk
    for j in range(rank):
        if pa.types.is_fixed_size_list(level.type):
            size = level.type.list_size
            offsets = (level.offset + np.arange(len(level) + 1, dtype=np.int64)) * size
            shapes[:, j] = size
        else:
            offsets = np.asarray(level.offsets, dtype=np.int64)
            lengths = np.diff(offsets)
            has = count > 0
            sizes = np.zeros(n, np.int64)
            sizes[has] = lengths[first[has]]
            uneven = lengths[_element_range(first, count)] != np.repeat(sizes, count)
            if uneven.any():
                rows = np.unique(np.repeat(np.arange(n), count)[uneven])
                shown = ", ".join(str(r) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
                raise NotATensor(f"rows {shown} hold lists of unequal lengths at depth {j + 1}, "
                                 "which are no array of one shape")
            shapes[:, j] = sizes
        start = offsets[first]
        count = offsets[first + count] - start
        first = start
        level = level.values
    return _Rows(level, first, first + count, shapes, valid)


def _element_range(first: np.ndarray[Any, Any], count: np.ndarray[Any, Any]) -> Any:
    """The indices ``first[i] .. first[i] + count[i] - 1`` of every row, concatenated."""
    total = int(count.sum())
    before = np.concatenate([[0], np.cumsum(count)[:-1]]) if len(count) else count
    return np.arange(total, dtype=np.int64) + np.repeat(first - before, count)


def row_extents(column: pa.Array | pa.ChunkedArray) -> tuple[Extent | None, ...] | None:
    """Each dimension's smallest and largest size over the column's rows that are not null
    (None where no row is), or None for a scalar column. ``NotATensor`` where the rows are
    not arrays (nested lists of unequal lengths in a row)."""
    layout = layout_of(column.type)
    if layout is None:
        return None
    found = []
    for chunk in _chunks(column):
        if len(chunk) == chunk.null_count:
            continue
        if all(d is not None for d in layout.dims):
            found.append(np.array([layout.dims], np.int64))
            continue
        rows = _rows(chunk, layout)
        found.append(rows.shapes if rows.valid is None else rows.shapes[rows.valid])
    if not found:
        return tuple(None for _ in layout.dims)
    shapes = np.concatenate(found)
    return tuple((int(low), int(high))
                 for low, high in zip(shapes.min(axis=0), shapes.max(axis=0), strict=True))


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def tensor_values(
    column: pa.Array | pa.ChunkedArray, *, fill_nulls: bool = True
) -> np.ndarray[Any, Any]:
    """The rows of a tensor column as numpy: one ``(rows, *shape)`` array where they share a
    shape (a view of the Arrow buffer for one chunk without nulls), else an object array of
    one array per row. With ``fill_nulls`` a null row is NaN (see the module), else zeros in
    a dense array and None in an object one."""
    return _values(column, fill_nulls)[0]


def _values(
    column: pa.Array | pa.ChunkedArray, fill_nulls: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """``tensor_values`` and the rows that are not null (None: all of them)."""
    layout = layout_of(column.type)
    if layout is None:
        raise NotATensor(f"a {column.type} column holds no arrays")
    parts = [_chunk_values(chunk, layout, fill_nulls) for chunk in _chunks(column)]
    if not parts:
        shape = tuple(d or 0 for d in layout.dims)
        return np.empty((0, *shape), layout.value_type.to_pandas_dtype()), None
    valid = None
    if any(v is not None for _, v in parts):
        valid = np.concatenate([v if v is not None else np.ones(len(a), bool) for a, v in parts])
    if len(parts) == 1:
        return parts[0][0], valid
    arrays = [a for a, _ in parts]
    if len({a.shape[1:] for a in arrays}) == 1 and arrays[0].dtype != object:
        return np.concatenate(arrays), valid
    return np.concatenate([object_column(a) if a.dtype != object else a for a in arrays]), valid


def _chunk_values(
    chunk: pa.Array, layout: Layout, fill_nulls: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    rows = _rows(chunk, layout)
    n = len(chunk)
    shapes = rows.shapes if rows.valid is None else rows.shapes[rows.valid]
    ragged = bool(len(shapes)) and not (shapes == shapes[0]).all()
    shape = tuple(int(d) for d in shapes[0]) if len(shapes) else tuple(
        d or 0 for d in layout.dims)
    size = int(np.prod(shape))
    if not ragged and rows.valid is None and n and (rows.ends - rows.starts == size).all() and (
            rows.starts[1:] == rows.ends[:-1]).all():  # one block of rows: a view
        numbers = rows.values.slice(int(rows.starts[0]), n * size).to_numpy(zero_copy_only=False)
        return numbers.reshape((n, *shape)), None
    low = int(rows.starts.min()) if n else 0  # read only the span the rows cover
    high = int(rows.ends.max()) if n else 0
    numbers = rows.values.slice(low, high - low).to_numpy(zero_copy_only=False)
    starts, ends = rows.starts - low, rows.ends - low
    keep = rows.valid if rows.valid is not None else np.ones(n, bool)
    if ragged:  # one array per row
        out = np.empty(n, dtype=object)
        for i in np.flatnonzero(keep):
            out[i] = numbers[starts[i]:ends[i]].reshape(rows.shapes[i])
        return out, rows.valid
    dtype = numbers.dtype
    if rows.valid is not None and fill_nulls and dtype.kind in "iub":
        dtype = np.dtype(np.float64)
    dense = np.zeros((n, *shape), dtype=dtype)
    if keep.any():
        dense[keep] = numbers[_element_range(starts[keep], (ends - starts)[keep])].reshape(
            (-1, *shape))
    if rows.valid is not None and fill_nulls:
        dense[~rows.valid] = np.nan if dtype.kind in "fc" else None
    return dense, rows.valid


def object_column(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A ``(rows, *shape)`` array as an object array of one view per row (a DataFrame column)."""
    if values.dtype == object and values.ndim == 1:
        return values
    return np.fromiter(values, dtype=object, count=len(values))
