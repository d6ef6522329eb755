"""The one run path: validate the input against the function's signature, call the model once
on the whole batch and append the output columns. In-process ``run``, every Ray batch and
every request go through ``run_function``.

Every function of a version answers the same input alike:

* The function is picked by ``functions.resolve_function``, the one decision.
* Input is checked by ``model_input.prepare_batch`` (``signatures``, the one validation path).
* An input column named like one of the function's outputs is refused: the output would
  silently replace it.
* Empty input (0 rows) gives empty output, the function's output columns with their types and
  no rows, without calling the model: for DataFrames and Arrow tables, row and partitioned
  functions, ``predict`` and ``explain`` alike.
* ``explain`` first calls the function it explains on the same batch, so it refuses exactly
  what that function refuses (a scikit-learn model's NaN or infinity, say), with the same
  ``ModelError``; a NaN or an infinity that the model takes is explained like any value.

What a model returns becomes output columns (``output_columns``): a 1-D array is one column,
a 2-D array ``k`` columns ``output_feature_<i>`` (one column of arrays where the signature
names one output with a shape), an array of rank 3 or more ``(n, *shape)`` one tensor column;
a DataFrame's or a mapping's columns by their names, where a column may hold an array per row
(a DataFrame's object column of arrays, a mapping's array of rank 2 or more). A tensor column
is Arrow's ``fixed_shape_tensor`` where its rows share a shape (a view of the model's array),
lists where they do not, and the signature's own type where its rows fit it; in a DataFrame,
an object column of one array per row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import FloeError, InvalidInput, ModelError
from registry.runtime.functions import EXPLAIN_FUNCTION, ModelFunctionInfo, resolve_function
from registry.runtime.load import LoadedModel
from registry.runtime.model_input import Batch, prepare_batch
from registry.runtime.samples import to_arrow
from registry.runtime.signatures import DataType, FeatureSpec, can_widen, column_names
from registry.runtime.tensors import (
    NotATensor,
    astype_rows,
    holds_arrays,
    layout_of,
    object_column,
    tensor_array,
    tensor_values,
    to_pandas,
)

__all__ = ["call_function", "output_columns", "output_table", "run_function"]

log = logging.getLogger(__name__)
Frame = TypeVar("Frame", pd.DataFrame, pa.Table)
Columns = dict[str, np.ndarray[Any, Any]]


def run_function(
    loaded: LoadedModel,
    data: Frame,
    function_name: str | None = None,
    *,
    strict: bool = False,
    partition_column: str | None = None,
    passthrough_columns: Sequence[str] = (),
) -> Frame:
    """Run one function on a whole table, as the input's table type.

    A row function returns the input columns followed by its output columns. A partitioned
    function is called once per distinct ``partition_column`` value with all of its rows, and
    returns what it produced for each (with the partition column), concatenated.
    ``passthrough_columns`` are carried to the output without being model input.
    """
    fn = resolve_function(loaded.functions.values(), function_name, label=loaded.label)
    if not isinstance(data, (pd.DataFrame, pa.Table)):
        raise InvalidInput(
            f"run takes a pandas DataFrame, a pyarrow Table or a ray.data.Dataset, not "
            f"{type(data).__name__}"
        )
    names = column_names(data)
    carried = list(passthrough_columns)
    missing = [c for c in carried + ([partition_column] if partition_column else []) if c not in names]
    if missing:
        raise InvalidInput(f"the input has no column {', '.join(missing)}; its columns: "
                           f"{', '.join(names)}")
    if fn.is_partitioned:
        if partition_column is None:
            raise InvalidInput(f"{fn.name} of {loaded.label} is partitioned; pass "
                               "partition_column= to say which column splits the input")
        return _run_partitions(loaded, fn, data, partition_column, carried, strict)
    if partition_column is not None:
        raise InvalidInput(f"{fn.name} of {loaded.label} is not a partitioned function; "
                           "partition_column applies to @partitioned_api functions only")
    outputs_spec = _output_specs(fn)
    _refuse_clash(names, [f.name for f in outputs_spec], fn, loaded.label)
    features = _without(data, carried)
    inputs = fn.signature.inputs if fn.signature is not None else None
    batch = prepare_batch(features, inputs, strict=strict, what=f"input to {fn.name}")
    outputs = call_function(loaded, fn, batch)
    _refuse_clash(names, list(outputs), fn, loaded.label)
    return _append_columns(data, outputs, {f.name: f for f in outputs_spec})


def _output_specs(fn: ModelFunctionInfo) -> Sequence[FeatureSpec]:
    return fn.signature.outputs if fn.signature is not None else ()


def _refuse_clash(
    names: Sequence[str], outputs: Sequence[str], fn: ModelFunctionInfo, label: str
) -> None:
    clash = [name for name in outputs if name in set(names)]
    if clash:
        raise InvalidInput(
            f"the input has columns named like outputs of {fn.name} of {label}: "
            f"{', '.join(clash)}; the output would replace them: rename those input columns "
            "or drop them before run"
        )


def _without(data: Frame, columns: Sequence[str]) -> Frame:
    if not columns:
        return data
    if isinstance(data, pd.DataFrame):
        return data.drop(columns=list(columns))
    return data.drop_columns(list(columns))


def _append_columns(data: Frame, outputs: Columns, specs: Mapping[str, FeatureSpec]) -> Frame:
    """``data`` with the output columns after its own: no input column is copied (a shallow
    DataFrame, or Arrow's new table over the same columns)."""
    if isinstance(data, pd.DataFrame):
        out = data.copy(deep=False)
        for name, values in outputs.items():
            out[name] = object_column(values) if values.ndim > 1 else values
        return out
    for name, values in outputs.items():
        data = data.append_column(name, _output_array(values, specs.get(name), name))
    return data


def output_table(columns: Columns) -> pa.Table:
    """Output columns as an Arrow table, each column's type from its values (what output
    signatures are inferred from)."""
    return pa.table({name: _output_array(values, None, name) for name, values in columns.items()})


def _output_array(
    values: np.ndarray[Any, Any], spec: FeatureSpec | None, name: str
) -> pa.Array:
    """One output column as Arrow, of its signature's type where the model's values are that
    type (numpy's buffer, not copied, when it is contiguous) or widen to it safely; values of
    another type keep it (no output is narrowed or coerced). A column of arrays is a tensor
    column (see the module)."""
    if len(values) == 0 and spec is not None and spec.shape is not None:
        return pa.array([], type=spec.arrow_type())
    if values.ndim > 1 or holds_arrays(values):
        return _tensor_output(values, spec, name)
    dtype = spec.dtype if spec is not None else None
    if dtype is None:
        return pa.array(values)
    expected = dtype.to_arrow()
    if len(values) == 0:  # no values to infer from
        return pa.array(values, type=expected)
    array = pa.array(values)
    if array.type.equals(expected):
        return array
    try:
        actual = DataType.from_arrow(array.type)
    except InvalidInput:
        return array
    if actual == dtype or can_widen(actual, dtype):
        return array.cast(expected)
    return array


def _tensor_output(values: np.ndarray[Any, Any], spec: FeatureSpec | None, name: str) -> pa.Array:
    """A column of arrays as a tensor column: the signature's shape type where the rows fit
    it, its element type where they widen to it."""
    shape = spec.shape if spec is not None else None
    try:
        array = tensor_array(values, shape=shape)
    except NotATensor as exc:
        raise ModelError(f"the output {name} holds arrays that are no tensor column: {exc}; "
                         "return arrays of one rank per row") from None
    layout = layout_of(array.type)
    if spec is None or layout is None:
        return array
    try:
        actual = DataType.from_arrow(layout.value_type)
    except InvalidInput:
        return array
    if actual == spec.dtype or not can_widen(actual, spec.dtype):
        return array
    rows = astype_rows(tensor_values(array, fill_nulls=False), spec.dtype.to_numpy())
    return tensor_array(rows, shape=shape)


def _empty_columns(specs: Sequence[FeatureSpec]) -> Columns:
    out: Columns = {}
    for f in specs:
        dtype = f.dtype.to_arrow().to_pandas_dtype()
        if f.shape is None:
            out[f.name] = np.empty(0, dtype=dtype)
        elif all(d >= 0 for d in f.shape):
            out[f.name] = np.empty((0, *f.shape), dtype=dtype)
        else:
            out[f.name] = np.empty(0, dtype=object)
    return out


def _run_partitions(
    loaded: LoadedModel,
    fn: ModelFunctionInfo,
    data: Frame,
    partition_column: str,
    carried: list[str],
    strict: bool,
) -> Frame:
    frame = data if isinstance(data, pd.DataFrame) else to_pandas(data)
    inputs = fn.signature.inputs if fn.signature is not None else None
    in_signature = inputs is not None and partition_column in {f.name for f in inputs}
    drop = carried + ([] if in_signature or inputs is None else [partition_column])
    if len(frame) == 0:  # no partitions: checked all the same, and no call
        prepare_batch(frame.drop(columns=drop), inputs, strict=strict, what=f"input to {fn.name}")
    parts = []
    for key, group in frame.groupby(partition_column, sort=True, dropna=False):
        batch = prepare_batch(group.drop(columns=drop), inputs, strict=strict,
                              what=f"partition {partition_column}={key!r} of {fn.name}")
        result = _call(loaded, fn.target_method, batch, f"{loaded.label} function {fn.name}")
        out = result if isinstance(result, pd.DataFrame) else pd.DataFrame({
            name: object_column(values) if values.ndim > 1 else values
            for name, values in output_columns(
                result, len(batch), None, f"{loaded.label} function {fn.name}").items()})
        if partition_column not in out.columns:
            out.insert(0, partition_column, key)
        parts.append(out.reset_index(drop=True))
    if parts:
        combined = pd.concat(parts, ignore_index=True)
    else:
        combined = pd.DataFrame(_empty_columns(_output_specs(fn)))
        if partition_column not in combined.columns:
            combined.insert(0, partition_column, frame[partition_column].iloc[:0].to_numpy())
    return combined if isinstance(data, pd.DataFrame) else to_arrow(combined)


def _call(
    loaded: LoadedModel, method: str, batch: Batch, what: str
) -> np.ndarray[Any, Any] | pd.DataFrame | Mapping[str, Any]:
    try:
        return loaded.predictor.predict(method, batch)
    except FloeError:
        raise
    except Exception as exc:
        raise ModelError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def call_function(loaded: LoadedModel, fn: ModelFunctionInfo, batch: Batch) -> Columns:
    """Call the model once on the whole batch; return its output columns by name.

    An empty batch returns the signature's output columns, empty, without a call (where the
    signature names no outputs, the model is called and answers for itself)."""
    label = loaded.label
    outputs = _output_specs(fn)
    if len(batch) == 0 and outputs:
        return _empty_columns(outputs)
    spec = loaded.manifest.explain if loaded.manifest is not None else None
    if fn.name == EXPLAIN_FUNCTION and spec is not None:
        explains = spec.explains
        # the explained function's own input checks: explain refuses what it refuses
        _call(loaded, explains, batch, f"{label} function {fn.name} (explaining {explains})")
        return loaded.explainer().explain(batch)
    result = _call(loaded, fn.target_method, batch, f"{label} function {fn.name}")
    expected = [f.name for f in outputs] if fn.signature is not None else None
    rows = None if fn.is_partitioned else len(batch)  # a partition may yield any row count
    shapes = {f.name: f.shape for f in outputs if f.shape is not None}
    return output_columns(result, rows, expected, f"{label} function {fn.name}", shapes=shapes)


def output_names(count: int) -> list[str]:
    return [f"output_feature_{i}" for i in range(count)]


def output_columns(
    result: np.ndarray[Any, Any] | pd.DataFrame | Mapping[str, Any],
    num_rows: int | None,
    names: list[str] | None,
    what: str,
    *,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> Columns:
    """Name a function's result (see the module): a DataFrame's or a mapping's own columns,
    or ``output_feature_<i>``. ``num_rows`` (when not None) is the row count the result must
    have; ``shapes`` are the signature's tensor outputs."""
    if isinstance(result, pd.DataFrame):
        if num_rows is not None and len(result) != num_rows:
            raise ModelError(f"{what} returned {len(result)} rows for {num_rows}; a function "
                             "must return one row per input row")
        columns = {str(c): result[c].to_numpy() for c in result.columns}
        if names and list(columns) != names:
            raise ModelError(f"{what} returned columns {list(columns)}; its signature names "
                             f"{names}")
        return columns
    if isinstance(result, Mapping):
        columns = {str(c): np.asarray(v) for c, v in result.items()}
        for name, values in columns.items():
            if values.ndim == 0 or (num_rows is not None and len(values) != num_rows):
                got = f"shape {values.shape}" if values.ndim else "a scalar"
                raise ModelError(f"{what} returned {got} as {name} for {num_rows} rows; each "
                                 "output must have one row per input row")
        if names and list(columns) != names:
            raise ModelError(f"{what} returned columns {list(columns)}; its signature names "
                             f"{names}")
        return columns
    result = np.asarray(result)
    if result.ndim >= 3 or (result.ndim == 2 and names is not None and len(names) == 1
                            and shapes and names[0] in shapes):
        if num_rows is not None and result.shape[0] != num_rows:
            raise ModelError(f"{what} returned shape {result.shape} for {num_rows} rows; a "
                             "function must return one row per input row")
        names = names or output_names(1)
        if len(names) != 1:
            raise ModelError(f"{what} returned one array of shape {result.shape} (one column "
                             f"of arrays), its signature names {len(names)}: "
                             f"{', '.join(names)}")
        return {names[0]: result}
    matrix = result.reshape(-1, 1) if result.ndim == 1 else result
    if matrix.ndim != 2 or (num_rows is not None and matrix.shape[0] != num_rows):
        raise ModelError(
            f"{what} returned shape {result.shape} for {num_rows} rows; a function must return "
            "one row per input row"
        )
    names = names or output_names(matrix.shape[1])
    if len(names) != matrix.shape[1]:
        raise ModelError(
            f"{what} returned {matrix.shape[1]} columns, its signature names {len(names)}: "
            f"{', '.join(names)}"
        )
    return {name: matrix[:, i] for i, name in enumerate(names)}
