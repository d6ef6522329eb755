"""The one run path: validate the input against the function's signature, call the model once
on the whole batch and append the output columns. In-process ``run``, every Ray batch and
every request go through ``run_function``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import FloeError, InvalidInput, ModelError
from registry.runtime.explain import EXPLAIN_FUNCTION
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.load import LoadedModel
from registry.runtime.model_input import Batch, prepare_batch

__all__ = ["call_function", "output_columns", "resolve_function", "run_function"]

log = logging.getLogger(__name__)
Frame = TypeVar("Frame", pd.DataFrame, pa.Table)


def resolve_function(loaded: LoadedModel, function_name: str | None) -> ModelFunctionInfo:
    names = sorted(loaded.functions)
    if function_name is None:
        if len(names) == 1:
            return loaded.functions[names[0]]
        raise InvalidInput(
            f"{loaded.label} has {len(names)} functions ({', '.join(names)}); pass "
            "function_name= to pick one"
        )
    fn = loaded.functions.get(function_name) or loaded.functions.get(function_name.lower())
    if fn is None:
        raise InvalidInput(
            f"{loaded.label} has no function {function_name!r}; its functions are: "
            f"{', '.join(names)}"
        )
    return fn


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
    fn = resolve_function(loaded, function_name)
    if not isinstance(data, (pd.DataFrame, pa.Table)):
        raise InvalidInput(
            f"run takes a pandas DataFrame, a pyarrow Table or a ray.data.Dataset, not "
            f"{type(data).__name__}"
        )
    names = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else data.column_names
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
    features = _without(data, carried)
    inputs = fn.signature.inputs if fn.signature is not None else None
    batch = prepare_batch(features, inputs, strict=strict, what=f"input to {fn.name}")
    outputs = call_function(loaded, fn, batch)
    return _append_columns(data, outputs)


def _without(data: Frame, columns: Sequence[str]) -> Frame:
    if not columns:
        return data
    if isinstance(data, pd.DataFrame):
        return data.drop(columns=list(columns))
    return data.drop_columns(list(columns))


def _append_columns(data: Frame, outputs: Mapping[str, np.ndarray]) -> Frame:
    if isinstance(data, pd.DataFrame):
        out = data.copy(deep=False)
        for name, values in outputs.items():
            out[name] = values
        return out
    for name, values in outputs.items():
        data = data.append_column(name, pa.array(values))
    return data


def _run_partitions(
    loaded: LoadedModel,
    fn: ModelFunctionInfo,
    data: Frame,
    partition_column: str,
    carried: list[str],
    strict: bool,
) -> Frame:
    frame = data if isinstance(data, pd.DataFrame) else data.to_pandas()
    inputs = fn.signature.inputs if fn.signature is not None else None
    in_signature = inputs is not None and partition_column in {f.name for f in inputs}
    drop = carried + ([] if in_signature or inputs is None else [partition_column])
    parts = []
    for key, group in frame.groupby(partition_column, sort=True, dropna=False):
        batch = prepare_batch(group.drop(columns=drop), inputs, strict=strict,
                              what=f"partition {partition_column}={key!r} of {fn.name}")
        result = _call(loaded, fn, batch)
        out = result if isinstance(result, pd.DataFrame) else pd.DataFrame(
            output_columns(result, len(batch), None, f"{loaded.label} function {fn.name}"))
        if partition_column not in out.columns:
            out.insert(0, partition_column, key)
        parts.append(out.reset_index(drop=True))
    combined = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return combined if isinstance(data, pd.DataFrame) else pa.Table.from_pandas(
        combined, preserve_index=False)


def _call(loaded: LoadedModel, fn: ModelFunctionInfo, batch: Batch) -> np.ndarray | pd.DataFrame:
    try:
        return loaded.handler.call(loaded.model, fn.target_method, batch)
    except FloeError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{loaded.label} function {fn.name} raised {type(exc).__name__}: {exc}"
        ) from exc


def call_function(loaded: LoadedModel, fn: ModelFunctionInfo, batch: Batch) -> dict[str, np.ndarray]:
    """Call the model once on the whole batch; return its output columns by name."""
    if fn.name == EXPLAIN_FUNCTION and loaded.manifest and loaded.manifest.explain:
        return loaded.explainer().explain(batch)
    result = _call(loaded, fn, batch)
    label = loaded.label
    expected = [f.name for f in fn.signature.outputs] if fn.signature is not None else None
    rows = None if fn.is_partitioned else len(batch)  # a partition may yield any row count
    return output_columns(result, rows, expected, f"{label} function {fn.name}")


def output_names(count: int) -> list[str]:
    return [f"output_feature_{i}" for i in range(count)]


def output_columns(
    result: np.ndarray | pd.DataFrame, num_rows: int | None, names: list[str] | None, what: str
) -> dict[str, np.ndarray]:
    """Name a function's result: a DataFrame's own columns, or ``output_feature_<i>``.
    ``num_rows`` (when not None) is the row count the result must have."""
    if isinstance(result, pd.DataFrame):
        if num_rows is not None and len(result) != num_rows:
            raise ModelError(f"{what} returned {len(result)} rows for {num_rows}; a function "
                             "must return one row per input row")
        columns = {str(c): result[c].to_numpy() for c in result.columns}
        if names and list(columns) != names:
            raise ModelError(f"{what} returned columns {list(columns)}; its signature names "
                             f"{names}")
        return columns
    result = np.asarray(result)
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
