"""What the registry server's routes answer with, encoded once: JSON data, DataFrames as
``{"columns", "data", "dtypes"}``, a version's fields."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from registry.api.backend import VersionInfo
from registry.api.model_version import ModelVersion
from registry.api.records import ARROW_STREAM, frame_arrow, frame_json, to_json
from registry.identifiers import format_identifier

__all__ = ["FRAME", "frame_reply", "info_json", "reply", "version_details"]

# A frame route's reply, for the OpenAPI schema: JSON, or Arrow for a client that asks for it.
FRAME: dict[int | str, dict[str, Any]] = {200: {
    "description": 'a DataFrame: JSON {"columns", "data", "dtypes"}, or an Arrow IPC stream '
                   "when the request accepts it",
    "content": {"application/json": {}, ARROW_STREAM: {}}}}


def reply(data: Any) -> JSONResponse:
    """``data`` as JSON, encoded once by ``to_json`` (FastAPI's own encoder walks every value
    again: 10,000 models' listing took several times longer through it)."""
    return JSONResponse(to_json(data))


def frame_reply(request: Request, frame: pd.DataFrame) -> Response:
    """A DataFrame the API returns, as ``{"columns": [...], "data": [[row], ...]}``: the
    same columns and values (JSON-text columns stay text), so a client rebuilds the same
    frame; encoded a column at a time (``frame_json``). A client that accepts
    ``application/vnd.apache.arrow.stream`` (Floe's) gets an Arrow IPC stream instead, where
    the frame converts (``frame_arrow``)."""
    if ARROW_STREAM in request.headers.get("accept", ""):
        data = frame_arrow(frame)
        if data is not None:
            return Response(data, media_type=ARROW_STREAM)
    return JSONResponse(frame_json(frame))


def info_json(info: VersionInfo) -> dict[str, Any]:
    """What ``RemoteBackend`` keeps of a version."""
    return {"id": info.id, "name": format_identifier(info.name), "comment": info.comment,
            "manifest_sha256": info.manifest_sha256}


def version_details(mv: ModelVersion, shows_metrics: bool) -> dict[str, Any]:
    return {
        "model": mv.fully_qualified_model_name, "name": mv.version_name, "id": mv.id,
        "comment": mv.comment, "aliases": mv.aliases,
        "metrics": mv.show_metrics() if shows_metrics else None,
        "functions": [f.to_dict() for f in mv.show_functions()],
    }
