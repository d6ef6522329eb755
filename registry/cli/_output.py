"""What the CLI prints: JSON for scripts, rich tables and field lists for people.

Every value goes through ``to_json`` or ``to_text``, so listings print the same values in both
forms: timestamps as ISO 8601, missing values (None, NaN) as null or an empty cell, and the
JSON-encoded columns of ``show_models``/``show_versions`` as real lists and objects. Table cells are
``rich.text.Text``, never markup, so a name such as ``"[red]"`` prints as written.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from registry.api.records import frame_records, to_json

__all__ = ["echo_json", "frame_records", "print_fields", "print_table", "to_json", "to_text"]

# Wide enough that a table piped to grep or a file is never folded mid-value.
_PIPE_WIDTH = 1000


def to_text(value: Any) -> str:
    """One table cell: empty for missing, comma-separated lists, ``KEY: VALUE`` mappings."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    value = to_json(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(to_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {to_text(v)}" for k, v in value.items())
    return json.dumps(value)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(to_json(data), indent=2))


def _console() -> Console:
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=_PIPE_WIDTH if piped else None)


def print_table(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    empty: str = "(none)",
) -> None:
    """``records`` as a table of ``columns``; ``empty`` when there are no rows."""
    console = _console()
    if title is not None:
        console.print(Text(title, style="bold"))
    if not records:
        console.print(Text(empty))
        return
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*(Text(to_text(record.get(c))) for c in columns))
    console.print(table)


def print_fields(fields: Sequence[tuple[str, Any]]) -> None:
    """``name  value`` lines, names aligned."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in fields:
        table.add_row(Text(name), Text(to_text(value)))
    _console().print(table)
