"""Request and response codecs of Floe's serving endpoints: pure functions, no Ray, no HTTP.

    from serve.formats import decode_mlflow, encode_mlflow
    table = decode_mlflow(body, "application/json", mv.functions["predict"].inputs)
    body = encode_mlflow(outputs)

Three formats: Snowflake service functions (``decode_snowflake``, ``encode_snowflake``), the
MLflow scoring server (``decode_mlflow``, ``encode_mlflow``) and the Open Inference Protocol,
KServe v2 (``parse_oip_request``, ``oip_to_table``, ``encode_oip``, ``oip_model_metadata``),
with its binary tensor data extension. Decoders build a ``pyarrow.Table`` of model input and
leave validation to the run path; every malformed body raises ``registry.InvalidInput``.
Answers write values as JSON by one rule (``serve.formats._json``): NaN and infinities as
null, timestamps as ISO 8601 text, bytes as base64 text.
"""

from serve.formats._mlflow import decode_mlflow, encode_mlflow
from serve.formats._oip_request import (
    OipOutputRequest,
    OipRequest,
    OipTensor,
    oip_to_table,
    parse_oip_request,
)
from serve.formats._oip_response import encode_oip, oip_model_metadata
from serve.formats._oip_types import OipDatatype, oip_datatype
from serve.formats._snowflake import decode_snowflake, encode_snowflake

__all__ = [
    "OipDatatype",
    "OipOutputRequest",
    "OipRequest",
    "OipTensor",
    "decode_mlflow",
    "decode_snowflake",
    "encode_mlflow",
    "encode_oip",
    "encode_snowflake",
    "oip_datatype",
    "oip_model_metadata",
    "oip_to_table",
    "parse_oip_request",
]
