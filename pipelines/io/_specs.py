"""The table I/O configs: where a pipeline reads, where it writes, and what a write did.

These models are embedded as fields of the pipeline YAML config, so each validates itself
and forbids unknown keys::

    input:
      path: s3://lake/events            # or a local directory, a single file, file:///...
      format: parquet                   # parquet | csv
      columns: [id, x1, x2, date]
      filters:                          # ANDed; on a partition key they prune whole files
        - {column: date, op: ">=", value: 2026-11-01}
        - {column: region, op: in, value: [EU, US]}
    output:
      path: s3://lake/scores
      partition_by: [date]
      mode: error_if_exists             # the default, as Spark's SaveMode.ErrorIfExists
      compression: snappy               # none | snappy | lz4 | zstd | gzip | brotli
      row_group_size: 65536             # rows per Parquet row group (default: ~32 MiB of data)
"""

from __future__ import annotations

import datetime
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

__all__ = [
    "Compression",
    "Filter",
    "FilterOp",
    "FilterValue",
    "InputSpec",
    "OutputSpec",
    "TableFormat",
    "WriteMode",
    "WriteResult",
]

FilterOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
#: A literal a filter compares with. YAML's unquoted ``2026-11-01`` is a date; against a
#: string column (hive ``date=2026-11-01`` directories) it compares as its ISO text.
FilterValue = StrictBool | StrictInt | StrictFloat | datetime.date | str
TableFormat = Literal["parquet", "csv"]
#: ``overwrite`` replaces the whole output; ``error_if_exists`` (the default) refuses a
#: non-empty output before any work; ``append`` adds files next to the existing ones.
WriteMode = Literal["overwrite", "error_if_exists", "append"]

#: Parquet codecs pyarrow writes. ``snappy`` is the default: see ``OutputSpec``.
Compression = Literal["none", "snappy", "lz4", "zstd", "gzip", "brotli"]

_LIST_OPS = frozenset({"in", "not in"})


class Filter(BaseModel):
    """One predicate ``column op value``; an input's filters are ANDed together.

    On a partition key a filter selects directories, so the files of the other partitions are
    never opened; on any other column it is pushed into the file scan as a row predicate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1)
    op: FilterOp
    value: FilterValue | list[FilterValue]

    @model_validator(mode="after")
    def _value_fits_op(self) -> Self:
        is_list = isinstance(self.value, list)
        if self.op in _LIST_OPS and not is_list:
            raise ValueError(
                f"op {self.op!r} on {self.column!r} takes a list of values, got {self.value!r}; "
                f"write value: [{self.value!r}]"
            )
        if self.op in _LIST_OPS and not self.value:
            raise ValueError(f"op {self.op!r} on {self.column!r} has an empty list; give values")
        if self.op not in _LIST_OPS and is_list:
            raise ValueError(
                f"op {self.op!r} on {self.column!r} takes one value, got a list; "
                "use op: in (or not in) to compare with several"
            )
        return self

    def describe(self) -> str:
        return f"{self.column} {self.op} {self.value!r}"


def _check_names(names: list[str] | None, field: str) -> None:
    if names is None:
        return
    if not names:
        raise ValueError(f"{field} is an empty list; leave it out to mean all/none")
    problems = [n for n in names if not n or n != n.strip()]
    if problems:
        raise ValueError(f"{field} holds blank or padded names {problems!r}; remove the spaces")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{field} names {dupes!r} more than once; list each column once")


def _check_path(path: str, field: str) -> None:
    if "\x00" in path or path != path.strip():
        raise ValueError(f"{field} {path!r} holds a NUL or surrounding spaces; remove them")


class InputSpec(BaseModel):
    """A table to read: a Parquet or CSV file or directory, local or on an object store.

    ``partitioning: hive`` (the default) turns ``key=value`` directories into columns, typed
    as pyarrow infers them (integers as ``int64``, everything else as ``string``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    format: TableFormat = "parquet"
    columns: list[str] | None = None
    filters: list[Filter] | None = None
    partitioning: Literal["hive"] | None = "hive"

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_path(self.path, "path")
        _check_names(self.columns, "columns")
        return self


class OutputSpec(BaseModel):
    """Where results go: a Parquet directory, replaced or extended only when a run completes.

    ``mode`` defaults to ``error_if_exists``, as Spark's ``SaveMode.ErrorIfExists`` and
    Snowflake's ``COPY INTO <location>`` (``OVERWRITE = FALSE``) do: a run never destroys data
    unless the config says ``overwrite``. ``append`` adds this run's files; re-running the same
    ``run_id`` replaces that run's earlier files instead of adding them twice.

    Files are written for model output (``pipelines.io._sink``): floating-point columns are
    never dictionary-encoded, the other columns are.

    ``compression`` defaults to ``snappy``, chosen by measuring 125,000 rows (an int64 id,
    30 float64 features, a float32 prediction; 30 MiB in memory; pyarrow write and read CPU,
    best of 5, floats without dictionaries). Random floats barely compress: none 58 ms /
    30.3 MiB, snappy 74 ms / 29.8 MiB, lz4 69 ms / 29.9 MiB, zstd 91 ms / 28.2 MiB. Features
    rounded to two decimals, as measured data often are, do: none 35 ms / 30.3 MiB, snappy
    114 ms / 13.2 MiB, lz4 122 ms / 14.3 MiB, zstd 230 ms / 9.3 MiB (and 1.5x snappy's read
    CPU). Snappy halves such files for a write cost that stays small beside scoring, it is
    what Spark and pyarrow default to and every Parquet reader reads it; lz4 is no faster
    here and older readers disagree on its framing. ``zstd`` suits outputs kept long or sent
    far, ``none`` a scratch table read once on the same disk.

    ``row_group_size`` (rows) bounds each row group; by default a group holds about 32 MiB
    of in-memory data (65,536 rows at 64 float64 columns, at least 4,096 rows, at most
    pyarrow's 1,048,576), so a reader streaming the output (``iter_batches``, Ray Data,
    Spark) holds one modest group per file at a time instead of pyarrow's default of up to
    a million rows, however wide the table, while groups stay large enough to compress.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    format: Literal["parquet"] = "parquet"
    partition_by: list[str] | None = None
    mode: WriteMode = "error_if_exists"
    compression: Compression = Field("snappy", description="the Parquet codec")
    row_group_size: PositiveInt | None = Field(
        None, description="rows per Parquet row group (default: about 32 MiB of data)"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_path(self.path, "path")
        _check_names(self.partition_by, "partition_by")
        bad = [k for k in self.partition_by or [] if "/" in k or "=" in k]
        if bad:
            raise ValueError(f"partition_by keys {bad!r} hold '/' or '='; rename those columns")
        return self


class WriteResult(BaseModel):
    """What ``write_table`` committed: for the run summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    mode: WriteMode
    run_id: str
    rows: int  # rows written by this run
    #: The files this run added, as ``list_input_files`` names files.
    files: list[str]
    #: The distinct partition values written, e.g. ``[{"date": "2026-11-01"}]``; empty for
    #: an unpartitioned write.
    partitions: list[dict[str, str]]
