"""Tensor features: one array per row, carried between numpy, pandas and Arrow, and checked.

A feature with a ``FeatureSpec.shape`` holds an array of that shape per row: an image
``(3, 32, 32)``, token ids ``(-1,)``, per-token embeddings ``(-1, 16)`` (-1: the size varies
from row to row). The forms such a column takes:

* Arrow (``arrow_tensors``: the types, and reading them back): ``fixed_shape_tensor``, Ray
  Data's tensor types, nested lists;
* numpy (``tensor_values``): one array ``(rows, *shape)`` where the rows share a shape, else
  an object array of one array per row (a ragged feature);
* pandas: an object column of one numpy array per row (``to_pandas``, ``frame_to_arrow``).

``tensor_array`` builds the Arrow column of numpy rows: the shape's own type
(``arrow_type``) when a shape is asked for and the rows fit it, else ``fixed_shape_tensor``
where the rows share a shape (the numbers' buffer itself, no copy) and lists where they do
not. An object column of equal arrays is stacked in one call; rows of several shapes take a
step per row, as one array per row is what they are. A null row reads as NaN (integers and
bools become float64 for it, as in scalar columns).

The checks the validation path runs on tensor columns are here too: ``tensor_extents`` reads
the sizes that vary by row from the data, ``shape_problem`` compares a column's shape per row
with the signature's and says how they differ, naming both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import InvalidInput
from registry.runtime.arrow_tensors import (
    Extent,
    Layout,
    NotATensor,
    arrow_type,
    layout_of,
    object_column,
    row_extents,
    show_shape,
    tensor_values,
)

__all__ = [
    "Extent",
    "Layout",
    "NotATensor",
    "array_column",
    "arrow_type",
    "as_arrow_type",
    "astype_rows",
    "frame_to_arrow",
    "holds_arrays",
    "layout_of",
    "object_column",
    "row_extents",
    "shape_problem",
    "show_shape",
    "tensor_array",
    "tensor_extents",
    "tensor_values",
    "to_pandas",
]

_INT32_MAX = 2**31 - 1


def astype_rows(values: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Tensor rows (``tensor_values``) as ``dtype``: a dense array at once, ragged rows one by
    one (None stays None)."""
    if values.dtype != object:
        return values.astype(dtype)
    out = np.empty(len(values), dtype=object)
    for i, row in enumerate(values):
        out[i] = None if row is None else np.asarray(row).astype(dtype)
    return out


def holds_arrays(values: pd.Series | np.ndarray[Any, Any]) -> bool:
    """Whether an object column holds numpy arrays, judged by its first value not null."""
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    if array.dtype != object or array.ndim != 1:
        return False
    for value in array:  # stops at the first value that is not null
        if isinstance(value, np.ndarray):
            return True
        if value is not None and not (np.ndim(value) == 0 and pd.isna(value)):
            return False
    return False


def tensor_array(
    values: np.ndarray[Any, Any],
    *,
    shape: tuple[int, ...] | None = None,
    valid: np.ndarray[Any, Any] | None = None,
) -> pa.Array:
    """An Arrow tensor column of numpy rows: a ``(rows, *shape)`` array, or an object array
    of one array (or list) per row, None for a null row. ``shape`` (a signature's, -1 for a
    size that varies) picks its ``arrow_type`` where the rows fit it; otherwise
    ``fixed_shape_tensor`` where they share a shape, lists where they do not. ``valid`` marks
    the rows that are not null (None: all, but None values of an object array)."""
    rows: np.ndarray[Any, Any] = values
    if values.dtype == object and values.ndim == 1:
        present = ~pd.isna(values) if valid is None else valid
        valid = None if present.all() else present
        kept = values if valid is None else values[valid]
        try:
            rows = np.stack(list(kept)) if len(kept) else np.empty((0, 0))
        except ValueError:  # not one shape: ragged
            return _ragged(kept, len(values), valid, shape)
        if rows.ndim < 2:
            raise NotATensor("its values are not arrays")
        if valid is not None:
            full = np.zeros((len(values), *rows.shape[1:]), dtype=rows.dtype)
            full[valid] = rows
            rows = full
    if rows.ndim < 2:
        raise NotATensor("a 1-D array is one value per row, not an array per row")
    if np.iscomplexobj(rows):
        raise NotATensor(f"it holds complex numbers ({rows.dtype})")
    n, row_shape = len(rows), tuple(int(d) for d in rows.shape[1:])
    variable = _variable_dims(shape, row_shape)
    mask = pa.array(~valid) if valid is not None else None
    if not any(variable):
        size = int(np.prod(row_shape))
        if size == 0:
            raise NotATensor(f"its rows have no values (shape {show_shape(row_shape)})")
        flat = pa.array(np.ascontiguousarray(rows).reshape(-1))  # a view of numbers
        storage = pa.FixedSizeListArray.from_arrays(flat, size, mask=mask)
        return pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(flat.type, row_shape),
                                              storage)
    shapes = np.tile(np.array(row_shape, np.int64), (n, 1))
    if valid is not None:
        shapes[~valid] = np.where(variable, 0, row_shape)  # a null row: no values
        rows = rows[valid]
    flat = pa.array(np.ascontiguousarray(rows).reshape(-1))
    return _nested(flat, shapes, variable, valid, row_shape)


