"""serve.formats._columns: tables from rows, records and columns that the run path accepts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from registry import DataType, FeatureSpec, InvalidInput
from registry.runtime.signatures import validate_input  # the run path's one validation
from serve.formats._columns import (
    conform_array,
    conform_table,
    empty_table,
    positional_names,
    rows_named,
    table_from_columns,
    table_from_records,
    table_from_rows,
)

# A correct JSON value per DataType, and what the run path must then hold.
CORRECT: dict[DataType, tuple[list[Any], list[Any]]] = {
    DataType.INT8: ([1, -2], [1, -2]),
    DataType.INT16: ([1, 2.0], [1, 2]),
    DataType.INT32: ([1, None], [1, None]),
    DataType.INT64: ([2**62, 1], [2**62, 1]),
    DataType.UINT8: ([255, 0], [255, 0]),
    DataType.UINT16: ([1, 2], [1, 2]),
    DataType.UINT32: ([1, 2], [1, 2]),
    DataType.UINT64: ([2**64 - 1, 1], [2**64 - 1, 1]),
    DataType.FLOAT: ([1.5, 2], [1.5, 2.0]),
    DataType.DOUBLE: ([1, 0.1], [1.0, 0.1]),
    DataType.BOOL: ([True, None], [True, None]),
    DataType.STRING: (["a", "é"], ["a", "é"]),
    DataType.BYTES: (["aGVsbG8=", None], [b"hello", None]),
    DataType.TIMESTAMP: (["2024-01-02T03:04:05", "2024-01-02 03:04:05.5"],
                         [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5, 500000)]),
}


@pytest.mark.parametrize("dtype", list(DataType))
def test_a_correct_json_column_of_every_type_passes_the_run_path(dtype: DataType) -> None:
    values, expected = CORRECT[dtype]
    features = [FeatureSpec("x", dtype)]
    table = table_from_columns([("x", values)], features, where="inputs")
    checked = validate_input(table, features, strict=True)
    assert checked.column("x").to_pylist() == expected


@pytest.mark.parametrize("dtype", list(DataType))
def test_a_column_of_nulls_takes_its_features_type(dtype: DataType) -> None:
    table = table_from_columns([("x", [None, None])], [FeatureSpec("x", dtype)], where="inputs")
    assert table.schema.field("x").type == dtype.to_arrow()


def test_values_that_do_not_fit_their_feature_are_left_for_the_run_path_to_report() -> None:
    cases: list[tuple[DataType, list[Any]]] = [(DataType.INT32, [1.5]), (DataType.INT8, [300]), (DataType.UINT8, [-1]),
             (DataType.INT64, [True]), (DataType.STRING, [1]), (DataType.DOUBLE, ["1.5"]),
             (DataType.TIMESTAMP, ["not a time"]), (DataType.BOOL, [1])]
    for dtype, values in cases:
        features = [FeatureSpec("x", dtype)]
        table = table_from_columns([("x", values)], features, where="inputs")
        assert table.column("x").to_pylist() == values
        with pytest.raises(InvalidInput, match=f"column x is .*, expected {dtype.value}"):
            validate_input(table, features)


def test_without_a_signature_pyarrow_infers_each_column() -> None:
    table = table_from_columns([("a", [1, 2]), ("b", [1, 2.5]), ("c", ["x", None]),
                                ("d", [[1, 2], [3]]), ("e", [{"k": 1}, None])], None, where="in")
    assert [str(t) for t in table.schema.types] == [
        "int64", "double", "string", "list<item: int64>", "struct<k: int64>"]


def test_rows_take_feature_names_in_signature_order_or_input_feature_names() -> None:
    features = [FeatureSpec("b", DataType.DOUBLE), FeatureSpec("a", DataType.STRING)]
    table = table_from_rows([[1, "x"], [2.5, "y"]], features, where="data", example="[[1, 2]]")
    assert table.to_pydict() == {"b": [1.0, 2.5], "a": ["x", "y"]}
    assert table_from_rows([[1, 2]], None, where="d", example="").column_names == [
        "input_feature_0", "input_feature_1"]
    assert positional_names(None, 2) == ["input_feature_0", "input_feature_1"]
    named = table_from_rows([[1, 2]], features, where="d", example="", names=["p", "q"])
    assert named.column_names == ["p", "q"]
    assert table_from_rows([], None, where="d", example="", names=["p"]).num_rows == 0


def test_empty_input_is_a_table_of_the_features_types() -> None:
    features = [FeatureSpec("a", DataType.FLOAT), FeatureSpec("t", DataType.TIMESTAMP)]
    for table in (empty_table(features), table_from_rows([], features, where="d", example=""),
                  table_from_records([], features, where="d", example="")):
        assert table.schema == pa.schema([("a", pa.float32()), ("t", pa.timestamp("us"))])
    assert empty_table(None).num_columns == 0


def test_records_fill_missing_keys_with_null_and_keep_first_seen_order() -> None:
    table = table_from_records([{"b": 1}, {"a": "x", "b": 2}], None, where="r", example="")
    assert table.to_pydict() == {"b": [1, 2], "a": [None, "x"]}


def test_duplicate_column_names_are_kept_for_the_run_path_to_report() -> None:
    features = [FeatureSpec("a", DataType.DOUBLE)]
    table = table_from_columns([("a", [1.0]), ("a", [2.0])], features, where="in")
    assert table.column_names == ["a", "a"]
    with pytest.raises(InvalidInput, match="duplicate columns: a"):
        validate_input(table, features)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: table_from_rows([[1], 2, "x"], None, where="data", example="[[1]]"),
         r"data: rows 1, 2 are not a list; send one list of values per row, such as \[\[1\]\]"),
        (lambda: table_from_rows([[1, 2], [3]], [FeatureSpec("a", DataType.INT64),
                                                 FeatureSpec("b", DataType.INT64)],
                                 where="data", example="[[1, 2]]"),
         r"row 1 has 1 values but the signature has 2 features: a \(INT64\), b \(INT64\); "
         r"send one value per feature in that order"),
        (lambda: table_from_rows([[1, 2], [3]], None, where="data", example="[[1, 2]]"),
         r"row 1 has 1 values but row 0 has 2, and every row needs as many"),
        (lambda: table_from_rows([[1, 2]], None, where="d", example="", names=["a"]),
         r"row 0 has 2 values but there is 1 column; send one value per column"),
        (lambda: table_from_records([{"a": 1}, [1]], None, where="recs", example="[{}]"),
         r"recs: row 1 is not an object; send one object per row"),
        (lambda: table_from_columns([("a", [1, 2]), ("b", [1])], None, where="cols"),
         r"cols: columns have different lengths: a \(2\), b \(1\); send one value per row"),
        (lambda: table_from_columns([("a", [1, "x"])], [FeatureSpec("a", DataType.INT64)],
                                    where="cols"),
         r"cols: column a cannot be read as one column: .*; send values of one type in each "
         r"column \(INT64 for this feature\)"),
        (lambda: table_from_columns([("a", [[1], 2])], None, where="cols"),
         r"column a cannot be read as one column: .*send values of one type in each column$"),
        (lambda: table_from_columns([("a", [2**64])], None, where="cols"),
         r"column a cannot be read as one column"),
        (lambda: table_from_rows([[], []], None, where="data", example=""),
         r"data: the rows hold no columns"),
        (lambda: table_from_columns([("b", ["aGk=", "not base64!", "x"])],
                                    [FeatureSpec("b", DataType.BYTES)], where="in"),
         r"column b is a BYTES feature but rows 1, 2 are not base64 text; send bytes as base64"),
    ],
)
def test_what_cannot_become_columns_is_refused_with_the_fix(call: Any, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        call()


def test_rows_named_shows_five_and_counts_the_rest() -> None:
    assert rows_named([3]) == "row 3"
    assert rows_named(list(range(8))) == "rows 0, 1, 2, 3, 4 and 3 more"


def test_conform_casts_only_feature_columns_and_only_exactly() -> None:
    table = pa.table({"a": [1, 2], "b": [1.5, 2.5], "other": [1, 2]})
    features = [FeatureSpec("a", DataType.FLOAT), FeatureSpec("b", DataType.INT64)]
    conformed = conform_table(table, features, where="csv")
    assert conformed.schema == pa.schema([("a", pa.float32()), ("b", pa.float64()),
                                          ("other", pa.int64())])
    assert conform_table(table, None, where="csv") is table
    seconds = pa.array([dt.datetime(2024, 1, 2)], pa.timestamp("s"))
    spec = FeatureSpec("t", DataType.TIMESTAMP)
    assert conform_array(seconds, spec, name="t", where="csv").type == pa.timestamp("us")
    assert conform_array(pa.array([1.5]), None, name="x", where="csv").type == pa.float64()
