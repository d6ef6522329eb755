"""A validated batch of model input, kept in the form it arrived in until a handler asks.

``prepare_batch`` checks a pandas DataFrame's or pyarrow Table's schema against a function's
input signature (``signatures.plan_input``, the one validation path), selects and orders the
columns and applies the safe widening casts. Handlers then take the form they run fastest
on: ``numpy`` (one 2-D array; zero-copy from a DataFrame whose columns share a dtype),
``frame`` (pandas) or ``table`` (Arrow). Nothing here loops over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import InvalidInput
from registry.runtime.signatures import FeatureSpec, plan_input, to_arrow

__all__ = ["Batch", "prepare_batch"]


class Batch:
    """Model input with the signature's columns, in order, of the signature's types."""

    def __init__(self, *, frame: pd.DataFrame | None = None, table: pa.Table | None = None):
        if (frame is None) == (table is None):
            raise ValueError("a Batch holds a DataFrame or a Table")
        self._frame = frame
        self._table = table

    def __len__(self) -> int:
        if self._frame is not None:
            return len(self._frame)
        assert self._table is not None
        return self._table.num_rows

    @property
    def columns(self) -> list[str]:
        if self._frame is not None:
            return [str(c) for c in self._frame.columns]
        assert self._table is not None
        return self._table.column_names

    @cached_property
    def frame(self) -> pd.DataFrame:
        if self._frame is not None:
            return self._frame
        assert self._table is not None
        return self._table.to_pandas()

    @cached_property
    def table(self) -> pa.Table:
        if self._table is not None:
            return self._table
        return pa.Table.from_pandas(self.frame, preserve_index=False)

    @cached_property
    def numpy(self) -> np.ndarray:
        """One 2-D array (rows by features); no copy when the DataFrame has a single dtype."""
        return self.frame.to_numpy()


def prepare_batch(
    data: pd.DataFrame | pa.Table,
    inputs: Sequence[FeatureSpec] | None,
    *,
    strict: bool = False,
    what: str = "input",
) -> Batch:
    if isinstance(data, pd.DataFrame):
        if inputs is None:
            return Batch(frame=data)
        schema = _pandas_schema(data)
        casts = plan_input(schema, inputs, strict=strict, what=what)
        names = [f.name for f in inputs]
        frame = data if list(data.columns) == names else data[names]
        if casts:
            frame = frame.astype(
                {name: dtype.to_arrow().to_pandas_dtype() for name, dtype in casts.items()}
            )
        return Batch(frame=frame)
    if isinstance(data, pa.Table):
        if inputs is None:
            return Batch(table=data)
        casts = plan_input(data.schema, inputs, strict=strict, what=what)
        table = data.select([f.name for f in inputs])
        for name, dtype in casts.items():
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, table.column(name).cast(dtype.to_arrow()))
        return Batch(table=table)
    raise InvalidInput(
        f"{what} must be a pandas DataFrame or a pyarrow Table, not {type(data).__name__}"
    )


def _pandas_schema(frame: pd.DataFrame) -> pa.Schema:
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    try:
        return pa.Schema.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # a column mixing types (say numbers and text): name it by converting one at a time
        bad = []
        for name in frame.columns:
            try:
                to_arrow(frame[[name]])
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                bad.append(str(name))
        raise InvalidInput(
            f"columns {', '.join(bad) or '?'} mix value types ({exc}); give each column one type"
        ) from exc