def _variable_dims(shape: tuple[int, ...] | None, row_shape: tuple[int, ...]) -> list[bool]:
    """Which dimensions become lists: the -1 of ``shape`` where the rows fit it, else none."""
    if shape is None or len(shape) != len(row_shape):
        return [False] * len(row_shape)
    if any(want >= 0 and want != got for want, got in zip(shape, row_shape, strict=True)):
        return [False] * len(row_shape)
    return [want < 0 for want in shape]


def _ragged(
    kept: np.ndarray[Any, Any], n: int, valid: np.ndarray[Any, Any] | None,
    shape: tuple[int, ...] | None,
) -> pa.Array:
    """Rows of one rank but several shapes, as nested lists (one Python step per row)."""
    arrays = [np.asarray(row) for row in kept]
    ranks = sorted({a.ndim for a in arrays})
    if len(ranks) > 1 or ranks[0] == 0:
        raise NotATensor(f"its rows are arrays of different ranks ({', '.join(map(str, ranks))})"
                         if len(ranks) > 1 else "its values are not arrays")
    rank = ranks[0]
    found = np.array([a.shape for a in arrays], np.int64)
    varies = [bool((found[:, j] != found[0, j]).any()) for j in range(rank)]
    if shape is not None and len(shape) == rank and all(
            want < 0 or (not varies[j] and want == found[0, j]) for j, want in enumerate(shape)):
        varies = [want < 0 for want in shape]
    sizes = tuple(int(d) for d in np.where(varies, 0, found[0]))
    shapes = np.tile(np.array(sizes, np.int64), (n, 1))  # a null row: the fixed sizes only
    if valid is None:
        shapes[:] = found
    else:
        shapes[valid] = found
    if any(a.dtype.kind == "c" for a in arrays):
        raise NotATensor("it holds complex numbers")
    flat = pa.array(np.concatenate([a.reshape(-1) for a in arrays]))
    return _nested(flat, shapes, varies, valid, sizes)


