"""``show_models``' DataFrame, from the catalog's listing: model names formatted with Arrow
compute a whole column at a time, exactly as ``format_identifier`` would name by name (the
catalog keeps the rest as ``show_models`` shows it)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from registry.api.context import Namespace
from registry.catalog.listing import ModelListing
from registry.identifiers import format_identifier

__all__ = ["SHOW_MODELS_COLUMNS", "models_frame"]

SHOW_MODELS_COLUMNS = [
    "created_on", "name", "database_name", "schema_name", "owner", "comment", "versions",
    "default_version_name", "aliases",
]


def models_frame(listing: ModelListing | None, namespace: Namespace) -> pd.DataFrame:
    """One row per model of ``listing`` (None: the namespace does not exist yet)."""
    if listing is None or len(listing) == 0:
        return pd.DataFrame.from_records([], columns=SHOW_MODELS_COLUMNS)
    columns = {
        "created_on": listing.created_on.to_pandas().astype(_datetime_dtype()),
        "name": _format_identifiers(listing.name),
        "database_name": format_identifier(namespace.database_name),
        "schema_name": format_identifier(namespace.schema_name),
        "owner": listing.owner,
        "comment": listing.comment,
        "versions": listing.versions,
        "default_version_name": listing.default_version,
        "aliases": listing.aliases,
    }
    return pd.DataFrame({name: _as_series(value) for name, value in columns.items()})


_BARE_IDENTIFIER = r"^[A-Z_][A-Z0-9_$]*$"  # format_identifier's test, in RE2 syntax


def _format_identifiers(names: pa.Array) -> pa.Array:
    """``format_identifier`` on every resolved name; nulls stay null."""
    return _quote_unless_bare(names, pc.match_substring_regex(names, _BARE_IDENTIFIER))


def _quote_unless_bare(names: pa.Array, is_bare: pa.Array) -> pa.Array:
    if pc.all(is_bare).as_py():
        return names
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(names, '"', '""'), '"', "")
    return pc.if_else(is_bare, names, quoted)


@functools.cache
def _datetime_dtype() -> Any:
    """The dtype ``DataFrame.from_records`` gives UTC datetimes (pandas 2: ns, 3: us)."""
    return pd.DataFrame.from_records([(datetime(2000, 1, 1, tzinfo=UTC),)]).dtypes.iloc[0]


def _as_series(values: object) -> object:
    """A text column as ``DataFrame.from_records`` would infer it from Python values: only
    NULLs make an ``object`` column of None. Scalars are left to broadcast."""
    if not isinstance(values, pa.Array):
        return values
    if values.null_count == len(values):
        return pd.Series([None] * len(values), dtype=object)
    return values.to_pandas()

