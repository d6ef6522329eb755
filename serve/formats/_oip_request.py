"""Open Inference Protocol (KServe v2) infer requests: parse the body, then build the table.

``parse_oip_request`` reads the JSON header and, when the request uses the binary tensor
data extension (an ``Inference-Header-Content-Length`` header), the tensors that carry
``parameters.binary_data_size``, in order, from the bytes after it. ``oip_to_table`` turns
the tensors into model input: one ``[N]`` (or ``[N, 1]``) tensor per feature, or one
``[N, F]`` tensor named ``input`` whose columns are the features in signature order::

    {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [5.1, 3.5]}],
     "parameters": {"function": "predict_proba"}}
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa

from registry import DataType, FeatureSpec, InvalidInput
from serve.formats._columns import conform_array, positional_names
from serve.formats._json import json_kind, load_json
from serve.formats._oip_types import (
    OIP_DATATYPES,
    OipDatatype,
    is_oip_datatype,
    numpy_dtype,
    read_bytes_elements,
)

__all__ = ["OipOutputRequest", "OipRequest", "OipTensor", "oip_to_table", "parse_oip_request"]

log = logging.getLogger(__name__)

MATRIX_INPUT = "input"
_EXAMPLE = ('{"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], '
            '"data": [5.1, 3.5]}]}')
_KINDS: dict[str, str] = {"BOOL": "b", "FP16": "iuf", "FP32": "iuf", "FP64": "iuf"}


@dataclass(frozen=True, eq=False)
class OipTensor:
    """An input tensor; ``values`` is a numpy array of ``shape`` (object array of ``bytes``
    for BYTES)."""

    name: str
    datatype: OipDatatype
    shape: tuple[int, ...]
    values: np.ndarray[Any, Any]


@dataclass(frozen=True)
class OipOutputRequest:
    """A requested output; ``binary_data`` None leaves it to the request's default."""

    name: str
    binary_data: bool | None = None


@dataclass(frozen=True, eq=False)
class OipRequest:
    """A parsed infer request."""

    id: str | None
    function: str | None
    inputs: tuple[OipTensor, ...]
    outputs: tuple[OipOutputRequest, ...] = ()
    binary_data_output: bool = False


def parse_oip_request(body: bytes, header_length: int | None) -> OipRequest:
    """The infer request in ``body``; ``header_length`` is the Inference-Header-Content-Length
    header (None without the binary extension). Every problem is refused at once."""
    if header_length is not None and not 0 <= header_length <= len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length is {header_length} but the body has {len(body)} "
            "bytes; send the byte length of the JSON header that starts the body"
        )
    split = len(body) if header_length is None else header_length
    doc = load_json(body[:split], example=_EXAMPLE)
    if not isinstance(doc, dict):
        raise InvalidInput(f"an infer request is a JSON object, not {json_kind(doc)}; send {_EXAMPLE}")
    problems: list[str] = []
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        problems.append(f"id is {json_kind(request_id)}, not a string")
    parameters = _object(doc, "parameters", "request", problems)
    function = parameters.get("function")
    if function is not None and not isinstance(function, str):
        problems.append(f"parameters.function is {json_kind(function)}, not a string")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        problems.append(f"parameters.binary_data_output is {json_kind(binary_output)}, not a boolean")
    specs = _input_specs(doc.get("inputs"), problems, has_binary=header_length is not None)
    outputs = _output_requests(doc.get("outputs", []), problems)
    sizes = [size for *_, size in specs if size is not None]
    tail = memoryview(body)[split:]
    if not problems and sum(sizes) != len(tail):
        problems.append(
            f"the inputs' binary_data_size add up to {sum(sizes)} bytes but {len(tail)} bytes "
            "follow the JSON header"
        )
    _refuse(problems)
    tensors, position = [], 0
    for name, datatype, shape, data, size in specs:
        if size is not None:
            values = _binary_values(name, datatype, shape, tail[position:position + size], problems)
            position += size
        else:
            values = _json_values(name, datatype, shape, data, problems)
        if values is not None:
            tensors.append(OipTensor(name, datatype, shape, values.reshape(shape)))
    _refuse(problems)
    return OipRequest(
        id=request_id, function=function, inputs=tuple(tensors), outputs=outputs,
        binary_data_output=binary_output,
    )


def _refuse(problems: list[str]) -> None:
    if problems:
        raise InvalidInput(
            "invalid infer request: " + "; ".join(problems) + f"; send, for example, {_EXAMPLE}"
        )