def _nested(
    flat: pa.Array, shapes: np.ndarray[Any, Any], variable: list[bool],
    valid: np.ndarray[Any, Any] | None, sizes: tuple[int, ...],
) -> pa.Array:
    """Nested lists from the innermost dimension out: a list level where ``variable`` (each
    row's sizes from ``shapes``), a fixed-size list of ``sizes[j]`` elsewhere; null rows
    (``valid``) marked at the top."""
    current = flat
    rank = shapes.shape[1]
    for j in reversed(range(rank)):
        mask = pa.array(~valid) if j == 0 and valid is not None else None
        if variable[j]:
            per_row = np.prod(shapes[:, :j], axis=1, dtype=np.int64)
            lengths = np.repeat(shapes[:, j], per_row)
            offsets = np.zeros(len(lengths) + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            if offsets[-1] <= _INT32_MAX:
                current = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), current,
                                                   mask=mask)
            else:
                current = pa.LargeListArray.from_arrays(pa.array(offsets), current, mask=mask)
        else:
            current = pa.FixedSizeListArray.from_arrays(current, sizes[j], mask=mask)
    return current


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()``, but a tensor column becomes an object column of one numpy array
    per row in its shape (pyarrow gives a fixed-shape tensor's rows flat, and nested lists as
    arrays of arrays); a column of plain lists stays as pyarrow makes it."""
    tensors = [i for i, f in enumerate(table.schema) if _is_tensor_type(f.type)]
    if not tensors:
        return table.to_pandas()
    rest = [i for i in range(table.num_columns) if i not in tensors]
    frame = table.select(rest).to_pandas()
    for i in tensors:
        source = table.column(i)
        column = object_column(tensor_values(source, fill_nulls=False))
        if source.null_count:
            column = column.copy()
            column[~source.is_valid().to_numpy(zero_copy_only=False)] = None
        frame.insert(i, table.column_names[i], column)
    return frame


def _is_tensor_type(dtype: pa.DataType) -> bool:
    """Whether pyarrow's own pandas conversion loses the rows' shape: tensor extension types
    and lists of lists (a plain list column converts as arrays already)."""
    layout = layout_of(dtype)
    return layout is not None and (isinstance(dtype, pa.BaseExtensionType)
                                   or len(layout.dims) > 1)


def as_arrow_type(
    column: pa.Array | pa.ChunkedArray, shape: tuple[int, ...], value_type: pa.DataType | None
) -> pa.Array | pa.ChunkedArray:
    """A tensor column in ``shape``'s own type (``arrow_type``) of ``value_type`` (None: its
    elements' own): the column itself where it has that type already, else rebuilt from its
    rows (a view for a fixed-shape tensor of Ray's; elements cast as numpy casts)."""
    layout = layout_of(column.type)
    target = value_type if value_type is not None else (
        layout.value_type if layout is not None else None)
    if target is not None and column.type.equals(arrow_type(target, shape)):
        return column
    values = tensor_values(column, fill_nulls=False)
    if value_type is not None:
        values = astype_rows(values, np.dtype(value_type.to_pandas_dtype()))
    valid = column.is_valid().to_numpy(zero_copy_only=False) if column.null_count else None
    return tensor_array(values, shape=shape, valid=valid)


def array_column(name: str, values: Any) -> pa.Array:
    """One column of a sample given as a mapping of arrays, or as one array of rank 3 or
    more: a 1-D array is a scalar per row, a 2-D one and up a tensor per row."""
    if not isinstance(values, np.ndarray):
        raise InvalidInput(f"column {name} is a {type(values).__name__}; pass numpy arrays or "
                           "torch tensors, one row per sample")
    if values.ndim == 1:
        return pa.array(values)
    try:
        return tensor_array(values)
    except NotATensor as exc:
        raise InvalidInput(f"column {name} cannot be a tensor column: {exc}") from None


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas``, but each column of numpy arrays is a tensor column (pyarrow
    takes 1-D arrays only, as lists); pandas' metadata is kept for the other columns."""
    arrays = [i for i in range(frame.shape[1]) if holds_arrays(frame.iloc[:, i])]
    if not arrays:
        return pa.Table.from_pandas(frame, preserve_index=False)
    rest = [i for i in range(frame.shape[1]) if i not in arrays]
    others = pa.Table.from_pandas(frame.iloc[:, rest], preserve_index=False)
    names = [str(c) for c in frame.columns]
    columns: list[pa.Array | pa.ChunkedArray] = []
    for i, name in enumerate(names):
        if i not in arrays:
            columns.append(others.column(name))
            continue
        try:
            columns.append(tensor_array(frame.iloc[:, i].to_numpy()))
        except NotATensor as exc:
            raise InvalidInput(f"column {name} holds numpy arrays that are no tensor column: "
                               f"{exc}; give every row an array of one rank") from None
    table = pa.Table.from_arrays(columns, names=names)
    return table.replace_schema_metadata(others.schema.metadata)


def tensor_extents(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], shapes: Mapping[str, tuple[int, ...]],
) -> tuple[dict[str, tuple[Extent | None, ...]], list[str], set[str]]:
    """What validation needs of the data of the tensor features (``shapes``) that ``columns``
    holds: each one's sizes by dimension (``row_extents``), and the problems of those that
    hold no arrays (lists of unequal lengths in a row), with their names."""
    extents: dict[str, tuple[Extent | None, ...]] = {}
    problems: list[str] = []
    bad: set[str] = set()
    for name, shape in shapes.items():
        column = columns.get(name)
        if column is None:
            continue
        try:
            found = row_extents(column)
        except NotATensor as exc:
            problems.append(f"column {name} is not a tensor column: {exc} (expected "
                            f"{show_shape(shape)} per row)")
            bad.add(name)
            continue
        if found is not None:
            extents[name] = found
    return extents, problems, bad


def shape_problem(
    name: str, want: tuple[int, ...] | None, layout: Layout | None,
    extents: Sequence[Extent | None] | None,
) -> str | None:
    """How column ``name``'s shape per row (its type's ``layout``; the sizes it leaves open
    from ``extents`` where they are given) differs from ``want`` (None: one value per row),
    naming both; None where it does not."""
    if layout is None:
        if want is None:
            return None
        return (f"column {name} has one value per row (shape ()), expected an array of "
                f"shape {show_shape(want)} per row (pass one array per row in that column)")
    dims: list[Extent | None] = [None if d is None else (d, d) for d in layout.dims]
    if extents is not None and len(extents) == len(dims):
        dims = [d if d is not None else e for d, e in zip(dims, extents, strict=True)]
    shown = show_shape([_show_extent(d) for d in dims])
    if want is None:
        return (f"column {name} has shape {shown} per row, expected one value per row "
                "(shape ()); pass a column of scalars")
    if len(dims) == len(want) and all(size < 0 or got is None or got == (size, size)
                                      for size, got in zip(want, dims, strict=True)):
        return None
    any_size = " (-1: any size)" if -1 in want else ""
    return (f"column {name} has shape {shown} per row, expected {show_shape(want)}"
            f"{any_size}; reshape each row to {show_shape(want)}")


def _show_extent(extent: Extent | None) -> str:
    if extent is None:
        return "-1"
    low, high = extent
    return str(low) if low == high else f"{low}..{high}"
