"""What the front sends an endpoint's replica and gets back: plain data, no pickled input.

The body travels as the bytes the client sent; the replica decodes it against the
function's signature (``serve.formats``), runs it and encodes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["InferReply", "InferRequest", "Protocol"]


class Protocol(StrEnum):
    """Which wire format a request speaks (``FLOE`` is Snowflake's or MLflow's, told apart by
    the body: ``{"data": ...}`` is Snowflake's)."""

    FLOE = "floe"
    MLFLOW = "mlflow"  # MLflow's ``/invocations`` path, MLflow's error bodies
    OIP = "oip"


@dataclass(frozen=True)
class InferRequest:
    protocol: Protocol
    body: bytes
    function: str | None = None  # from the path; None: the rule of the protocol picks one
    content_type: str | None = None
    header_length: int | None = None  # OIP binary extension: the JSON header's size


@dataclass(frozen=True)
class InferReply:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    rows: int = 0