def _object(doc: dict[str, Any], key: str, what: str, problems: list[str]) -> dict[str, Any]:
    value = doc.get(key, {})
    if isinstance(value, dict):
        return value
    problems.append(f"the {what}'s {key} is {json_kind(value)}, not an object")
    return {}


_Spec = tuple[str, OipDatatype, tuple[int, ...], Any, int | None]


def _input_specs(inputs: Any, problems: list[str], *, has_binary: bool) -> list[_Spec]:
    if not isinstance(inputs, list) or not inputs:
        problems.append("inputs is missing" if inputs is None
                        else "inputs is not a non-empty list of tensors")
        return []
    specs: list[_Spec] = []
    seen: set[str] = set()
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            problems.append(f"inputs[{i}] is {json_kind(tensor)}, not an object")
            continue
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"inputs[{i}] has no name")
            continue
        where = f"input {name}"
        if name in seen:
            problems.append(f"{where} is given twice")
        seen.add(name)
        datatype, shape = tensor.get("datatype"), tensor.get("shape")
        count = len(problems)
        if not is_oip_datatype(datatype):
            problems.append(f"{where} has datatype {datatype!r}; use one of "
                            + ", ".join(OIP_DATATYPES))
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            problems.append(f"{where} has shape {shape!r}; give a list of non-negative integers")
        parameters = _object(tensor, "parameters", where, problems)
        if "shared_memory_region" in parameters:
            problems.append(f"{where} uses shared memory, which Floe does not serve; send its "
                            "data in the body")
        size = parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                problems.append(f"{where} has binary_data_size {size!r}; give a byte count")
            elif not has_binary:
                problems.append(f"{where} has binary_data_size but the request has no "
                                "Inference-Header-Content-Length header; send that header with "
                                "the JSON header's byte length")
            if "data" in tensor:
                problems.append(f"{where} has both data and binary_data_size; send one")
        elif "data" not in tensor and "shared_memory_region" not in parameters:
            problems.append(f"{where} has no data; give data or parameters.binary_data_size")
        if len(problems) == count:
            dims = tuple(cast(list[int], shape))
            specs.append((name, cast(OipDatatype, datatype), dims, tensor.get("data"), size))
    return specs


def _output_requests(outputs: Any, problems: list[str]) -> tuple[OipOutputRequest, ...]:
    if not isinstance(outputs, list):
        problems.append(f"outputs is {json_kind(outputs)}, not a list")
        return ()
    requested: list[OipOutputRequest] = []
    for i, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"outputs[{i}] is not an object with a name")
            continue
        parameters = _object(output, "parameters", f"output {name}", problems)
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            problems.append(f"output {name} has binary_data {binary!r}; give true or false")
            binary = None
        for unsupported in ("classification", "shared_memory_region"):
            if unsupported in parameters:
                problems.append(f"output {name} asks for {unsupported}, which Floe does not "
                                "serve; leave it out")
        requested.append(OipOutputRequest(name, binary))
    return tuple(requested)


def _binary_values(name: str, datatype: OipDatatype, shape: tuple[int, ...], chunk: memoryview,
                   problems: list[str]) -> np.ndarray[Any, Any] | None:
    count = math.prod(shape)
    dtype = numpy_dtype(datatype)
    if dtype is None:
        elements = read_bytes_elements(chunk, most=count)
        if isinstance(elements, str):
            problems.append(f"input {name}'s binary data is not BYTES elements: {elements}")
            return None
        if len(elements) != count:
            held = f"more than {count}" if len(elements) > count else str(len(elements))
            problems.append(f"input {name} has shape {list(shape)} ({count} elements) but its "
                            f"binary data holds {held}")
            return None
        values = np.empty(count, dtype=object)
        values[:] = elements
        return values
    if len(chunk) != count * dtype.itemsize:
        problems.append(f"input {name} has shape {list(shape)}, {count} {datatype} elements of "
                        f"{dtype.itemsize} bytes, but binary_data_size is {len(chunk)}")
        return None
    array: np.ndarray[Any, Any] = np.frombuffer(chunk, dtype=dtype)
    if datatype == "BOOL":
        return array.astype(bool)  # any non-zero byte is true
    return array.astype(dtype.newbyteorder("="), copy=False)


