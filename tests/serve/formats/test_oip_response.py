"""serve.formats._oip_response: infer responses as tritonclient reads them, and metadata."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import tritonclient.http as triton
from tritonclient.utils import triton_to_np_dtype

from registry import DataType, FeatureSpec, InvalidInput, ModelError
from serve.formats import (
    OipOutputRequest,
    OipRequest,
    encode_oip,
    oip_model_metadata,
    oip_to_table,
    parse_oip_request,
)

HEADER = "Inference-Header-Content-Length"


def read(body: bytes, headers: dict[str, str]) -> Any:
    length = headers.get(HEADER)
    return triton.InferenceServerClient.parse_response_body(
        body, header_length=int(length) if length is not None else None)


def request(*outputs: OipOutputRequest, binary: bool = False, request_id: str | None = "r-1") -> OipRequest:
    return OipRequest(id=request_id, function=None, inputs=(), outputs=outputs,
                      binary_data_output=binary)


OUTPUTS = pa.table({
    "fp32": pa.array([0.5, float("nan"), None], pa.float32()),
    "fp64": pa.array([0.1, -2.0, 1e300]),
    "int64": pa.array([1, -(2**63), 2**62]),
    "bool": pa.array([True, False, True]),
    "text": pa.array(["cat", "dög", ""]),
    "fp16": pa.array([0.5, 1.0, 2.0], pa.float16()),
    "uint8": pa.array([0, 255, 7], pa.uint8()),
})
EXPECTED: dict[str, tuple[str, list[Any]]] = {
    "fp32": ("FP32", [0.5, np.nan, np.nan]),
    "fp64": ("FP64", [0.1, -2.0, 1e300]),
    "int64": ("INT64", [1, -(2**63), 2**62]),
    "bool": ("BOOL", [True, False, True]),
    "text": ("BYTES", ["cat", "dög", ""]),
    "fp16": ("FP16", [0.5, 1.0, 2.0]),
    "uint8": ("UINT8", [0, 255, 7]),
}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_output_reads_back_in_tritonclient(binary: bool) -> None:
    body, headers = encode_oip(request(binary=binary), OUTPUTS, model_name="iris", model_version="v2")
    if binary:
        assert headers == {HEADER: headers[HEADER], "content-type": "application/octet-stream"}
    else:
        assert headers == {"content-type": "application/json"}
    result = read(body, headers)
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("iris", "v2", "r-1")
    for output in response["outputs"]:
        datatype, values = EXPECTED[output["name"]]
        assert (output["datatype"], output["shape"]) == (datatype, [3])
        assert ("data" in output) != binary
        assert ("parameters" in output) == binary
        array = result.as_numpy(output["name"])
        if datatype == "BYTES":
            got = [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]
            assert got == values
            assert isinstance(array[0], bytes) == binary
        else:
            np.testing.assert_array_equal(array, np.array(values, dtype=array.dtype))
            assert array.dtype == triton_to_np_dtype(datatype)
    assert [o["name"] for o in response["outputs"]] == OUTPUTS.column_names


def test_float32_and_string_outputs_keep_their_types_in_both_modes() -> None:
    outputs = pa.table({"score": pa.array([0.25, 0.75], pa.float32()), "label": ["a", "b"]})
    for binary in (True, False):
        body, headers = encode_oip(request(binary=binary), outputs, model_name="m", model_version="1")
        result = read(body, headers)
        assert result.as_numpy("score").dtype == np.float32
        assert result.as_numpy("score").tolist() == [0.25, 0.75]
        assert [o["datatype"] for o in result.get_response()["outputs"]] == ["FP32", "BYTES"]


def test_requested_outputs_choose_the_tensors_their_order_and_each_ones_mode() -> None:
    wanted = request(OipOutputRequest("text", binary_data=True), OipOutputRequest("fp64"),
                     OipOutputRequest("bool", binary_data=False), binary=True)
    body, headers = encode_oip(wanted, OUTPUTS, model_name="m", model_version="1")
    result = read(body, headers)
    outputs = result.get_response()["outputs"]
    assert [(o["name"], "data" in o) for o in outputs] == [("text", False), ("fp64", False),
                                                           ("bool", True)]
    assert result.as_numpy("text").tolist() == [b"cat", "dög".encode(), b""]
    assert result.as_numpy("fp64").tolist() == [0.1, -2.0, 1e300]
    assert result.as_numpy("bool").tolist() == [True, False, True]
    json_only = request(OipOutputRequest("fp32", binary_data=False), binary=True)
    body, headers = encode_oip(json_only, OUTPUTS, model_name="m", model_version="1")
    assert headers == {"content-type": "application/json"}
    assert json.loads(body)["outputs"][0]["data"] == [0.5, None, None]


def test_a_whole_round_trip_through_tritonclient() -> None:
    features = [FeatureSpec("x", DataType.FLOAT), FeatureSpec("name", DataType.STRING)]
    x = triton.InferInput("x", [2], "FP32")
    x.set_data_from_numpy(np.array([1.0, 2.0], np.float32), binary_data=True)
    name = triton.InferInput("name", [2], "BYTES")
    name.set_data_from_numpy(np.array(["a", "b"], dtype=object), binary_data=False)
    wanted = [triton.InferRequestedOutput("y", binary_data=True),
              triton.InferRequestedOutput("label", binary_data=False)]
    body, length = triton.InferenceServerClient.generate_request_body(
        [x, name], outputs=wanted, request_id="42")
    parsed = parse_oip_request(body, length)
    table = oip_to_table(parsed, features)
    outputs = pa.table({"label": pa.compute.utf8_upper(table.column("name")),
                        "y": pa.compute.multiply(table.column("x"), pa.scalar(2.0, pa.float32()))})
    answer, headers = encode_oip(parsed, outputs, model_name="m", model_version="7")
    result = read(answer, headers)
    assert result.get_response()["id"] == "42"
    assert result.as_numpy("y").tolist() == [2.0, 4.0]
    assert result.as_numpy("label").tolist() == ["A", "B"]


def test_no_id_is_left_out() -> None:
    body, _ = encode_oip(request(request_id=None), pa.table({"y": [1]}), model_name="m", model_version="1")
    assert "id" not in json.loads(body)


def test_lists_of_one_length_are_two_dimensional_tensors() -> None:
    outputs = pa.table({
        "proba": pa.array([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]], pa.list_(pa.float32())),
        "fixed": pa.array([[1, 2], [3, 4], [5, 6]], pa.list_(pa.int64(), 2)),
    })
    for binary in (True, False):
        body, headers = encode_oip(request(binary=binary), outputs, model_name="m", model_version="1")
        result = read(body, headers)
        assert result.as_numpy("proba").tolist() == [[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]]
        assert result.as_numpy("fixed").shape == (3, 2)


def test_other_arrow_types_map_to_the_nearest_tensor() -> None:
    outputs = pa.table({
        "when": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("us")),
        "day": pa.array([dt.date(2024, 1, 2)]),
        "amount": pa.array([decimal.Decimal("1.00")]),
        "wait": pa.array([dt.timedelta(seconds=1)], pa.duration("s")),
        "cat": pa.array(["a"]).dictionary_encode(),
        "raw": pa.array([b"\xff"]),
    })
    body, headers = encode_oip(request(binary=False), outputs, model_name="m", model_version="1")
    tensors = {o["name"]: (o["datatype"], o["data"]) for o in json.loads(body)["outputs"]}
    assert tensors == {"when": ("BYTES", ["2024-01-02T03:04:05.000000"]), "day": ("BYTES", ["2024-01-02"]),
                       "amount": ("FP64", [1.0]), "wait": ("INT64", [1]), "cat": ("BYTES", ["a"]),
                       "raw": ("BYTES", ["/w=="])}
    body, headers = encode_oip(request(binary=True), outputs, model_name="m", model_version="1")
    result = read(body, headers)
    assert result.as_numpy("raw").tolist() == [b"\xff"]
    assert result.as_numpy("when").tolist() == [b"2024-01-02T03:04:05.000000"]


def test_an_unknown_requested_output_lists_the_available_ones() -> None:
    with pytest.raises(InvalidInput, match=r"requested outputs nope are not outputs of this "
                       r"function; it returns fp32, fp64, int64, bool, text, fp16, uint8; ask for"):
        encode_oip(request(OipOutputRequest("fp32"), OipOutputRequest("nope")), OUTPUTS,
                   model_name="m", model_version="1")


@pytest.mark.parametrize(
    ("column", "match"),
    [
        (pa.array([1, None]), r"iris version v2 returned output y with 1 nulls, which an OIP tensor "
                              r"cannot hold; fill them, or return a float column .*MLflow or Snowflake"),
        (pa.array(["a", None]), r"output y with 1 nulls"),
        (pa.array([[1.0], [1.0, 2.0]]), r"returned output y with lists of 1 to 2 values.*return lists of one length"),
        (pa.array([[1.0], None]), r"returned output y with 1 null lists"),
        (pa.array([{"a": 1}, {"a": 2}]), r"returned output y of type struct<a: int64>.*return numbers"),
    ],
)
def test_outputs_no_tensor_can_hold_are_a_model_error(column: pa.Array, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        encode_oip(request(), pa.table({"y": column}), model_name="iris", model_version="v2")


def test_model_metadata_has_one_tensor_per_feature() -> None:
    inputs = [FeatureSpec("x", DataType.FLOAT), FeatureSpec("when", DataType.TIMESTAMP),
              FeatureSpec("n", DataType.UINT16)]
    outputs = [FeatureSpec("label", DataType.STRING), FeatureSpec("p", DataType.DOUBLE)]
    assert oip_model_metadata("iris", ["v1", "v2"], inputs, outputs, platform="floe_sklearn") == {
        "name": "iris", "versions": ["v1", "v2"], "platform": "floe_sklearn",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]},
                   {"name": "when", "datatype": "BYTES", "shape": [-1]},
                   {"name": "n", "datatype": "UINT16", "shape": [-1]}],
        "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "p", "datatype": "FP64", "shape": [-1]}],
    }
    assert oip_model_metadata("m", (), None, None, platform="p")["inputs"] == []
