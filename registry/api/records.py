"""API results as plain JSON data, for the CLI's ``--json`` and the registry server alike:
ISO-8601 timestamps, null for NaN, lists for tuples, and the JSON-text columns of
``show_models``/``show_versions`` decoded where asked."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Any

import pandas as pd

__all__ = ["frame_records", "to_json"]


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: ISO timestamps, null for NaN, lists for tuples."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return to_json(item())
    return str(value)



def frame_records(frame: pd.DataFrame, *, json_columns: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The rows of ``frame``, with the columns that hold JSON text decoded."""
    decoded = set(json_columns)
    records = []
    for row in frame.to_dict(orient="records"):
        for column in decoded & row.keys():
            if isinstance(row[column], str):
                row[column] = json.loads(row[column])
        records.append(row)
    return records
