"""Floe's batch-inference pipelines: read a table, score it with a registered model version
on Ray Data, and write the results, committed only when the run completes.

    from pipelines import InputSpec, OutputSpec, read_table, write_table
"""

from pipelines.config import PipelineConfig, load_config, parse_config
from pipelines.io import (
    Filter,
    FilterOp,
    FilterValue,
    InputSpec,
    OutputSpec,
    TableFormat,
    WriteMode,
    WriteResult,
    check_output_path,
    list_input_files,
    read_schema,
    read_table,
    write_table,
)
from pipelines.jobs import JobState, job_logs, job_status, stop_job, submit, wait_for_job
from pipelines.runner import PreparedRun, RunResult, execute, prepare, run

__all__ = [
    "Filter",
    "FilterOp",
    "FilterValue",
    "InputSpec",
    "JobState",
    "OutputSpec",
    "PipelineConfig",
    "PreparedRun",
    "RunResult",
    "TableFormat",
    "WriteMode",
    "WriteResult",
    "check_output_path",
    "execute",
    "job_logs",
    "job_status",
    "list_input_files",
    "load_config",
    "parse_config",
    "prepare",
    "read_schema",
    "read_table",
    "run",
    "stop_job",
    "submit",
    "wait_for_job",
    "write_table",
]
