"""Reading tables: hive partition pruning on file paths, then a lazy Ray Data read.

Discovery lists the files once and infers the partition keys' types from the paths alone
(``DatasetFactory.inspect(fragments=0)``), so building the file list opens no data file.
Filters on partition keys are evaluated against each file's partition values
(``Dataset.get_fragments(filter=...)``); Ray Data is handed exactly the matching files, so
the others are never opened. Filters on other columns and the column selection go to Ray
Data as ``Dataset.filter(expr=...)`` and ``select_columns``, which it pushes into the scan.
To check the names and types of such filters, the first matching file's schema is read.

Parquet is read through Ray Data's first datasource (``DataContext.use_datasource_v2 =
False``), which plans one read task per file on the driver: DataSourceV2 (Ray 2.60's
default) adds a ``ListFiles`` task that lists again the files discovery already listed, and
took 8-17 s of a 16-file read against 1.2 s for V1 on a 2-core machine, most of a small run's
time. Each file is one block (``override_num_blocks``), so the read fuses with the scoring
tasks and the write into one task per file. ``read_footers`` reads each selected file's
Parquet footer once (no data, no Ray): its columns, checked before a run starts, and the
row total, so a run knows it before it starts.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq

from pipelines.io._fs import Location, list_files, recover_output, resolve_location
from pipelines.io._specs import Filter, FilterValue, InputSpec
from registry import InvalidInput, NotFound

if TYPE_CHECKING:
    import ray.data

__all__ = [
    "PATH_COLUMN",
    "Footers",
    "list_input_files",
    "read_footers",
    "read_schema",
    "read_table",
]

_FORMATS = {"parquet": pds.ParquetFileFormat, "csv": pds.CsvFileFormat}


@dataclass(frozen=True)
class _Bound:
    """A filter whose value(s) are cast to the column's type."""

    filter: Filter
    value: pa.Scalar | pa.Array


@dataclass(frozen=True)
class _ReadPlan:
    loc: Location
    files: list[str]  # filesystem paths, after partition pruning
    partition_schema: pa.Schema  # empty unless hive keys were found
    row_filters: list[_Bound]


def list_input_files(spec: InputSpec) -> list[str]:
    """The files ``read_table(spec)`` opens, after partition pruning, sorted.

    Local files are absolute paths; object-store files are ``scheme://bucket/key``.
    """
    plan = _plan(spec)
    return [plan.loc.uri(p) for p in plan.files]


def read_schema(spec: InputSpec) -> pa.Schema:
    """The columns ``read_table(spec)`` gives, without Ray and without reading data: the first
    selected file's schema (a Parquet footer, or a CSV's first block), then the hive keys
    found in the paths, narrowed to ``spec.columns`` when it is set."""
    plan = _plan(spec)
    schema = _read_schema(plan.loc, plan.files[0], spec.format)
    for key in plan.partition_schema:
        if key.name not in schema.names:
            schema = schema.append(key)
    if spec.columns is not None:  # _plan checked that each of them exists
        schema = pa.schema([schema.field(name) for name in spec.columns])
    return schema


@dataclass(frozen=True)
class Footers:
    """What the selected files' Parquet footers say, read once (no data, no Ray)."""

    #: Each file, as ``list_input_files`` names it, with the columns it holds itself (no hive
    #: keys); empty for CSV, whose types are known only once it is read.
    schemas: list[tuple[str, pa.Schema]]
    #: How many rows ``read_table`` gives; ``None`` where footers cannot tell: CSV, or filters
    #: on non-partition columns.
    rows: int | None


def read_footers(spec: InputSpec) -> Footers:
    """The footers of every file ``read_table(spec)`` opens (one read each)."""
    plan = _plan(spec)
    if spec.format != "parquet":
        return Footers([], None)
    schemas: list[tuple[str, pa.Schema]] = []
    total = 0
    for path in plan.files:
        with plan.loc.fs.open_input_file(path) as handle:
            footer = pq.ParquetFile(handle)  # the Arrow schema as written, as read_schema has it
            schemas.append((plan.loc.uri(path), footer.schema_arrow))
            total += footer.metadata.num_rows
    return Footers(schemas, None if plan.row_filters else total)


