"""serve.formats._mlflow: the four JSON forms and CSV of MLflow's scoring server."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from registry import DataType, FeatureSpec, InvalidInput
from registry.runtime.signatures import validate_input
from serve.formats import decode_mlflow, encode_mlflow

FEATURES = [FeatureSpec("x", DataType.FLOAT), FeatureSpec("n", DataType.INT64),
            FeatureSpec("s", DataType.STRING)]
EXPECTED = {"x": [1.5, 2.0], "n": [1, 2], "s": ["a", "b"]}
JSON = "application/json"


@pytest.mark.parametrize(
    "doc",
    [
        {"dataframe_split": {"columns": ["x", "n", "s"], "data": [[1.5, 1, "a"], [2, 2, "b"]],
                             "index": [10, 11]}},
        {"dataframe_split": {"data": [[1.5, 1, "a"], [2, 2, "b"]]}},
        {"dataframe_split": {"columns": ["s", "x", "n"], "data": [["a", 1.5, 1], ["b", 2, 2]]}},
        {"dataframe_records": [{"x": 1.5, "n": 1, "s": "a"}, {"x": 2, "n": 2, "s": "b"}]},
        {"instances": [[1.5, 1, "a"], [2, 2, "b"]]},
        {"inputs": [[1.5, 1, "a"], [2, 2, "b"]]},
        {"inputs": [{"x": 1.5, "n": 1, "s": "a"}, {"x": 2, "n": 2, "s": "b"}]},
        {"instances": {"x": [1.5, 2], "n": [1, 2], "s": ["a", "b"]}},
    ],
)
def test_every_json_form_gives_the_same_table_that_the_run_path_accepts(doc: object) -> None:
    table = decode_mlflow(json.dumps(doc).encode(), "application/json; charset=utf-8", FEATURES)
    checked = validate_input(table, FEATURES, strict=True)
    assert checked.to_pydict() == EXPECTED


def test_a_missing_content_type_is_json() -> None:
    table = decode_mlflow(b'{"inputs": {"x": [1.5, 2], "n": [1, 2], "s": ["a", "b"]}}', None, FEATURES)
    assert validate_input(table, FEATURES, strict=True).to_pydict() == EXPECTED


def test_csv_has_a_header_row_and_text_features_stay_text() -> None:
    body = b"s,x,n\na,1.5,1\nb,2,2\n"
    table = decode_mlflow(body, "text/csv", FEATURES)
    assert validate_input(table, FEATURES, strict=True).to_pydict() == EXPECTED
    numeric_text = decode_mlflow(b"s,x,n\n1,1.5,1\n", "Text/CSV; charset=utf-8", FEATURES)
    assert numeric_text.column("s").to_pylist() == ["1"]
    assert decode_mlflow(b"x,n,s\n", "text/csv", FEATURES).schema.types == [
        pa.float32(), pa.int64(), pa.string()]
    unsigned = decode_mlflow(b"a,b\n1,x\n", "text/csv", None)
    assert unsigned.to_pydict() == {"a": [1], "b": ["x"]}


def test_bytes_features_are_base64_in_json_and_csv() -> None:
    features = [FeatureSpec("b", DataType.BYTES)]
    from_json = decode_mlflow(b'{"dataframe_records": [{"b": "aGk="}]}', JSON, features)
    from_csv = decode_mlflow(b"b\naGk=\n", "text/csv", features)
    assert from_json.column("b").to_pylist() == from_csv.column("b").to_pylist() == [b"hi"]


def test_single_values_are_the_one_feature_or_input_feature_0() -> None:
    one = [FeatureSpec("x", DataType.DOUBLE)]
    assert decode_mlflow(b'{"inputs": [1, 2.5]}', JSON, one).to_pydict() == {"x": [1.0, 2.5]}
    assert decode_mlflow(b'{"instances": [1, 2]}', JSON, None).to_pydict() == {
        "input_feature_0": [1, 2]}
    assert decode_mlflow(b'{"instances": []}', JSON, one).schema.types == [pa.float64()]


def test_encode_gives_values_for_one_column_and_records_for_several() -> None:
    outputs = pa.table({"score": pa.array([0.5, float("nan")], pa.float32()),
                        "label": pa.array(["cat", "dög"])})
    assert json.loads(encode_mlflow(outputs)) == {
        "predictions": [{"score": 0.5, "label": "cat"}, {"score": None, "label": "dög"}]}
    assert json.loads(encode_mlflow(outputs.select(["score"]))) == {"predictions": [0.5, None]}
    assert json.loads(encode_mlflow(outputs.select(["label"]))) == {"predictions": ["cat", "dög"]}


def test_round_trip_through_the_records_form() -> None:
    outputs = pa.table({"x": pa.array([1.5, 2.0], pa.float32()), "n": [1, 2], "s": ["a", "b"]})
    again = decode_mlflow(b'{"dataframe_records": '
                          + json.dumps(json.loads(encode_mlflow(outputs))["predictions"]).encode()
                          + b"}", JSON, FEATURES)
    assert validate_input(again, FEATURES, strict=True).equals(outputs)


KEYS = "dataframe_split, dataframe_records, instances, inputs"


@pytest.mark.parametrize(
    ("body", "content_type", "match"),
    [
        (b"x=1", JSON, r"body is not JSON: .*; send a JSON object such as \{\"dataframe_split\""),
        (b"[[1, 2]]", JSON, rf"an MLflow request is a JSON object, not a list; send one of the keys {KEYS}"),
        (b"{}", JSON, rf"has exactly one of the keys {KEYS}; this one has none of them"),
        (b'{"inputs": [], "instances": []}', JSON, r"this one has more than one: instances, inputs"),
        (b'{"inputs": [], "params": {}}', JSON, r"this one has unknown keys: params; send"),
        (b'{"data": [[1]]}', JSON, rf"{KEYS}; this one has none of them; unknown keys: data"),
        (b'{"dataframe_split": [[1]]}', JSON, r"dataframe_split must be an object with columns and data, not a list"),
        (b'{"dataframe_split": {"columns": ["x"], "rows": [[1]]}}', JSON,
         r"invalid dataframe_split: unknown keys rows \(it takes columns, data, index\); no data key"),
        (b'{"dataframe_split": {"columns": ["x"], "data": {"x": 1}}}', JSON,
         r"data is an object, not a list of rows"),
        (b'{"dataframe_split": {"columns": "x", "data": [[1]]}}', JSON,
         r"columns is not a list of strings"),
        (b'{"dataframe_split": {"columns": ["x", "n"], "data": [[1]]}}', JSON,
         r"dataframe_split.data: row 0 has 1 values but there are 2 columns"),
        (b'{"dataframe_records": {"x": 1}}', JSON, r"dataframe_records must be a list of objects, not an object"),
        (b'{"dataframe_records": [{"x": 1}, 2]}', JSON, r"dataframe_records: row 1 is not an object"),
        (b'{"inputs": "x"}', JSON, r"inputs must be a list of rows or an object of columns, not a string"),
        (b'{"inputs": {"x": 1, "n": [1]}}', JSON, r"inputs is an object of columns but x is not a list"),
        (b'{"instances": [[1, 2, "a"], {"x": 1}]}', JSON, r"instances mixes rows of different forms"),
        (b'{"instances": [1, 2]}', JSON,
         r"instances is a list of single values, but the signature has 3 features \(x, n, s\)"),
        (b'{"instances": [[1, 2]]}', JSON, r"instances: row 0 has 2 values but the signature has 3 features"),
        (b'{"inputs": {"x": [1, 2], "n": [1]}}', JSON, r"inputs: columns have different lengths: x \(2\), n \(1\)"),
        (b"x,n\n1,2\n", "application/xml", r"content type application/xml is not supported; send application/json"),
        (b"", "text/csv", r"body is not CSV with a header row: .*; send text/csv such as x,y"),
        (b"x,n\n1,2,3\n", "text/csv", r"body is not CSV with a header row: .*Expected 2 columns"),
        (b"s,x\n\xff,1\n", "text/csv", r"body is not CSV with a header row: .*UTF8"),
    ],
)
def test_malformed_bodies_are_refused_with_the_fix(body: bytes, content_type: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        decode_mlflow(body, content_type, FEATURES)


def test_dataframe_split_without_columns_needs_a_signature() -> None:
    with pytest.raises(InvalidInput, match="no columns, and the model has no signature"):
        decode_mlflow(b'{"dataframe_split": {"data": [[1]]}}', JSON, None)
