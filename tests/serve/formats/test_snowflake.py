"""serve.formats._snowflake: Snowflake service-function rows in, indexed rows out."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from registry import DataType, FeatureSpec, InvalidInput
from registry.runtime.signatures import validate_input
from serve.formats import decode_snowflake, encode_snowflake

FEATURES = [FeatureSpec("sepal_length", DataType.FLOAT), FeatureSpec("count", DataType.INT32),
            FeatureSpec("kind", DataType.STRING)]


def test_positional_rows_take_the_signature_order_and_the_indices_are_returned() -> None:
    body = b'{"data": [[0, 5.1, 3, "a"], [1, 6, 4, null]]}'
    table, indices = decode_snowflake(body, FEATURES)
    assert indices == [0, 1]
    assert table.to_pydict() == {"sepal_length": [pytest.approx(5.1), 6.0], "count": [3, 4],
                                 "kind": ["a", None]}
    validate_input(table, FEATURES, strict=True)


def test_rows_of_objects_name_their_columns() -> None:
    body = b'{"data": [[7, {"kind": "a", "count": 1, "sepal_length": 1.5}], [9, {"count": 2}]]}'
    table, indices = decode_snowflake(body, FEATURES)
    assert indices == [7, 9]
    assert table.to_pydict() == {"kind": ["a", None], "count": [1, 2], "sepal_length": [1.5, None]}
    validate_input(table, FEATURES, strict=True)


def test_without_a_signature_values_are_input_feature_columns() -> None:
    table, indices = decode_snowflake(b'{"data": [["r0", 1, 2.5]]}', None)
    assert indices == ["r0"]
    assert table.to_pydict() == {"input_feature_0": [1], "input_feature_1": [2.5]}


def test_no_rows_is_an_empty_table_of_the_features() -> None:
    table, indices = decode_snowflake(b'{"data": []}', FEATURES)
    assert (table.num_rows, indices) == (0, [])
    assert table.schema.types == [pa.float32(), pa.int32(), pa.string()]


def test_round_trip_echoes_each_index_with_an_object_of_the_outputs() -> None:
    body = b'{"data": [[3, 0.25, 1, "cat"], [1, 0, 2, "d\xc3\xb6g"]]}'
    table, indices = decode_snowflake(body, FEATURES)
    score = pc.divide(table.column("sepal_length"), table.column("sepal_length"))  # 0/0 is NaN
    outputs = pa.table({"score": pc.multiply(score, table.column("sepal_length")),
                        "label": table.column("kind")})
    assert outputs.schema.types == [pa.float32(), pa.string()]
    answer = encode_snowflake(indices, outputs)
    assert json.loads(answer) == {"data": [[3, {"score": 0.25, "label": "cat"}],
                                           [1, {"score": None, "label": "dög"}]]}
    assert "dög".encode() in answer  # UTF-8, not \u escapes


def test_encode_refuses_a_row_count_that_does_not_match_the_indices() -> None:
    with pytest.raises(ValueError, match="2 row indices for 1 output rows"):
        encode_snowflake([0, 1], pa.table({"y": [1]}))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"data: [[0, 1]]", r"body is not JSON: .*; send a JSON object such as \{\"data\": \[\[0, 5.1"),
        (b"[[0, 1]]", r"a Snowflake request is an object with a data key, not a list; send \{\"data\""),
        (b'{"rows": [[0, 1]]}', r"not an object with keys \['rows'\]; send"),
        (b'{"data": {"0": 1}}', r"data must be a list of rows, not an object"),
        (b'{"data": [[0, 1, 2, "a"], [], 5]}',
         r"invalid Snowflake request: not a non-empty list: rows 1, 2; send each row as \[row_index, value, \.\.\.\]"),
        (b'{"data": [[0.5, 1, 2, "a"], [true, 1, 2, "a"], [null, 1, 2, "a"]]}',
         r"not led by an integer row index: rows 0, 1, 2"),
        (b'{"data": [[0, 1, 2]]}',
         r"data \(the values after each row index\): row 0 has 2 values but the signature has 3 "
         r"features: sepal_length \(FLOAT\), count \(INT32\), kind \(STRING\)"),
        (b'{"data": [[0, {"count": 1}], [1, 1, 2, "a"]]}',
         r"data mixes rows of values with rows of objects \(row 1 not \[row_index, \{\.\.\.\}\]\)"),
        (b'{"data": [[0, 1, 2, "a"], [1, "x", 2, "a"]]}',
         r"column sepal_length cannot be read as one column: .*\(FLOAT for this feature\)"),
    ],
)
def test_malformed_bodies_are_refused_with_the_fix(body: bytes, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        decode_snowflake(body, FEATURES)
