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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.errors import InvalidInput
from registry.runtime.signatures import (
    FeatureSpec,
    column_names,
    column_problems,
    non_nullable,
    null_counts,
    plan_input,
    refuse,
    to_arrow,
)

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
        return int(self._table.num_rows)

    @property
    def columns(self) -> list[str]:
        if self._frame is not None:
            return [str(c) for c in self._frame.columns]
        assert self._table is not None
        return list(self._table.column_names)

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
    def numpy(self) -> np.ndarray[Any, Any]:
        """One 2-D array (rows by features); no copy when the DataFrame has a single dtype."""
        array: np.ndarray[Any, Any] = self.frame.to_numpy()
        return array


def prepare_batch(
    data: pd.DataFrame | pa.Table,
    inputs: Sequence[FeatureSpec] | None,
    *,
    strict: bool = False,
    what: str = "input",
) -> Batch:
    """Validate ``data`` against ``inputs`` (the one validation path, see ``signatures``) and
    return its features, selected, ordered and widened. Every problem is refused at once.
    Without a signature (``inputs`` None) only what no model can take is refused."""
    if not isinstance(data, (pd.DataFrame, pa.Table)):
        raise InvalidInput(
            f"{what} must be a pandas DataFrame or a pyarrow Table, not {type(data).__name__}"
        )
    problems, bad = column_problems(data)
    if inputs is None:
        refuse(problems, what, None)
        return Batch(frame=data) if isinstance(data, pd.DataFrame) else Batch(table=data)
    names = column_names(data)
    nulls = null_counts(data, [n for n in non_nullable(inputs, names) if n not in bad])
    if isinstance(data, pd.DataFrame):
        schema = _pandas_schema(data, bad, problems, what, inputs)
        casts = plan_input(schema, inputs, strict=strict, what=what, nulls=nulls,
                           problems=problems, reported=bad)
        features = [f.name for f in inputs]
        if names == features:
            frame = data
        elif names == list(data.columns):
            frame = data[features]
        else:  # names that are not strings: select by their text
            frame = data.set_axis(names, axis=1)[features]
        if casts:
            frame = frame.astype(
                {name: dtype.to_arrow().to_pandas_dtype() for name, dtype in casts.items()}
            )
        return Batch(frame=frame)
    casts = plan_input(data.schema, inputs, strict=strict, what=what, nulls=nulls,
                       problems=problems, reported=bad)
    table = data.select([f.name for f in inputs])
    for name, dtype in casts.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(dtype.to_arrow()))
    return Batch(table=table)


_TO_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError)


def _pandas_schema(
    frame: pd.DataFrame,
    bad: set[str],
    problems: list[str],
    what: str,
    inputs: Sequence[FeatureSpec],
) -> pa.Schema:
    """The Arrow schema of ``frame``'s columns but ``bad`` ones (already reported)."""
    names = [str(c) for c in frame.columns]
    keep = [i for i, name in enumerate(names) if name not in bad]
    good = frame.iloc[:, keep].set_axis([names[i] for i in keep], axis=1)
    try:
        return pa.Schema.from_pandas(good, preserve_index=False)
    except _TO_ARROW_ERRORS as exc:
        # a column mixing types (say numbers and text): name it by converting one at a time
        mixed = []
        for name in good.columns:
            try:
                to_arrow(good[[name]])
            except _TO_ARROW_ERRORS:
                mixed.append(str(name))
        refuse([*problems, f"columns {', '.join(mixed) or '?'} mix value types ({exc}); give "
                "each column one type"], what, inputs)
        raise  # unreachable: refuse raised
