"""API results as JSON data: ``frame_json`` keeps every column's values, so a client rebuilds
the same DataFrame the API returned."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from registry.api.records import frame_json


def test_a_frame_survives_json_and_back() -> None:
    at = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
    frame = pd.DataFrame({
        "created_on": pd.Series([at, at + timedelta(seconds=1), None],
                                dtype="datetime64[us, UTC]"),
        "local": pd.Series([at.astimezone(timezone(timedelta(hours=2)))] * 3),
        "name": ["A", "B", "C"],
        "count": np.array([1, 2, 3], dtype=np.int64),
        "score": [0.5, float("nan"), 2.0],
        "flag": [True, False, True],
        "aliases": ['{"PROD": "V1"}', "{}", None],
    })
    wire = json.loads(json.dumps(frame_json(frame), allow_nan=False))
    assert wire["columns"] == list(frame.columns)
    assert wire["data"][0] == ["2026-12-03T12:00:00.123456+00:00",
                               "2026-12-03T12:00:00.123456+00:00", "A", 1, 0.5, True,
                               '{"PROD": "V1"}']
    assert wire["data"][1][4] is None and wire["data"][2][0] is None  # NaN and NaT: null
    back = pd.DataFrame(wire["data"], columns=wire["columns"])
    assert [datetime.fromisoformat(t) for t in back["created_on"][:2]] == [
        at, at + timedelta(seconds=1)]
    assert back["name"].tolist() == ["A", "B", "C"] and back["count"].tolist() == [1, 2, 3]
