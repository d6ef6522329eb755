"""Open Inference Protocol (KServe v2) answers: infer responses and model metadata.

Each output column is one tensor named after it, of shape ``[N]`` (``[N, K]`` for a column
of lists that all hold K values). Its datatype follows the column's Arrow type: ints and
floats by width (float16 is FP16), bool BOOL, and strings, bytes, timestamps (ISO 8601),
dates and times all BYTES; decimals are FP64 and durations INT64 counts of their unit.
Nulls in a float column are sent as NaN (null in JSON data); other tensors cannot hold
nulls, so such an output is refused as a ``ModelError`` naming the model.

In JSON ``data``, strings stay text and bytes are base64 text (JSON cannot carry raw bytes);
in binary outputs (the binary tensor data extension) both are raw BYTES elements.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry import FeatureSpec, InvalidInput, ModelError
from serve.formats._json import dump_json, jsonable
from serve.formats._oip_request import OipRequest
from serve.formats._oip_types import OipDatatype, numpy_dtype, oip_datatype, write_bytes_elements

__all__ = ["encode_oip", "oip_model_metadata"]

log = logging.getLogger(__name__)

HEADER_LENGTH = "Inference-Header-Content-Length"

_BY_ARROW: tuple[tuple[pa.DataType, OipDatatype], ...] = (
    (pa.bool_(), "BOOL"),
    (pa.int8(), "INT8"), (pa.int16(), "INT16"), (pa.int32(), "INT32"), (pa.int64(), "INT64"),
    (pa.uint8(), "UINT8"), (pa.uint16(), "UINT16"), (pa.uint32(), "UINT32"),
    (pa.uint64(), "UINT64"),
    (pa.float16(), "FP16"), (pa.float32(), "FP32"), (pa.float64(), "FP64"),
)


def encode_oip(
    request: OipRequest, outputs: pa.Table, *, model_name: str, model_version: str
) -> tuple[bytes, dict[str, str]]:
    """The infer response body for ``outputs`` and its HTTP headers (see the module)."""
    available = outputs.column_names
    if request.outputs:
        unknown = [o.name for o in request.outputs if o.name not in available]
        if unknown:
            raise InvalidInput(
                "requested outputs " + ", ".join(unknown) + " are not outputs of this function; "
                "it returns " + (", ".join(available) or "no columns") + "; ask for those, or "
                "leave outputs out to get all of them"
            )
        wanted = [
            (available.index(o.name),
             o.binary_data if o.binary_data is not None else request.binary_data_output)
            for o in request.outputs
        ]
    else:
        wanted = [(i, request.binary_data_output) for i in range(len(available))]
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for index, is_binary in wanted:
        name = available[index]
        datatype, shape, flat = _tensor(name, outputs.column(index), model_name, model_version)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if is_binary:
            raw = _raw(datatype, flat)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = jsonable(flat).to_pylist()
        tensors.append(tensor)
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        doc["id"] = request.id
    doc["outputs"] = tensors
    header = dump_json(doc)
    if not chunks:
        return header, {"content-type": "application/json"}
    return header + b"".join(chunks), {
        HEADER_LENGTH: str(len(header)),
        "content-type": "application/octet-stream",
    }


def oip_model_metadata(
    name: str,
    versions: Sequence[str],
    inputs: Sequence[FeatureSpec] | None,
    outputs: Sequence[FeatureSpec] | None,
    *,
    platform: str,
) -> dict[str, Any]:
    """The body of ``GET /v2/models/{name}``: one ``[-1]`` tensor per feature."""
    return {
        "name": name,
        "versions": list(versions),
        "platform": platform,
        "inputs": _metadata_tensors(inputs),
        "outputs": _metadata_tensors(outputs),
    }


def _metadata_tensors(features: Sequence[FeatureSpec] | None) -> list[dict[str, Any]]:
    return [
        {"name": f.name, "datatype": oip_datatype(f.dtype), "shape": [-1]}
        for f in features or ()
    ]


def _tensor(
    name: str, column: pa.ChunkedArray, model_name: str, model_version: str
) -> tuple[OipDatatype, list[int], pa.Array]:
    """The datatype, shape and flat values (nulls only in floats) of one output tensor."""

    def refuse(problem: str, fix: str) -> ModelError:
        return ModelError(
            f"{model_name} version {model_version} returned output {name} {problem}, which an "
            f"OIP tensor cannot hold; {fix}, or call it in the MLflow or Snowflake format"
        )

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    shape = [len(array)]
    while True:
        if isinstance(array, pa.ExtensionArray):
            array = array.storage
        kind = array.type
        if pa.types.is_dictionary(kind):
            array = array.dictionary_decode()
        elif pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) \
                or pa.types.is_large_list(kind):
            if array.null_count:
                raise refuse(f"with {array.null_count} null lists", "return a list in every row")
            if pa.types.is_fixed_size_list(kind):
                width = kind.list_size
            else:
                lengths = pc.list_value_length(array)
                low, high = pc.min(lengths).as_py(), pc.max(lengths).as_py()
                if low != high:
                    raise refuse(f"with lists of {low} to {high} values",
                                 "return lists of one length")
                width = low or 0
            array = array.flatten()
            shape.append(width)
        else:
            break
    datatype = _datatype(array.type)
    if datatype is None:
        raise refuse(f"of type {array.type}", "return numbers, booleans, text or bytes")
    if pa.types.is_decimal(array.type) or pa.types.is_null(array.type):
        array = array.cast(pa.float64())
    elif pa.types.is_duration(array.type):
        array = array.cast(pa.int64())
    elif datatype == "BYTES" and not _is_text_or_bytes(array.type):
        array = jsonable(array)  # timestamps, dates, times: ISO 8601 text
    if array.null_count and not pa.types.is_floating(array.type):
        raise refuse(f"with {array.null_count} nulls",
                     "fill them, or return a float column (nulls are sent as NaN)")
    return datatype, shape, array  # float nulls: null in JSON data, NaN in binary (to_numpy)


def _datatype(kind: pa.DataType) -> OipDatatype | None:
    for arrow, datatype in _BY_ARROW:
        if kind.equals(arrow):
            return datatype
    if pa.types.is_decimal(kind) or pa.types.is_null(kind):
        return "FP64"
    if pa.types.is_duration(kind):
        return "INT64"
    if _is_text_or_bytes(kind) or pa.types.is_temporal(kind):
        return "BYTES"
    return None


def _is_text_or_bytes(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind) or pa.types.is_string_view(kind)
        or pa.types.is_binary_view(kind)
    )


def _raw(datatype: OipDatatype, flat: pa.Array) -> bytes:
    """The binary-extension bytes of a flat array: little-endian, row-major."""
    dtype = numpy_dtype(datatype)
    if dtype is None:
        return write_bytes_elements(flat)
    values = flat.to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, dtype=np.uint8 if datatype == "BOOL" else dtype).tobytes()
