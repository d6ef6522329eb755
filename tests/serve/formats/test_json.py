"""serve.formats._json: JSON bodies in and out, and the JSON form of every Arrow type."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json

import numpy as np
import pyarrow as pa
import pytest

from registry import InvalidInput
from serve.formats._json import (
    dump_json,
    json_columns,
    json_kind,
    json_records,
    jsonable,
    load_json,
)


def test_load_json_refuses_what_is_not_json_and_shows_an_example() -> None:
    assert load_json(b'{"a": [1, 2.5]}', example="{}") == {"a": [1, 2.5]}
    for body in (b"", b"{", b"\xff\xfe\xfa", b"[1,]", b"[" * 100_000):
        with pytest.raises(InvalidInput, match=r"body is not JSON: .*; send a JSON object such as \{\"x\"\}"):
            load_json(body, example='{"x"}')


def test_dump_json_writes_numpy_scalars_and_non_finite_numbers_as_json() -> None:
    doc = {"i": np.int64(3), "f": np.float32(0.5), "nan": np.float32("nan"), "t": "é",
           "d": dt.date(2024, 1, 2), "b": b"\x00\x01"}
    assert json.loads(dump_json(doc)) == {"i": 3, "f": 0.5, "nan": None, "t": "é",
                                          "d": "2024-01-02", "b": "AAE="}
    assert dump_json({"t": "é"}) == '{"t":"é"}'.encode()
    with pytest.raises(ValueError):
        dump_json({"x": np.float64("nan")})  # a float NaN is a bug, never written as NaN
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        dump_json({"x": object()})


def test_json_kind_names_each_json_value() -> None:
    values: tuple[object, ...] = ({}, [], "s", None, True, 1, 1.5)
    assert [json_kind(v) for v in values] == [
        "an object", "a list", "a string", "null", "a boolean", "a number", "a number"]


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([1.5, float("nan"), float("inf"), float("-inf"), None]), [1.5, None, None, None, None]),
        (pa.array([0.25, float("nan")], pa.float32()), [0.25, None]),
        (pa.array([0.5, float("nan")], pa.float16()), [0.5, None]),
        (pa.array([decimal.Decimal("1.25")]), [1.25]),
        (pa.array([1, None], pa.uint64()), [1, None]),
        (pa.array([True, None]), [True, None]),
        (pa.array(["é", None]), ["é", None]),
        (pa.array([b"\x00\xff", None]), ["AP8=", None]),
        (pa.array([b"ab"], pa.large_binary()), ["YWI="]),
        (pa.array([b"ab"], pa.binary(2)), ["YWI="]),
        (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 123456), None]), ["2024-01-02T03:04:05.123456", None]),
        (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("s", tz="UTC")), ["2024-01-02T03:04:05+00:00"]),
        (pa.array([dt.date(2024, 1, 2)]), ["2024-01-02"]),
        (pa.array([dt.time(3, 4, 5)]), ["03:04:05.000000"]),
        (pa.array([dt.timedelta(seconds=2)], pa.duration("ms")), [2000]),
        (pa.array(["a", "b", "a"]).dictionary_encode(), ["a", "b", "a"]),
        (pa.array([[1.0, float("nan")], None, []]), [[1.0, None], None, []]),
        (pa.array([[1.0, float("nan")]], pa.large_list(pa.float64())), [[1.0, None]]),
        (pa.array([[1.0, float("nan")], None], pa.list_(pa.float64(), 2)), [[1.0, None], None]),
        (pa.array([{"x": float("nan"), "b": b"a"}, None]), [{"x": None, "b": "YQ=="}, None]),
        (pa.array([[("k", float("nan"))], None], pa.map_(pa.string(), pa.float64())),
         [[{"key": "k", "value": None}], None]),
        (pa.array([None, None]), [None, None]),
    ],
)
def test_jsonable_writes_each_arrow_type_by_the_module_rule(array: pa.Array, expected: list[object]) -> None:
    values = jsonable(array).to_pylist()
    assert values == expected
    json.dumps(values, allow_nan=False)


def test_jsonable_keeps_the_slice_of_a_sliced_nested_array() -> None:
    lists = pa.array([[9.0], [1.0, float("nan")], None, [2.0]]).slice(1)
    assert jsonable(lists).to_pylist() == [[1.0, None], None, [2.0]]
    fixed = pa.array([[9, 9], [1, 2], None], pa.list_(pa.int64(), 2)).slice(1)
    assert jsonable(fixed).to_pylist() == [[1, 2], None]
    maps = pa.array([[("z", 9.0)], [("a", float("nan"))]], pa.map_(pa.string(), pa.float64())).slice(1)
    assert jsonable(maps).to_pylist() == [[{"key": "a", "value": None}]]
    structs = pa.array([{"x": 9.0}, {"x": float("inf")}]).slice(1)
    assert jsonable(structs).to_pylist() == [{"x": None}]


def test_json_columns_and_records_cover_every_chunk_and_rows_without_columns() -> None:
    table = pa.Table.from_batches([
        pa.record_batch({"x": pa.array([1.0], pa.float32()), "s": ["a"]}),
        pa.record_batch({"x": pa.array([float("nan")], pa.float32()), "s": ["b"]}),
    ])
    assert json_columns(table) == [[1.0, None], ["a", "b"]]
    assert json_records(table) == [{"x": 1.0, "s": "a"}, {"x": None, "s": "b"}]
    assert json_records(pa.table({"x": [1, 2]}).select([])) == [{}, {}]
    assert base64.b64decode(json_records(pa.table({"b": [b"\x01"]}))[0]["b"]) == b"\x01"
