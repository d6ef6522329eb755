"""serve.formats._oip_request: infer requests as tritonclient writes them, JSON and binary."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import tritonclient.http as triton

from registry import DataType, FeatureSpec, InvalidInput
from registry.runtime.signatures import validate_input
from serve.formats import OipRequest, OipTensor, oip_to_table, parse_oip_request

ARRAYS: dict[str, np.ndarray[Any, Any]] = {
    "FP32": np.array([[0.5, -1.25, 3.0], [1e-3, 2.0, np.inf]], dtype=np.float32),
    "FP64": np.array([[0.1, 2.0, -3.5], [1e300, 0.0, 7.0]], dtype=np.float64),
    "FP16": np.array([[0.5, 1.0, 2.0], [4.0, 8.0, 16.0]], dtype=np.float16),
    "INT64": np.array([[1, -2, 2**62], [0, 5, -(2**63)]], dtype=np.int64),
    "INT8": np.array([[1, -128, 127], [0, 5, 6]], dtype=np.int8),
    "UINT16": np.array([[1, 65535, 0], [3, 4, 5]], dtype=np.uint16),
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "BYTES": np.array([[b"a", b"", "dög".encode()], [b"x" * 40, b"y", b"z"]], dtype=object),
}


def request_body(
    inputs: list[tuple[str, np.ndarray[Any, Any], str, bool]],
    outputs: list[tuple[str, bool]] | None = None,
    *,
    request_id: str = "",
    parameters: dict[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    infer_inputs = []
    for name, array, datatype, binary in inputs:
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        infer_inputs.append(tensor)
    requested = [triton.InferRequestedOutput(name, binary_data=b) for name, b in outputs or []]
    body, json_size = triton.InferenceServerClient.generate_request_body(
        infer_inputs, outputs=requested or None, request_id=request_id, parameters=parameters)
    return body, json_size


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", list(ARRAYS))
def test_tensors_read_back_as_tritonclient_sent_them(datatype: str, binary: bool) -> None:
    array = ARRAYS[datatype]
    body, header_length = request_body(
        [("t", array, datatype, binary)], [("y", binary)], request_id="req-1",
        parameters={"function": "predict_proba"})
    assert (header_length is not None) == binary
    request = parse_oip_request(body, header_length)
    assert (request.id, request.function, request.binary_data_output) == ("req-1", "predict_proba", False)
    assert [(o.name, o.binary_data) for o in request.outputs] == [("y", binary)]
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("t", datatype, (2, 3))
    assert tensor.values.shape == (2, 3)
    if datatype == "BYTES":
        assert tensor.values.tolist() == array.tolist()
    else:
        assert tensor.values.dtype == array.dtype
        np.testing.assert_array_equal(tensor.values, array)


def test_binary_and_json_tensors_mix_and_binary_ones_are_read_in_order() -> None:
    first = np.arange(4, dtype=np.int32)
    names = np.array([b"ab", b"c", b"", b"def"], dtype=object)
    last = np.array([0.5, 1.5, 2.5, 3.5])
    body, header_length = request_body([("a", first, "INT32", True), ("s", names, "BYTES", False),
                                        ("b", names, "BYTES", True), ("c", last, "FP64", True)])
    request = parse_oip_request(body, header_length)
    assert [t.values.tolist() for t in request.inputs] == [
        [0, 1, 2, 3], names.tolist(), names.tolist(), [0.5, 1.5, 2.5, 3.5]]


def test_no_requested_outputs_means_binary_data_output_as_tritonclient_asks() -> None:
    body, header_length = request_body([("x", np.ones(2, np.float32), "FP32", False)])
    request = parse_oip_request(body, header_length)
    assert (request.outputs, request.binary_data_output, request.id, request.function) == (
        (), True, None, None)


def test_a_json_header_with_zero_binary_tensors_may_still_carry_the_header_length() -> None:
    body = json.dumps({"inputs": [{"name": "x", "datatype": "INT64", "shape": [2],
                                   "data": [[1], [2]]}]}).encode()
    assert parse_oip_request(body, len(body)).inputs[0].values.tolist() == [1, 2]


FEATURES = [FeatureSpec("a", DataType.FLOAT), FeatureSpec("n", DataType.INT32),
            FeatureSpec("s", DataType.STRING), FeatureSpec("b", DataType.BYTES),
            FeatureSpec("f", DataType.BOOL)]


def test_one_tensor_per_feature_builds_a_table_the_run_path_accepts() -> None:
    body, header_length = request_body([
        ("a", np.array([1.5, 2.5]), "FP64", True),           # FP64 for a FLOAT feature
        ("n", np.array([[1], [2]], dtype=np.int64), "INT64", False),  # [N, 1], INT64 for INT32
        ("s", np.array(["x", "dög"], dtype=object), "BYTES", True),
        ("b", np.array([b"\xff", b""], dtype=object), "BYTES", True),
        ("f", np.array([True, False]), "BOOL", True),
    ])
    table = oip_to_table(parse_oip_request(body, header_length), FEATURES)
    checked = validate_input(table, FEATURES, strict=True)
    assert checked.to_pydict() == {"a": [1.5, 2.5], "n": [1, 2], "s": ["x", "dög"],
                                   "b": [b"\xff", b""], "f": [True, False]}


def test_one_input_matrix_is_the_features_in_signature_order() -> None:
    features = [FeatureSpec("x", DataType.DOUBLE), FeatureSpec("y", DataType.FLOAT)]
    matrix = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    body, header_length = request_body([("input", matrix, "FP64", True)])
    table = oip_to_table(parse_oip_request(body, header_length), features)
    assert validate_input(table, features, strict=True).to_pydict() == {
        "x": [1.0, 3.0, 5.0], "y": [2.0, 4.0, 6.0]}
    unsigned = oip_to_table(parse_oip_request(body, header_length), None)
    assert unsigned.to_pydict() == {"input_feature_0": [1.0, 3.0, 5.0],
                                    "input_feature_1": [2.0, 4.0, 6.0]}
    one = [FeatureSpec("x", DataType.DOUBLE)]
    body, header_length = request_body([("input", np.array([1.0, 2.0]), "FP64", False)])
    assert oip_to_table(parse_oip_request(body, header_length), one).to_pydict() == {"x": [1.0, 2.0]}


def test_without_a_signature_each_tensor_is_a_column_and_bytes_are_text_when_utf8() -> None:
    body, header_length = request_body([
        ("t", np.array(["é", "b"], dtype=object), "BYTES", True),
        ("raw", np.array([b"\xff", b"a"], dtype=object), "BYTES", True),
        ("v", np.array([1, 2], dtype=np.uint8), "UINT8", True),
    ])
    table = oip_to_table(parse_oip_request(body, header_length), None)
    assert table.schema == pa.schema([("t", pa.string()), ("raw", pa.binary()), ("v", pa.uint8())])


def tensor(name: str, values: list[Any], datatype: str = "FP64") -> OipTensor:
    array = np.array(values)
    return OipTensor(name, datatype, array.shape, array)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("inputs", "features", "match"),
    [
        ([tensor("a", [1.0]), tensor("z", [1.0]), tensor("q", [1.0])], FEATURES,
         r"inputs z, q are not features of this function; send one tensor per feature \(a FLOAT, "
         r"n INT32, s STRING, b BYTES, f BOOL\) or one \[N, 5\] tensor named input"),
        ([tensor("a", [[1.0, 2.0]])], FEATURES,
         r"input a has shape \[1, 2\]; send shape \[N\] or \[N, 1\] per feature"),
        ([tensor("a", [[[1.0]]])], None, r"input a has shape \[1, 1, 1\]"),
        ([tensor("a", [1.0, 2.0]), tensor("n", [1], "INT64")], FEATURES,
         r"the inputs have different row counts: a 2, n 1"),
        ([tensor("input", [[1.0, 2.0]])], FEATURES,
         r"input input has shape \[1, 2\]; send shape \[N, 5\] \(one column per feature: a, n, s, b, f\)"),
        ([tensor("input", [1.0, 2.0])], None, r"input input has shape \[2\]; send shape \[N, F\]"),
    ],
)
def test_tensors_that_do_not_fit_the_signature_are_refused(
    inputs: list[OipTensor], features: list[FeatureSpec] | None, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        oip_to_table(OipRequest(id=None, function=None, inputs=tuple(inputs)), features)


def header(*inputs: Any, **doc: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **doc}).encode()


X = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}
BIN = {"name": "x", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}


def with_binary(doc: bytes, tail: bytes) -> tuple[bytes, int]:
    return doc + tail, len(doc)


@pytest.mark.parametrize(
    ("body", "header_length", "match"),
    [
        (b"{}", 5, r"Inference-Header-Content-Length is 5 but the body has 2 bytes; send the byte length"),
        (b"{}", -1, r"Inference-Header-Content-Length is -1"),
        (b"inputs", None, r"body is not JSON: .*; send a JSON object such as \{\"inputs\""),
        (b"[]", None, r"an infer request is a JSON object, not a list"),
        (b"{}", None, r"invalid infer request: inputs is missing; send, for example, \{\"inputs\""),
        (b'{"inputs": []}', None, r"inputs is not a non-empty list of tensors"),
        (header(X, id=5), None, r"id is a number, not a string"),
        (header(X, parameters=[]), None, r"the request's parameters is a list, not an object"),
        (header(X, parameters={"function": 1}), None, r"parameters.function is a number, not a string"),
        (header(X, parameters={"binary_data_output": "yes"}), None,
         r"parameters.binary_data_output is a string, not a boolean"),
        (header(X, outputs={}), None, r"outputs is an object, not a list"),
        (header(X, outputs=[{"parameters": {}}]), None, r"outputs\[0\] is not an object with a name"),
        (header(X, outputs=[{"name": "y", "parameters": {"binary_data": 1}}]), None,
         r"output y has binary_data 1; give true or false"),
        (header(X, outputs=[{"name": "y", "parameters": {"classification": 2}}]), None,
         r"output y asks for classification, which Floe does not serve"),
        (header(5, {"datatype": "FP32"}), None, r"inputs\[0\] is a number, not an object; inputs\[1\] has no name"),
        (header(X, X), None, r"input x is given twice"),
        (header({**X, "datatype": "BF16"}), None,
         r"input x has datatype 'BF16'; use one of BOOL, INT8, .*, FP64, BYTES"),
        (header({**X, "shape": [2, -1]}), None, r"input x has shape \[2, -1\]; give a list of non-negative integers"),
        (header({**X, "shape": "2"}), None, r"input x has shape '2'"),
        (header({"name": "x", "datatype": "FP32", "shape": [2]}), None,
         r"input x has no data; give data or parameters.binary_data_size"),
        (header({**X, "parameters": {"shared_memory_region": "r"}}), None,
         r"input x uses shared memory, which Floe does not serve"),
        (header(BIN), None, r"input x has binary_data_size but the request has no Inference-Header-Content-Length"),
        (*with_binary(header({**BIN, "data": [1.0, 2.0]}), b"\x00" * 8),
         r"input x has both data and binary_data_size; send one"),
        (*with_binary(header({**BIN, "parameters": {"binary_data_size": -8}}), b""),
         r"input x has binary_data_size -8; give a byte count"),
        (*with_binary(header(BIN), b"\x00" * 12),
         r"the inputs' binary_data_size add up to 8 bytes but 12 bytes follow the JSON header"),
        (*with_binary(header({**BIN, "shape": [3]}), b"\x00" * 8),
         r"input x has shape \[3\], 3 FP32 elements of 4 bytes, but binary_data_size is 8"),
        (*with_binary(header({**BIN, "datatype": "BYTES"}), b"\x09\x00\x00\x00abcd"),
         r"input x's binary data is not BYTES elements: element 0 says 9 bytes but only 4 remain"),
        (*with_binary(header({**BIN, "datatype": "BYTES", "shape": [1]}), b"\x00" * 8),
         r"input x has shape \[1\] \(1 elements\) but its binary data holds more than 1"),
        (*with_binary(header({**BIN, "datatype": "BYTES", "shape": [3]}), b"\x00" * 8),
         r"input x has shape \[3\] \(3 elements\) but its binary data holds 2"),
        (header({**X, "data": [1.0]}), None, r"input x has shape \[2\] \(2 elements\) but its data holds 1"),
        (header({**X, "data": 1.0}), None, r"input x has data a number, not a list"),
        (header({**X, "data": [[1.0], [2.0, 3.0]]}), None, r"input x's data is ragged"),
        (header({**X, "data": ["1", "2"]}), None, r"input x is FP32 but its data holds values that are not numbers"),
        (header({**X, "data": [1.0, None]}), None, r"values that are not numbers"),
        (header({**X, "datatype": "INT64", "data": [1, 2.5]}), None,
         r"input x is INT64 but its data holds values that are not integers"),
        (header({**X, "datatype": "BOOL", "data": [1, 0]}), None,
         r"input x is BOOL but its data holds values that are not true/false"),
        (header({**X, "datatype": "BYTES", "data": ["a", 1]}), None,
         r"input x is BYTES but its data holds values that are not strings"),
        (header({**X, "datatype": "INT8", "data": [1, 300]}), None,
         r"input x holds values outside INT8's range -128..127"),
        (header({**X, "datatype": "UINT64", "data": [1, -1]}), None, r"outside UINT64's range 0\.\."),
    ],
)
def test_malformed_requests_are_refused_with_the_fix(body: bytes, header_length: int | None,
                                                     match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_oip_request(body, header_length)


def test_every_problem_of_a_request_is_named_at_once() -> None:
    body = header({**X, "datatype": "BF16"}, {**X, "name": "y", "shape": None}, id=1)
    with pytest.raises(InvalidInput, match=r"id is a number.*input x has datatype 'BF16'.*input y has shape None"):
        parse_oip_request(body, None)


def test_empty_tensors_and_an_empty_json_list_read_as_zero_rows() -> None:
    body = header({"name": "x", "datatype": "INT32", "shape": [0], "data": []},
                  {"name": "s", "datatype": "BYTES", "shape": [0], "parameters": {"binary_data_size": 0}})
    request = parse_oip_request(body, len(body))
    assert [(t.values.shape, t.values.dtype.kind) for t in request.inputs] == [((0,), "i"), ((0,), "O")]
