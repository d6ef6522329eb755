"""prepare_batch: the one validation path, for DataFrames and Arrow tables alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from registry import DataType, FeatureSpec, InvalidInput
from registry.runtime.model_input import prepare_batch

INPUTS = (
    FeatureSpec("a", DataType.DOUBLE, nullable=False),
    FeatureSpec("b", DataType.DOUBLE, nullable=False),
    FeatureSpec("c", DataType.DOUBLE, nullable=True),
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "c": [7.0, 8.0, 9.0]})


def test_nulls_in_features_that_are_not_nullable_are_refused_with_their_counts() -> None:
    frame = _frame().assign(a=[np.nan, np.nan, 1.0], b=[None, 1.0, 2.0], c=[np.nan] * 3)
    with pytest.raises(InvalidInput, match=r"nulls in columns that are not nullable: a \(2 nulls"
                                           r"\), b \(1 null\) \(fill or drop those rows, or log "
                                           r"the version with a signature whose feature is "
                                           r"FeatureSpec\(\.\.\., nullable=True\)"):
        prepare_batch(frame, INPUTS)
    table = pa.table({"a": [None, 1.0, None], "b": [1.0, 2.0, 3.0], "c": [None, None, None]},
                     schema=pa.schema([("a", pa.float64()), ("b", pa.float64()),
                                       ("c", pa.float64())]))
    with pytest.raises(InvalidInput, match=r"not nullable: a \(2 nulls\) \(fill"):
        prepare_batch(table, INPUTS)
    assert len(prepare_batch(_frame().assign(c=np.nan), INPUTS)) == 3  # c is nullable


def test_a_nan_in_an_arrow_float_column_is_a_value_not_a_null() -> None:
    table = pa.table({"a": [float("nan"), float("inf"), 1.0], "b": [1.0, 2.0, 3.0],
                      "c": [1.0, 2.0, 3.0]})
    assert prepare_batch(table, INPUTS).table.column("a").null_count == 0


def test_nulls_are_refused_in_the_same_error_as_every_other_problem() -> None:
    frame = _frame().drop(columns=["b"]).assign(a=[np.nan, 1.0, 2.0], c=["x", "y", "z"], d=1)
    with pytest.raises(InvalidInput) as info:
        prepare_batch(frame, INPUTS)
    message = str(info.value)
    for part in ("missing columns: b (DOUBLE)", "column c is STRING, expected DOUBLE",
                 "not nullable: a (1 null)", "unexpected columns: d"):
        assert part in message
    assert message.count("invalid input") == 1


def test_duplicate_columns_are_refused_in_both_formats() -> None:
    frame = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], columns=["a", "a", "b", "c"])
    with pytest.raises(InvalidInput, match=r"duplicate columns: a \(2 times\) \(give every "
                                           r"column a unique name\)"):
        prepare_batch(frame, INPUTS)
    table = pa.table([pa.array([1.0])] * 4, names=["a", "b", "b", "c"])
    with pytest.raises(InvalidInput, match=r"duplicate columns: b \(2 times\)"):
        prepare_batch(table, INPUTS)
    with pytest.raises(InvalidInput, match="duplicate columns"):
        prepare_batch(frame, None)  # without a signature too


def test_complex_and_sparse_columns_are_refused_with_the_fix() -> None:
    frame = _frame().assign(a=np.array([1 + 2j, 3j, 1]),
                            b=pd.arrays.SparseArray([0.0, 1.0, 0.0]))
    with pytest.raises(InvalidInput) as info:
        prepare_batch(frame, INPUTS)
    message = str(info.value)
    assert "column a is complex128 (complex numbers are not supported; split it into real " \
           "and imaginary float columns)" in message
    assert "column b is sparse (Sparse[float64, nan]; convert it with " \
           "frame.sparse.to_dense())" in message
    assert "missing columns" not in message  # each column is reported once, for what it is
    with pytest.raises(InvalidInput, match="column a is complex128"):
        prepare_batch(frame, None)


def test_a_column_mixing_types_is_named() -> None:
    frame = _frame().astype({"b": object})
    frame.loc[1, "b"] = "text"
    with pytest.raises(InvalidInput, match="columns b mix value types"):
        prepare_batch(frame, INPUTS)


def test_widening_and_selection_still_apply() -> None:
    frame = _frame()[["c", "b", "a"]].astype("float32").assign(extra_id=1)
    with pytest.raises(InvalidInput, match="unexpected columns: extra_id"):
        prepare_batch(frame, INPUTS)
    batch = prepare_batch(frame.drop(columns=["extra_id"]), INPUTS)
    assert batch.columns == ["a", "b", "c"]
    assert batch.frame.dtypes.tolist() == [np.float64] * 3
    empty = prepare_batch(pa.Table.from_pandas(_frame().iloc[:0], preserve_index=False), INPUTS)
    assert len(empty) == 0 and empty.columns == ["a", "b", "c"]
