"""Open Inference Protocol (KServe v2) datatypes and the binary tensor data extension.

OIP datatypes map to Floe's ``DataType`` one to one; STRING, BYTES and TIMESTAMP are all
``BYTES`` (UTF-8 text, raw bytes, ISO 8601 text). In the binary extension a tensor's
elements are row-major and little-endian; a ``BYTES`` element is its length as a 4-byte
little-endian unsigned integer, then its bytes. ``BOOL`` elements are one byte each.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, get_args

import numpy as np
import pyarrow as pa

from registry import DataType

__all__ = [
    "OipDatatype",
    "is_oip_datatype",
    "numpy_dtype",
    "oip_datatype",
    "read_bytes_elements",
    "write_bytes_elements",
]

log = logging.getLogger(__name__)

OipDatatype = Literal[
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
    "FP16", "FP32", "FP64", "BYTES",
]
OIP_DATATYPES: tuple[OipDatatype, ...] = get_args(OipDatatype)

_FROM_DATATYPE: dict[DataType, OipDatatype] = {
    DataType.INT8: "INT8",
    DataType.INT16: "INT16",
    DataType.INT32: "INT32",
    DataType.INT64: "INT64",
    DataType.UINT8: "UINT8",
    DataType.UINT16: "UINT16",
    DataType.UINT32: "UINT32",
    DataType.UINT64: "UINT64",
    DataType.FLOAT: "FP32",
    DataType.DOUBLE: "FP64",
    DataType.BOOL: "BOOL",
    DataType.STRING: "BYTES",
    DataType.BYTES: "BYTES",
    DataType.TIMESTAMP: "BYTES",
}

# Little-endian numpy dtypes of the fixed-width datatypes (BOOL is read as bytes, then != 0).
_NUMPY: dict[OipDatatype, np.dtype[Any]] = {
    "BOOL": np.dtype("u1"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

_MAX_ELEMENT = 2**32 - 1


def oip_datatype(dtype: DataType) -> OipDatatype:
    """The OIP datatype of a Floe ``DataType`` (FLOAT is FP32, DOUBLE FP64, text BYTES)."""
    return _FROM_DATATYPE[dtype]


def is_oip_datatype(name: object) -> bool:
    return isinstance(name, str) and name in OIP_DATATYPES


def numpy_dtype(datatype: OipDatatype) -> np.dtype[Any] | None:
    """The little-endian wire dtype of a fixed-width datatype; None for BYTES."""
    return _NUMPY.get(datatype)


def read_bytes_elements(buffer: memoryview, *, most: int) -> list[bytes] | str:
    """The BYTES elements in ``buffer``, or what is wrong with it. Reads at most ``most``
    elements plus one (enough to tell that there are too many)."""
    values: list[bytes] = []
    position, size = 0, len(buffer)
    while position < size:
        if len(values) > most:
            break
        if position + 4 > size:
            return f"element {len(values)} has a {size - position}-byte length prefix, not 4"
        length = int.from_bytes(buffer[position:position + 4], "little")
        position += 4
        if position + length > size:
            return (f"element {len(values)} says {length} bytes but only "
                    f"{size - position} remain")
        values.append(bytes(buffer[position:position + length]))
        position += length
    return values


def write_bytes_elements(array: pa.Array) -> bytes:
    """A string or binary array (no nulls) as BYTES elements: 4-byte length, then the bytes.
    Built with numpy from Arrow's offsets and data, with no per-element Python."""
    binary = array.cast(pa.large_binary())
    count = len(binary)
    if count == 0:
        return b""
    _, offsets_buffer, data_buffer = binary.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype="<i8")[binary.offset:binary.offset + count + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = (np.frombuffer(data_buffer, dtype=np.uint8)[start:end] if data_buffer is not None
            else np.empty(0, np.uint8))
    lengths = np.diff(offsets)
    if lengths.size and int(lengths.max()) > _MAX_ELEMENT:
        raise ValueError(f"a BYTES element holds at most {_MAX_ELEMENT} bytes")
    out = np.empty(4 * count + (end - start), dtype=np.uint8)
    prefix_at = (offsets[:-1] - start) + 4 * np.arange(count)
    prefix_index = (prefix_at[:, None] + np.arange(4)).ravel()
    out[prefix_index] = lengths.astype("<u4").view(np.uint8)
    is_data = np.ones(out.size, dtype=bool)
    is_data[prefix_index] = False
    out[is_data] = data
    return out.tobytes()
