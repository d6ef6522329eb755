"""Function signatures, and the one input-validation path every batch goes through.

A signature lists a function's input and output features (name, type, nullability). It is
inferred from ``sample_input_data`` or given explicitly, stored per function, and checked on
every call: duplicate, complex and sparse columns, missing, extra and mistyped columns and
nulls in a feature that is not ``nullable`` are gathered and refused together, in one
``InvalidInput``. Safe widening (int32→int64, int→float, float32→float64) is applied; text is
never coerced to numbers, nothing is truncated, and ``strict=True`` refuses every cast.

Nulls are what each format calls missing: ``null`` in an Arrow table; ``None``, ``NaN``,
``NaT`` and ``pd.NA`` in a DataFrame (pandas' own rule, and what Arrow makes of them), which is
also how ``infer_features`` decides a feature is nullable. A NaN or an infinity in an Arrow
float column is a value, not a null: the signature allows any float there, so Floe passes it
to the model, and every function of the version gets it alike (see ``invoke``).
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

__all__ = [
    "DataType",
    "FeatureSpec",
    "ModelSignature",
    "check_schema",
    "column_problems",
    "infer_features",
    "null_counts",
    "plan_input",
    "refuse",
    "to_arrow",
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
    name: str
    dtype: DataType
    shape: tuple[int, ...] | None = None
    nullable: bool = True

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
        expected = "; expected columns: " + ", ".join(f"{f.name} {f.dtype.value}" for f in inputs)
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


def to_arrow(data: Any, *, prefix: str = "input_feature") -> pa.Table:
    """A pyarrow Table from a DataFrame, Table or numpy array (columns ``<prefix>_<i>``)."""
    if isinstance(data, pa.Table):
        refuse(column_problems(data)[0], "input", None)
        return data
    if isinstance(data, pd.DataFrame):
        refuse(column_problems(data)[0], "input", None)
        frame = data
        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        return pa.Table.from_pandas(frame, preserve_index=False)
    if isinstance(data, pd.Series):
        return to_arrow(data.to_frame(), prefix=prefix)
    if type(data).__module__.split(".")[0] == "torch":  # a torch.Tensor, without importing torch
        tensor = data.detach().cpu()
        data = (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()
    if isinstance(data, np.ndarray):
        array = data.reshape(-1, 1) if data.ndim == 1 else data
        if array.ndim != 2:
            raise InvalidInput(
                f"a numpy array of {data.ndim} dimensions cannot be a table; pass a 2-D array "
                "or a DataFrame"
            )
        if np.iscomplexobj(array):
            raise InvalidInput(
                f"a numpy array of {array.dtype} holds complex numbers, which are not "
                "supported; split them into real and imaginary float columns"
            )
        return pa.table({f"{prefix}_{i}": array[:, i] for i in range(array.shape[1])})
    raise InvalidInput(
        f"cannot use a {type(data).__name__} as model input; pass a pandas DataFrame, a "
        "pyarrow Table, a numpy array or a torch tensor"
    )


def infer_features(data: Any, *, prefix: str = "input_feature") -> tuple[FeatureSpec, ...]:
    table = to_arrow(data, prefix=prefix)
    return tuple(
        FeatureSpec(
            name=f.name, dtype=DataType.from_arrow(f.type), nullable=table.column(f.name).null_count > 0
        )
        for f in table.schema
    )


def plan_input(
    schema: pa.Schema,
    inputs: Sequence[FeatureSpec],
    *,
    strict: bool = False,
    what: str = "input",
    nulls: Mapping[str, int] | None = None,
    problems: Sequence[str] = (),
    reported: Collection[str] = (),
) -> dict[str, DataType]:
    """Check a batch's schema against ``inputs``; return the columns to cast and their types.

    Raises one ``InvalidInput`` listing every missing, extra and mistyped column with its
    expected type, every feature that is not nullable but has nulls (``nulls``: the count per
    column, from ``null_counts``) and the ``problems`` the caller found already (from
    ``column_problems``; ``reported``: the columns those concern, left out of ``schema`` and
    not reported again). Looks at the schema only: no data is touched.
    """
    present = dict(zip(schema.names, schema.types, strict=True))
    present.update({name: pa.null() for name in reported})
    expected = {f.name for f in inputs}
    found: list[str] = list(problems)
    missing = [f for f in inputs if f.name not in present]
    if missing:
        found.append(
            "missing columns: " + ", ".join(f"{f.name} ({f.dtype.value})" for f in missing)
        )
    casts: dict[str, DataType] = {}
    for spec in inputs:
        if spec.name not in present or spec.name in reported:
            continue
        arrow_type = present[spec.name]
        if arrow_type.equals(spec.dtype.to_arrow()):
            continue
        try:
            actual: DataType | None = DataType.from_arrow(arrow_type)
        except InvalidInput:
            actual = None
        if actual == spec.dtype:
            continue  # the same logical type in another encoding (dictionary, large string)
        if actual is not None and not strict and can_widen(actual, spec.dtype):
            casts[spec.name] = spec.dtype
            continue
        shown = actual.value if actual is not None else str(arrow_type)
        how = (
            "strict_input_validation refuses any cast"
            if strict and actual is not None and can_widen(actual, spec.dtype)
            else "cannot be converted safely"
        )
        found.append(f"column {spec.name} is {shown}, expected {spec.dtype.value} ({how})")
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
    """The columns ``inputs`` names, in order and cast to their types (see ``plan_input``)."""
    problems, bad = column_problems(table)
    nulls = null_counts(table, non_nullable(inputs, table.column_names))
    casts = plan_input(table.schema, inputs, strict=strict, what=what, nulls=nulls,
                       problems=problems, reported=bad)
    columns = [
        table.column(f.name).cast(casts[f.name].to_arrow()) if f.name in casts
        else table.column(f.name)
        for f in inputs
    ]
    return pa.table(columns, names=[f.name for f in inputs])
