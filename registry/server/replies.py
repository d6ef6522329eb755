"""What the registry server's routes answer with, encoded once: JSON data, DataFrames as
``{"columns", "data", "dtypes"}``, a version's fields."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi.responses import JSONResponse

from registry.api.backend import VersionInfo
from registry.api.model_version import ModelVersion
from registry.api.records import frame_json, to_json
from registry.identifiers import format_identifier

__all__ = ["frame_reply", "info_json", "reply", "version_details"]


def reply(data: Any) -> JSONResponse:
    """``data`` as JSON, encoded once by ``to_json`` (FastAPI's own encoder walks every value
    again: 10,000 models' listing took several times longer through it)."""
    return JSONResponse(to_json(data))


def frame_reply(frame: pd.DataFrame) -> JSONResponse:
    """A DataFrame the API returns, as ``{"columns": [...], "data": [[row], ...]}``: the
    same columns and values (JSON-text columns stay text), so a client rebuilds the same
    frame; encoded a column at a time (``frame_json``)."""
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
