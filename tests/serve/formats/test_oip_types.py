"""serve.formats._oip_types: OIP datatypes and BYTES elements, checked against tritonclient."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor, triton_to_np_dtype

from registry import DataType
from serve.formats import oip_datatype
from serve.formats._oip_types import (
    OIP_DATATYPES,
    is_oip_datatype,
    numpy_dtype,
    read_bytes_elements,
    write_bytes_elements,
)


def test_every_data_type_has_its_exact_oip_name() -> None:
    assert {d.value: oip_datatype(d) for d in DataType} == {
        "INT8": "INT8", "INT16": "INT16", "INT32": "INT32", "INT64": "INT64",
        "UINT8": "UINT8", "UINT16": "UINT16", "UINT32": "UINT32", "UINT64": "UINT64",
        "FLOAT": "FP32", "DOUBLE": "FP64", "BOOL": "BOOL",
        "STRING": "BYTES", "BYTES": "BYTES", "TIMESTAMP": "BYTES",
    }


def test_wire_dtypes_match_tritonclient_and_are_little_endian() -> None:
    for datatype in OIP_DATATYPES:
        dtype = numpy_dtype(datatype)
        if datatype == "BYTES":
            assert dtype is None
            continue
        assert dtype is not None and dtype == dtype.newbyteorder("<")
        expected = np.uint8 if datatype == "BOOL" else triton_to_np_dtype(datatype)
        assert dtype.itemsize == np.dtype(expected).itemsize
    assert is_oip_datatype("FP32") and not is_oip_datatype("BF16") and not is_oip_datatype(3)


@pytest.mark.parametrize(
    "array",
    [
        pa.array(["a", "", "dög", "x" * 300]),
        pa.array(["a", "bcd", "e"]).slice(1),
        pa.array([b"\x00\xff", b""], pa.binary()),
        pa.array(["", ""]),
        pa.array([], pa.string()),
    ],
)
def test_bytes_elements_are_what_tritonclient_writes_and_reads(array: pa.Array) -> None:
    raw = write_bytes_elements(array)
    values = [v.encode() if isinstance(v, str) else v for v in array.to_pylist()]
    expected = serialize_byte_tensor(np.array(values, dtype=object))
    assert raw == (expected.item() if expected.size else b"")
    assert list(deserialize_bytes_tensor(raw)) == values
    assert read_bytes_elements(memoryview(raw), most=len(values)) == values


def test_reading_bytes_elements_names_what_is_wrong() -> None:
    assert read_bytes_elements(memoryview(b"\x01\x00"), most=1) == (
        "element 0 has a 2-byte length prefix, not 4")
    assert read_bytes_elements(memoryview(b"\x05\x00\x00\x00ab"), most=1) == (
        "element 0 says 5 bytes but only 2 remain")
    raw = write_bytes_elements(pa.array(["a", "b", "c", "d"]))
    assert read_bytes_elements(memoryview(raw), most=1) == [b"a", b"b"]  # stops after most + 1
