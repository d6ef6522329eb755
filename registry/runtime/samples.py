"""Samples and inputs as Arrow: whatever a user passes (a DataFrame, a Table, a numpy array or
torch tensor, a dict of arrays) as one pyarrow Table, and the features a sample's columns
infer (``registry.runtime.signatures`` describes the rules: shapes, nullability)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import InvalidInput
from registry.runtime.signatures import DataType, FeatureSpec, column_problems, refuse
from registry.runtime.tensors import array_column, frame_to_arrow, layout_of, row_extents

__all__ = ["infer_features", "to_arrow"]


def to_arrow(data: Any, *, prefix: str = "input_feature") -> pa.Table:
    """A pyarrow Table from a DataFrame, a Table, a numpy array or torch tensor (a 2-D one:
    columns ``<prefix>_<i>``; one of rank 3 or more ``(n, *shape)``: the one tensor column
    ``<prefix>_0``) or a mapping of names to arrays (a column each, a tensor column from 2-D
    up). A DataFrame column of numpy arrays becomes a tensor column (``tensors``)."""
    if isinstance(data, pa.Table):
        refuse(column_problems(data)[0], "input", None)
        return data
    if isinstance(data, pd.DataFrame):
        refuse(column_problems(data)[0], "input", None)
        frame = data
        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        return frame_to_arrow(frame)
    if isinstance(data, pd.Series):
        return to_arrow(data.to_frame(), prefix=prefix)
    if isinstance(data, Mapping):
        columns = {str(name): _numpy(values) for name, values in data.items()}
        return pa.table({name: array_column(name, values) for name, values in columns.items()})
    data = _numpy(data)
    if isinstance(data, np.ndarray):
        if data.ndim >= 3:
            return pa.table({f"{prefix}_0": array_column(f"{prefix}_0", data)})
        array = data.reshape(-1, 1) if data.ndim == 1 else data
        if array.ndim != 2:
            raise InvalidInput(
                f"a numpy array of {data.ndim} dimensions cannot be a table; pass a 2-D array, "
                "an array (n, *shape) of rank 3 or more, or a DataFrame"
            )
        if np.iscomplexobj(array):
            raise InvalidInput(
                f"a numpy array of {array.dtype} holds complex numbers, which are not "
                "supported; split them into real and imaginary float columns"
            )
        return pa.table({f"{prefix}_{i}": array[:, i] for i in range(array.shape[1])})
    raise InvalidInput(
        f"cannot use a {type(data).__name__} as model input; pass a pandas DataFrame, a "
        "pyarrow Table, a numpy array, a torch tensor or a dict of arrays"
    )


def _numpy(data: Any) -> Any:
    """A torch tensor as numpy (bfloat16 as float32), without importing torch; else ``data``."""
    if type(data).__module__.split(".")[0] == "torch" and hasattr(data, "detach"):
        tensor = data.detach().cpu()
        return (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()
    return data


def infer_features(data: Any, *, prefix: str = "input_feature") -> tuple[FeatureSpec, ...]:
    """The features of a sample (see ``to_arrow``), with their shapes (see the module)."""
    table = to_arrow(data, prefix=prefix)
    return tuple(_infer_feature(f.name, table.column(f.name)) for f in table.schema)


def _infer_feature(name: str, column: pa.ChunkedArray) -> FeatureSpec:
    nullable = column.null_count > 0
    layout = layout_of(column.type)
    if layout is None:
        return FeatureSpec(name=name, dtype=DataType.from_arrow(column.type), nullable=nullable)
    if all(d is not None for d in layout.dims):
        shape = tuple(int(d) for d in layout.dims if d is not None)
    elif isinstance(column.type, pa.BaseExtensionType):  # Ray's variable-shaped tensors
        extents = row_extents(column) or ()
        shape = tuple(e[0] if e is not None and e[0] == e[1] else -1 for e in extents)
    else:  # a list: its length varies by row, whatever the sample's rows have
        shape = tuple(-1 if d is None else d for d in layout.dims)
    return FeatureSpec(name=name, dtype=DataType.from_arrow(layout.value_type), shape=shape,
                       nullable=nullable)
