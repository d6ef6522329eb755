"""Table I/O for batch-inference pipelines: read partitioned Parquet/CSV, write atomically.

    from pipelines.io import InputSpec, OutputSpec, read_table, write_table
    ds = read_table(InputSpec(path="s3://lake/events", columns=["id", "x"],
                              filters=[{"column": "date", "op": "==", "value": "2026-11-01"}]))
    result = write_table(ds, OutputSpec(path="s3://lake/scores", partition_by=["date"],
                                        mode="overwrite"), run_id="run-42")

Local paths and object-store URIs go through ``pyarrow.fs``. Filters on hive partition keys
prune whole files before Ray Data opens any; output appears only when a run commits, as
Parquet written for model output (no dictionaries on float columns, ``OutputSpec.compression``,
bounded row groups).
"""

from pipelines.io._read import (
    PATH_COLUMN,
    Footers,
    list_input_files,
    read_footers,
    read_schema,
    read_table,
)
from pipelines.io._specs import (
    Compression,
    Filter,
    FilterOp,
    FilterValue,
    InputSpec,
    OutputSpec,
    TableFormat,
    WriteMode,
    WriteResult,
)
from pipelines.io._write import check_output_path, staging_location, write_table

__all__ = [
    "PATH_COLUMN",
    "Compression",
    "Filter",
    "FilterOp",
    "FilterValue",
    "Footers",
    "InputSpec",
    "OutputSpec",
    "TableFormat",
    "WriteMode",
    "WriteResult",
    "check_output_path",
    "list_input_files",
    "read_footers",
    "read_schema",
    "read_table",
    "staging_location",
    "write_table",
]