def _json_values(name: str, datatype: OipDatatype, shape: tuple[int, ...], data: Any,
                 problems: list[str]) -> np.ndarray[Any, Any] | None:
    count = math.prod(shape)
    where = f"input {name}"
    if not isinstance(data, list):
        problems.append(f"{where} has data {json_kind(data)}, not a list")
        return None
    if datatype == "BYTES":
        flat = _flatten(data)
        if not all(isinstance(v, str) for v in flat):
            problems.append(f"{where} is BYTES but its data holds values that are not strings")
            return None
        values = np.empty(len(flat), dtype=object)
        values[:] = [v.encode() for v in flat]
    else:
        dtype = numpy_dtype(datatype)
        assert dtype is not None
        try:
            parsed = np.array(data).reshape(-1)
        except ValueError:
            problems.append(f"{where}'s data is ragged; send a flat, row-major list")
            return None
        native: np.dtype[Any] = np.dtype(bool) if datatype == "BOOL" else dtype.newbyteorder("=")
        kinds = _KINDS.get(datatype, "iu")
        if parsed.size and parsed.dtype.kind not in kinds:
            wanted = {"b": "true/false", "iu": "integers", "iuf": "numbers"}[kinds]
            problems.append(f"{where} is {datatype} but its data holds values that are not "
                            f"{wanted}")
            return None
        if parsed.size and kinds == "iu":
            info = np.iinfo(native.type)
            if parsed.min() < info.min or parsed.max() > info.max:
                problems.append(f"{where} holds values outside {datatype}'s range "
                                f"{info.min}..{info.max}")
                return None
        values = parsed.astype(native)
    if values.size != count:
        problems.append(f"{where} has shape {list(shape)} ({count} elements) but its data "
                        f"holds {values.size}")
        return None
    return values


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def oip_to_table(request: OipRequest, features: Sequence[FeatureSpec] | None) -> pa.Table:
    """The model input of ``request``'s tensors (see the module)."""
    names = [t.name for t in request.inputs]
    specs = {f.name: f for f in features} if features is not None else {}
    if names == [MATRIX_INPUT] and MATRIX_INPUT not in specs:
        return _matrix_table(request.inputs[0], features)
    if features is not None:
        unknown = [name for name in names if name not in specs]
        if unknown:
            raise InvalidInput(
                "inputs " + ", ".join(unknown) + " are not features of this function; send "
                "one tensor per feature (" + ", ".join(f"{f.name} {f.dtype.value}" for f in features)
                + f") or one [N, {len(features)}] tensor named {MATRIX_INPUT} with the "
                "features' columns in that order"
            )
    problems = [
        f"input {t.name} has shape {list(t.shape)}; send shape [N] or [N, 1] per feature"
        for t in request.inputs if not (len(t.shape) == 1 or (len(t.shape) == 2 and t.shape[1] == 1))
    ]
    rows = {t.shape[0] for t in request.inputs if t.shape}
    if not problems and len(rows) > 1:
        problems.append("the inputs have different row counts: " + ", ".join(
            f"{t.name} {t.shape[0]}" for t in request.inputs))
    if problems:
        raise InvalidInput(
            "invalid inputs: " + "; ".join(problems)
            + f"; or send one [N, F] tensor named {MATRIX_INPUT}"
        )
    arrays = [_column(t.name, t.values.reshape(-1), specs.get(t.name)) for t in request.inputs]
    return pa.Table.from_arrays(arrays, names=names)


def _matrix_table(tensor: OipTensor, features: Sequence[FeatureSpec] | None) -> pa.Table:
    values = tensor.values
    if values.ndim == 1 and features is not None and len(features) == 1:
        values = values.reshape(-1, 1)
    width = len(features) if features is not None else (values.shape[1] if values.ndim == 2 else 0)
    if values.ndim != 2 or values.shape[1] != width:
        expected = (f"[N, {width}] (one column per feature: "
                    + ", ".join(f.name for f in features) + ")" if features is not None
                    else "[N, F]")
        raise InvalidInput(
            f"input {MATRIX_INPUT} has shape {list(tensor.shape)}; send shape {expected}"
        )
    names = positional_names(features, width)
    specs = {f.name: f for f in features} if features is not None else {}
    arrays = [_column(name, values[:, i], specs.get(name)) for i, name in enumerate(names)]
    return pa.Table.from_arrays(arrays, names=names)


def _column(name: str, values: np.ndarray[Any, Any], spec: FeatureSpec | None) -> pa.Array:
    if values.dtype == object:  # BYTES: UTF-8 text unless the feature takes bytes
        array = pa.array(values.tolist(), pa.binary())
        if spec is None or spec.dtype != DataType.BYTES:
            with contextlib.suppress(pa.ArrowInvalid):  # not UTF-8: left as bytes
                array = array.cast(pa.string())
    else:
        array = pa.array(np.ascontiguousarray(values))
    return conform_array(array, spec, name=name, where="inputs")
