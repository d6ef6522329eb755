"""Signatures: inference, and the checks every batch goes through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from registry import DataType, FeatureSpec, InvalidInput
from registry.runtime.samples import infer_features, to_arrow
from registry.runtime.signatures import column_problems, null_counts, plan_input, validate_input

INPUTS = (FeatureSpec("x", DataType.DOUBLE, nullable=False),
          FeatureSpec("y", DataType.INT64, nullable=True))


def test_inference_records_nullability_and_the_check_enforces_it() -> None:
    sample = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, np.nan]})
    assert [f.nullable for f in infer_features(sample)] == [False, True]
    table = pa.table({"x": [1.0, None, None], "y": [1, None, 3]})
    assert null_counts(table, ["x", "y"]) == {"x": 2, "y": 1}
    assert null_counts(table.to_pandas(), ["x", "y"]) == {"x": 2, "y": 1}
    with pytest.raises(InvalidInput, match=r"not nullable: x \(2 nulls\)"):
        validate_input(table, INPUTS)
    assert validate_input(table.drop_null(), INPUTS).num_rows == 1


def test_plan_input_gathers_nulls_with_every_other_problem() -> None:
    schema = pa.schema([("x", pa.string()), ("z", pa.float64())])
    with pytest.raises(InvalidInput) as info:
        plan_input(schema, INPUTS, nulls={"x": 3})
    message = str(info.value)
    assert message.startswith("invalid input: missing columns: y (INT64); column x is STRING")
    assert "not nullable: x (3 nulls)" in message and "unexpected columns: z" in message


def test_column_problems_name_duplicate_complex_and_sparse_columns() -> None:
    frame = pd.DataFrame([[1.0, 2.0, 1j]], columns=["x", "x", "c"])
    problems, bad = column_problems(frame)
    assert bad == {"x", "c"}
    assert problems[0] == "duplicate columns: x (2 times) (give every column a unique name)"
    assert problems[1].startswith("column c is complex128")
    assert column_problems(pd.DataFrame({"s": pd.arrays.SparseArray([0, 1])}))[1] == {"s"}
    assert column_problems(pa.table({"x": [1.0]})) == ([], set())


def test_log_time_conversion_refuses_the_same_columns() -> None:
    with pytest.raises(InvalidInput, match="duplicate columns: x"):
        infer_features(pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]))
    with pytest.raises(InvalidInput, match="column c is complex128"):
        to_arrow(pd.DataFrame({"c": [1j]}))
    with pytest.raises(InvalidInput, match="holds complex numbers"):
        to_arrow(np.array([[1j, 2.0]]))
