"""Function signatures, and the one input-validation path every batch goes through.

A signature lists a function's input and output features (name, type, nullability). It is
inferred from ``sample_input_data`` or given explicitly, stored per function, and checked on
every call: duplicate, complex and sparse columns, missing, extra and mistyped columns and
nulls in a feature that is not ``nullable`` are gathered and refused together, in one
``InvalidInput``. Safe widening (int32→int64, int→float, float32→float64) is applied; text is
never coerced to numbers, nothing is truncated, and ``strict=True`` refuses every cast.

Nulls are what each format calls missing: ``null`` in an Arrow table; ``None``, ``NaN``,
``NaT`` and ``pd.NA`` in a DataFrame (pandas' own rule, and what Arrow makes of them), which is
also how ``samples.infer_features`` decides a feature is nullable. A NaN or an infinity in an Arrow
float column is a value, not a null: the signature allows any float there, so Floe passes it
to the model, and every function of the version gets it alike (see ``invoke``).

A feature with a ``shape`` holds an array of that shape per row (``(1, 8, 8)``; -1 for a size
that varies from row to row: ``(-1,)`` for token ids, ``(-1, 16)`` for per-token embeddings);
``shape=None`` is one value per row, as before. How such columns are stored is ``tensors``'
business: Arrow's ``fixed_shape_tensor``, Ray Data's tensor types, list columns, a DataFrame
column of one numpy array per row. The dtype is the elements' type, widened by the same rules.
A shape is inferred from the sample: a numpy array or torch tensor of rank 3 or more
``(n, *shape)`` is one feature ``input_feature_0``; a DataFrame column of arrays takes their
shape where the rows share it (-1 where they differ); a list column is -1. A wrong rank or size
is refused with the others, naming the column and both shapes: sizes fixed by the type are
checked from the schema alone, sizes that vary by row from the data (``plan_input``'s
``extents``, from ``tensors.row_extents``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import InvalidInput
from registry.runtime.tensors import (
    Extent,
    arrow_type,
    as_arrow_type,
    layout_of,
    shape_problem,
    show_shape,
    tensor_extents,
)

__all__ = [
    "DataType",
    "FeatureSpec",
    "ModelSignature",
    "check_schema",
    "column_problems",
    "null_counts",
    "plan_input",
    "refuse",
    "validate_input",
]


class DataType(StrEnum):
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    BOOL = "BOOL"
    STRING = "STRING"
    BYTES = "BYTES"
    TIMESTAMP = "TIMESTAMP"

    def to_arrow(self) -> pa.DataType:
        return _TO_ARROW[self]

    def to_numpy(self) -> np.dtype[Any]:
        """The numpy type pandas gives a column of this type (TIMESTAMP: datetime64[ns])."""
        dtype: np.dtype[Any] = np.dtype(self.to_arrow().to_pandas_dtype())
        return dtype

    @classmethod
    def from_arrow(cls, dtype: pa.DataType) -> DataType:
        if pa.types.is_dictionary(dtype):
            dtype = dtype.value_type
        if pa.types.is_timestamp(dtype):
            return cls.TIMESTAMP
        if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
            return cls.STRING
        if pa.types.is_large_binary(dtype):
            return cls.BYTES
        if pa.types.is_float16(dtype):
            return cls.FLOAT
        for member, arrow in _TO_ARROW.items():
            if arrow.equals(dtype):
                return member
        raise InvalidInput(
            f"type {dtype} is not supported in a signature; convert it to a number, bool, "
            "string, bytes or timestamp column"
        )


_TO_ARROW: dict[DataType, pa.DataType] = {
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.UINT8: pa.uint8(),
    DataType.UINT16: pa.uint16(),
    DataType.UINT32: pa.uint32(),
    DataType.UINT64: pa.uint64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.BOOL: pa.bool_(),
    DataType.STRING: pa.string(),
    DataType.BYTES: pa.binary(),
    DataType.TIMESTAMP: pa.timestamp("us"),
}

_INTS = ("INT8", "INT16", "INT32", "INT64")
_UINTS = ("UINT8", "UINT16", "UINT32", "UINT64")
_WIDER: dict[str, set[str]] = {}
for _i, _name in enumerate(_INTS):
    _WIDER[_name] = set(_INTS[_i + 1 :]) | {"FLOAT", "DOUBLE"}
for _i, _name in enumerate(_UINTS):
    _WIDER[_name] = set(_UINTS[_i + 1 :]) | set(_INTS[_i + 1 :]) | {"FLOAT", "DOUBLE"}
_WIDER["FLOAT"] = {"DOUBLE"}


def can_widen(source: DataType, target: DataType) -> bool:
    """Whether every ``source`` value fits ``target`` without coercing text or truncating."""
    return target.value in _WIDER.get(source.value, set())


@dataclass(frozen=True)
class FeatureSpec:
    """One input or output column: ``shape`` None holds one value per row, a shape holds an
    array of it per row (-1: that size varies by row; ``()`` is taken as None)."""

    name: str
    dtype: DataType
    shape: tuple[int, ...] | None = None
    nullable: bool = True

    def __post_init__(self) -> None:
        shape = self.shape
        if shape is None:
            return
        if isinstance(shape, str | bytes) or not all(
                isinstance(d, int | np.integer) and not isinstance(d, bool) for d in shape):
            raise InvalidInput(f"feature {self.name} has shape {shape!r}; a shape is a tuple of "
                               "whole numbers, -1 for a size that varies by row")
        dims = tuple(int(d) for d in shape)
        if any(d < -1 for d in dims):
            raise InvalidInput(f"feature {self.name} has shape {show_shape(dims)}; sizes are 0 "
                               "or more, or -1 for a size that varies by row")
        object.__setattr__(self, "shape", dims or None)

    @property
    def is_tensor(self) -> bool:
        """Whether the feature holds an array per row (it has a shape)."""
        return self.shape is not None

    def describe(self) -> str:
        """``name DTYPE``, and the shape of a tensor feature: ``image FLOAT (1, 8, 8)``."""
        return f"{self.name} {_kind(self)}"

    def arrow_type(self) -> pa.DataType:
        """The feature's own Arrow type (``tensors.arrow_type`` for a shape)."""
        if self.shape is None:
            return self.dtype.to_arrow()
        return arrow_type(self.dtype.to_arrow(), self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype.value,
            "shape": list(self.shape) if self.shape is not None else None,
            "nullable": self.nullable,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FeatureSpec:
        shape = doc.get("shape")
        return cls(
            name=str(doc["name"]),
            dtype=DataType(doc["dtype"]),
            shape=tuple(shape) if shape is not None else None,
            nullable=bool(doc.get("nullable", True)),
        )


def _kind(spec: FeatureSpec) -> str:
    """A feature's type as messages show it: ``FLOAT``, or ``FLOAT (1, 8, 8)`` for a tensor."""
    return spec.dtype.value + (f" {show_shape(spec.shape)}" if spec.shape is not None else "")


@dataclass(frozen=True)
class ModelSignature:
    inputs: Sequence[FeatureSpec]
    outputs: Sequence[FeatureSpec] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [f.to_dict() for f in self.inputs],
            "outputs": [f.to_dict() for f in self.outputs],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelSignature:
        return cls(
            inputs=tuple(FeatureSpec.from_dict(f) for f in doc.get("inputs", [])),
            outputs=tuple(FeatureSpec.from_dict(f) for f in doc.get("outputs", [])),
        )


Frame: TypeAlias = "pd.DataFrame | pa.Table"


def column_names(data: Frame) -> list[str]:
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    return list(data.column_names)


def column_problems(data: Frame) -> tuple[list[str], set[str]]:
    """What no signature accepts, and the columns it concerns: duplicate names, complex
    numbers, pandas sparse columns. Looks at names and dtypes only."""
    names = column_names(data)
    problems: list[str] = []
    bad: set[str] = set()
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    duplicates = [f"{name} ({n} times)" for name, n in counts.items() if n > 1]
    if duplicates:
        problems.append("duplicate columns: " + ", ".join(duplicates)
                        + " (give every column a unique name)")
        bad.update(name for name, n in counts.items() if n > 1)
    if isinstance(data, pd.DataFrame):
        for name, dtype in zip(names, data.dtypes, strict=True):
            if isinstance(dtype, pd.SparseDtype):
                problems.append(f"column {name} is sparse ({dtype}; convert it with "
                                "frame.sparse.to_dense())")
                bad.add(name)
            elif pd.api.types.is_complex_dtype(dtype):
                problems.append(f"column {name} is {dtype} (complex numbers are not "
                                "supported; split it into real and imaginary float columns)")
                bad.add(name)
    return problems, bad


def refuse(problems: Sequence[str], what: str, inputs: Sequence[FeatureSpec] | None) -> None:
    """Raise the one ``InvalidInput`` listing every problem, if there is any."""
    if not problems:
        return
    expected = ""
    if inputs is not None:
        expected = "; expected columns: " + ", ".join(f.describe() for f in inputs)
    raise InvalidInput(f"invalid {what}: " + "; ".join(problems) + expected)


def null_counts(data: Frame, names: Sequence[str]) -> dict[str, int]:
    """The number of nulls in each of ``names`` (see the module for what a null is): Arrow's
    stored count for a Table; for a DataFrame, column by column (``_frame_nulls``), so a
    batch of clean numbers is checked without a mask per value or a copy of the selection."""
    if not names:
        return {}
    if isinstance(data, pa.Table):
        return {name: data.column(name).null_count for name in names}
    position = {name: i for i, name in enumerate(column_names(data))}
    return {name: _frame_nulls(data.iloc[:, position[name]]) for name in names}


def _frame_nulls(column: pd.Series) -> int:
    """pandas' ``isna`` count of one column. A numpy integer or bool column cannot hold a
    null; a float column's sum is NaN exactly when it holds a NaN (or both infinities), so
    only then are its NaNs counted one by one."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return 0
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = column.to_numpy()
        with np.errstate(all="ignore"):  # inf - inf and overflow are expected here
            total = values.sum()
        if not np.isnan(total):
            return 0
        return int(np.count_nonzero(np.isnan(values)))
    return int(column.isna().sum())


def plan_input(
    schema: pa.Schema,
    inputs: Sequence[FeatureSpec],
    *,
    strict: bool = False,
    what: str = "input",
    nulls: Mapping[str, int] | None = None,
    problems: Sequence[str] = (),
    reported: Collection[str] = (),
    extents: Mapping[str, Sequence[Extent | None]] | None = None,
) -> dict[str, DataType]:
    """Check a batch's schema against ``inputs``; return the columns to cast and their types
    (a tensor feature's: its elements' type).

    Raises one ``InvalidInput`` listing every missing, extra and mistyped column with its
    expected type, every tensor column of another shape, every feature that is not nullable
    but has nulls (``nulls``: the count per column, from ``null_counts``) and the ``problems``
    the caller found already (from ``column_problems``; ``reported``: the columns those
    concern, left out of ``schema`` and not reported again). Looks at the schema only, and at
    ``extents`` (``tensor_extents``: the sizes a tensor column's rows have, where its type
    does not fix them; unchecked without): no data is touched.
    """
    present = dict(zip(schema.names, schema.types, strict=True))
    present.update({name: pa.null() for name in reported})
    expected = {f.name for f in inputs}
    found: list[str] = list(problems)
    missing = [f for f in inputs if f.name not in present]
    if missing:
        found.append("missing columns: " + ", ".join(
            f"{f.name} ({_kind(f)})" for f in missing))
    casts: dict[str, DataType] = {}
    for spec in inputs:
        if spec.name not in present or spec.name in reported:
            continue
        column_type = present[spec.name]
        layout = layout_of(column_type)
        if spec.shape is not None or layout is not None:
            wrong = shape_problem(spec.name, spec.shape, layout, (extents or {}).get(spec.name))
            if wrong:
                found.append(wrong)
                continue
            assert layout is not None
            column_type = layout.value_type  # the elements' type is checked as a scalar's
        problem = _type_problem(spec, column_type, strict, casts)
        if problem:
            found.append(problem)
    with_nulls = [
        f"{f.name} ({nulls[f.name]} null{'s' if nulls[f.name] != 1 else ''})"
        for f in inputs
        if not f.nullable and nulls and nulls.get(f.name, 0) > 0
    ]
    if with_nulls:
        found.append(
            "nulls in columns that are not nullable: " + ", ".join(with_nulls)
            + " (fill or drop those rows, or log the version with a signature whose feature "
            "is FeatureSpec(..., nullable=True), or with sample_input_data that has nulls "
            "there)"
        )
    extra = [name for name in present if name not in expected and name not in reported]
    if extra:
        found.append("unexpected columns: " + ", ".join(extra))
    refuse(found, what, inputs)
    return casts


def _type_problem(
    spec: FeatureSpec, arrow_type: pa.DataType, strict: bool, casts: dict[str, DataType]
) -> str | None:
    """Whether a column (a tensor column: its elements) of ``arrow_type`` is ``spec``'s type,
    widens to it (recorded in ``casts``) or is refused (the problem)."""
    if arrow_type.equals(spec.dtype.to_arrow()):
        return None
    try:
        actual: DataType | None = DataType.from_arrow(arrow_type)
    except InvalidInput:
        actual = None
    if actual == spec.dtype:
        return None  # the same logical type in another encoding (dictionary, large string)
    if actual is not None and not strict and can_widen(actual, spec.dtype):
        casts[spec.name] = spec.dtype
        return None
    shown = actual.value if actual is not None else str(arrow_type)
    how = (
        "strict_input_validation refuses any cast"
        if strict and actual is not None and can_widen(actual, spec.dtype)
        else "cannot be converted safely"
    )
    return f"column {spec.name} is {shown}, expected {spec.dtype.value} ({how})"


def check_schema(
    schema: pa.Schema, inputs: Sequence[FeatureSpec], *, strict: bool = False,
    what: str = "input",
) -> None:
    """Refuse, before any data is read, columns of ``schema`` that ``inputs`` cannot take (a
    missing feature, another type, a widening under ``strict``): ``plan_input``'s one
    ``InvalidInput``, ``what`` naming the source (an input file's footer, say)."""
    plan_input(schema, inputs, strict=strict, what=what)


def non_nullable(inputs: Sequence[FeatureSpec], names: Sequence[str]) -> list[str]:
    """The features of ``inputs`` that are not nullable and that ``names`` holds once."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [f.name for f in inputs if not f.nullable and counts.get(f.name) == 1]


def validate_input(
    table: pa.Table, inputs: Sequence[FeatureSpec], *, strict: bool = False, what: str = "input"
) -> pa.Table:
    """The columns ``inputs`` names, in order and cast to their types (see ``plan_input``); a
    tensor feature in its own Arrow type (``FeatureSpec.arrow_type``) where it is cast."""
    problems, bad = column_problems(table)
    nulls = null_counts(table, non_nullable(inputs, table.column_names))
    shapes = {f.name: f.shape for f in inputs if f.shape is not None}
    columns = {name: table.column(name) for name in shapes
               if name in table.column_names and name not in bad}
    extents, more, unreadable = tensor_extents(columns, shapes)
    casts = plan_input(table.schema, inputs, strict=strict, what=what, nulls=nulls,
                       problems=[*problems, *more], reported=bad | unreadable, extents=extents)
    out = []
    for f in inputs:
        column = table.column(f.name)
        cast = casts.get(f.name)
        if f.shape is not None and cast is not None:
            column = as_arrow_type(column, f.shape, cast.to_arrow())
        elif cast is not None:
            column = column.cast(cast.to_arrow())
        out.append(column)
    return pa.table(out, names=[f.name for f in inputs])
