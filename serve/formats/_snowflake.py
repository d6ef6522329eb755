"""The Snowflake service-function format: rows in, rows out, each led by its row index.

Snowflake sends ``{"data": [[row_index, f1, f2, ...], ...]}`` and expects
``{"data": [[row_index, result], ...]}`` back, every index echoed. Floe takes the values
after the index in signature order, or a row ``[row_index, {"column": value, ...}]``
naming its columns, and answers each row with an object of the output columns::

    request  {"data": [[0, 5.1, 3.5], [1, 6.2, 2.9]]}
    response {"data": [[0, {"label": 0, "score": 0.93}], [1, {"label": 1, "score": 0.71}]]}

Values are written as ``serve.formats._json`` describes (NaN as null, bytes as base64).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from registry import FeatureSpec, InvalidInput
from serve.formats._columns import rows_named, table_from_records, table_from_rows
from serve.formats._json import dump_json, json_kind, json_records, load_json

__all__ = ["decode_snowflake", "encode_snowflake"]

log = logging.getLogger(__name__)

_EXAMPLE = '{"data": [[0, 5.1, 3.5], [1, 6.2, 2.9]]}'
_RECORDS_EXAMPLE = '{"data": [[0, {"x": 5.1, "y": 3.5}]]}'


def decode_snowflake(
    body: bytes, features: Sequence[FeatureSpec] | None
) -> tuple[pa.Table, list[Any]]:
    """The model input of a Snowflake request, and its row indices in request order."""
    doc = load_json(body, example=_EXAMPLE)
    if not isinstance(doc, dict) or "data" not in doc:
        got = f"an object with keys {sorted(doc)}" if isinstance(doc, dict) else json_kind(doc)
        raise InvalidInput(
            f"a Snowflake request is an object with a data key, not {got}; send {_EXAMPLE}"
        )
    rows = doc["data"]
    if not isinstance(rows, list):
        raise InvalidInput(f"data must be a list of rows, not {json_kind(rows)}; send {_EXAMPLE}")
    problems: list[str] = []
    not_rows = [i for i, row in enumerate(rows) if not isinstance(row, list) or not row]
    if not_rows:
        problems.append(f"not a non-empty list: {rows_named(not_rows)}")
    bad_index = [
        i for i, row in enumerate(rows)
        if isinstance(row, list) and row
        and (isinstance(row[0], bool) or not isinstance(row[0], int | str))
    ]
    if bad_index:
        problems.append(f"not led by an integer row index: {rows_named(bad_index)}")
    if problems:
        raise InvalidInput(
            "invalid Snowflake request: " + "; ".join(problems)
            + f"; send each row as [row_index, value, ...], such as {_EXAMPLE}"
        )
    indices = [row[0] for row in rows]
    values = [row[1:] for row in rows]
    is_record = [len(v) == 1 and isinstance(v[0], dict) for v in values]
    if any(is_record) and not all(is_record):
        mixed = [i for i, flag in enumerate(is_record) if not flag]
        raise InvalidInput(
            f"data mixes rows of values with rows of objects ({rows_named(mixed)} not "
            f"[row_index, {{...}}]); send every row in one form, such as {_RECORDS_EXAMPLE} "
            f"or {_EXAMPLE}"
        )
    if values and all(is_record):
        table = table_from_records(
            [v[0] for v in values], features, where="data", example=_RECORDS_EXAMPLE
        )
    else:
        table = table_from_rows(
            values, features, where="data (the values after each row index)", example=_EXAMPLE
        )
    return table, indices


def encode_snowflake(row_index: Sequence[Any], outputs: pa.Table) -> bytes:
    """``{"data": [[row_index, {column: value, ...}], ...]}``: one object per output row,
    led by its request row index. ``ValueError`` when the counts differ (a server bug)."""
    if len(row_index) != outputs.num_rows:
        raise ValueError(
            f"{len(row_index)} row indices for {outputs.num_rows} output rows; a Snowflake "
            "answer echoes one index per row"
        )
    rows = [[index, record] for index, record in zip(row_index, json_records(outputs),
                                                      strict=True)]
    return dump_json({"data": rows})