#: The column ``read_table(spec, include_paths=True)`` adds: each row's file (Ray Data's name).
PATH_COLUMN = "path"


def read_table(spec: InputSpec, *, include_paths: bool = False) -> ray.data.Dataset:
    """A lazy Arrow-backed Dataset of ``spec``'s rows; partition keys come back as columns.
    ``include_paths``: a ``PATH_COLUMN`` column names each row's file, kept through
    ``spec.columns``."""
    plan = _plan(spec)
    import ray.data  # Ray Data is imported when a read is built, so configs load without it
    from ray.data.datasource.partitioning import Partitioning, PartitionStyle

    partitioning = None
    if plan.partition_schema.names:
        partitioning = Partitioning(
            PartitionStyle.HIVE,
            base_dir=plan.loc.path,
            field_types={
                f.name: int if pa.types.is_integer(f.type) else str for f in plan.partition_schema
            },
            filesystem=plan.loc.fs,
        )
    # file_extensions=None: read exactly these files (Ray would drop 'part-0' silently).
    # One block per file: Ray Data splits files into more blocks to reach its minimum
    # parallelism (200), and a split read is not fused with the map and the write after it.
    options: dict[str, Any] = {"filesystem": plan.loc.fs, "file_extensions": None,
                               "override_num_blocks": len(plan.files),
                               "include_paths": include_paths}
    try:  # Ray reads a sample of the files' schemas here
        if spec.format == "parquet":
            with _datasource_v1(ray.data.DataContext.get_current()):
                ds = ray.data.read_parquet(plan.files, partitioning=partitioning, **options)
        else:  # read_csv's hint omits None, which its datasource takes as "no partitioning"
            csv_partitioning: Any = partitioning
            ds = ray.data.read_csv(plan.files, partitioning=csv_partitioning, **options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(
            f"cannot read input {plan.loc.display} as {spec.format}: {exc}; check that every "
            "file it selects is a readable table file, or narrow it with filters"
        ) from exc
    if plan.row_filters:
        ds = ds.filter(expr=functools.reduce(operator.and_, map(_ray_expr, plan.row_filters)))
    if spec.columns is not None:
        ds = ds.select_columns([*spec.columns, *([PATH_COLUMN] if include_paths else [])])
    return ds


@contextlib.contextmanager
def _datasource_v1(context: ray.data.DataContext) -> Iterator[None]:
    """``read_parquet`` picks its datasource when called: V1 (see the module docstring)."""
    before = context.use_datasource_v2
    context.use_datasource_v2 = False
    try:
        yield
    finally:
        context.use_datasource_v2 = before


def _plan(spec: InputSpec) -> _ReadPlan:
    loc = resolve_location(spec.path, what="input path")
    recover_output(loc, is_writer=False)
    files = list_files(loc)
    if files is None:
        raise NotFound(f"input {loc.display} does not exist; check input.path")
    if not files:
        raise NotFound(
            f"input {loc.display} holds no data files (names starting with '.' or '_' are "
            "skipped); point input.path at the table's directory"
        )
    factory = None
    partition_schema = pa.schema([])
    if spec.partitioning == "hive" and files != [loc.path]:
        factory = pds.FileSystemDatasetFactory(
            loc.fs,
            files,
            _FORMATS[spec.format](),
            pds.FileSystemFactoryOptions(
                partition_base_dir=loc.path,
                partitioning=pds.HivePartitioning.discover(infer_dictionary=False),
            ),
        )
        partition_schema = factory.inspect(fragments=0)  # from the paths: opens no file
    filters = list(spec.filters or [])
    keys = set(partition_schema.names)

    problems: list[str] = []
    on_keys = _bind([f for f in filters if f.column in keys], partition_schema, problems)
    if problems:
        raise InvalidInput(f"input {loc.display}: " + "; ".join(problems))
    if factory is not None and on_keys:
        files = _prune(factory.finish(schema=partition_schema), on_keys, loc)

    row_filters = [f for f in filters if f.column not in keys]
    if spec.columns is None and not row_filters:
        return _ReadPlan(loc, files, partition_schema, [])
    file_schema = _read_schema(loc, files[0], spec.format)
    known = set(file_schema.names) | keys
    missing = [c for c in spec.columns or [] if c not in known]
    missing += [f.column for f in row_filters if f.column not in known]
    if missing:
        problems.append(
            f"no column {', '.join(repr(c) for c in dict.fromkeys(missing))} "
            f"(it has {', '.join(sorted(known))}); fix input.columns or input.filters"
        )
    bound = _bind([f for f in row_filters if f.column in known], file_schema, problems)
    if problems:
        raise InvalidInput(f"input {loc.display}: " + "; ".join(problems))
    return _ReadPlan(loc, files, partition_schema, bound)


def _prune(dataset: pds.Dataset, on_keys: list[_Bound], loc: Location) -> list[str]:
    """The files whose partition values can match: decided from their paths alone."""
    expr = functools.reduce(operator.and_, map(_arrow_expr, on_keys))
    files = [frag.path for frag in dataset.get_fragments(filter=expr)]
    if not files:
        wanted = " and ".join(b.filter.describe() for b in on_keys)
        raise NotFound(
            f"no file of input {loc.display} has partition values where {wanted}; "
            "check the filter values against the key=value directory names"
        )
    return files


def _read_schema(loc: Location, path: str, fmt: str) -> pa.Schema:
    if fmt == "parquet":
        with loc.fs.open_input_file(path) as handle:
            return pq.read_schema(handle)
    return pds.dataset([path], format="csv", filesystem=loc.fs).schema


def _bind(filters: Sequence[Filter], schema: pa.Schema, problems: list[str]) -> list[_Bound]:
    """Cast each filter's value(s) to its column's type; report those that do not fit."""
    bound: list[_Bound] = []
    for f in filters:
        column_type = schema.field(f.column).type
        if pa.types.is_dictionary(column_type):
            column_type = column_type.value_type
        try:
            if isinstance(f.value, list):
                values = [_cast(v, column_type) for v in f.value]
                bound.append(_Bound(f, pa.array([v.as_py() for v in values], column_type)))
            else:
                bound.append(_Bound(f, _cast(f.value, column_type)))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            problems.append(
                f"filter {f.describe()} does not fit column {f.column!r} of type "
                f"{column_type} ({exc}); give a {column_type} value"
            )
    return bound


def _cast(value: FilterValue, to: pa.DataType) -> pa.Scalar:
    is_text = pa.types.is_string(to) or pa.types.is_large_string(to)
    if is_text and isinstance(value, datetime.date):
        value = value.isoformat()  # hive date=2026-11-01 against YAML's unquoted date
    if is_text and not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    if isinstance(value, bool) != pa.types.is_boolean(to):
        raise TypeError(f"{value!r} is {'' if isinstance(value, bool) else 'not '}a boolean")
    return pa.scalar(value).cast(to, safe=True)  # refuses 5.5 -> int, 2**40 -> int32


def _arrow_expr(b: _Bound) -> pc.Expression:
    field, value = pc.field(b.filter.column), b.value
    if b.filter.op == "in":
        return field.isin(value)
    if b.filter.op == "not in":
        return ~field.isin(value)
    return _compare(b.filter.op, field, pc.scalar(value))


def _ray_expr(b: _Bound) -> Any:
    from ray.data.expressions import col, lit

    column = col(b.filter.column)
    if b.filter.op == "in":
        return column.is_in(b.value.to_pylist())
    if b.filter.op == "not in":
        return column.not_in(b.value.to_pylist())
    return _compare(b.filter.op, column, lit(b.value.as_py()))


def _compare(op: str, left: Any, right: Any) -> Any:
    compare = {
        "==": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }[op]
    return compare(left, right)
