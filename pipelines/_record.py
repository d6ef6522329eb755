"""What a run leaves beside its output: the JSON run record and Ray's log, under
``<output>/_floe_runs/`` (pyarrow, pandas and Ray Data skip ``_``-prefixed paths when they
read the dataset back), with the passwords of the URLs it names hidden."""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from registry import redact_uri

__all__ = ["JOB_ID_ENV", "RUN_RECORD_DIR", "display", "environment", "log_path", "move_log",
           "record_path", "redacted", "write_record"]

RUN_RECORD_DIR = "_floe_runs"
#: Set by ``pipelines.jobs.submit`` in the job's environment: the run record names its job.
JOB_ID_ENV = "FLOE_PIPELINE_JOB_ID"


def record_path(output: str, run_id: str) -> str:
    return f"{output.rstrip('/')}/{RUN_RECORD_DIR}/{run_id}.json"


def log_path(output: str, run_id: str) -> str:
    return f"{output.rstrip('/')}/{RUN_RECORD_DIR}/{run_id}.log"


def move_log(source: Path, path: str) -> None:
    """Copy the run's log beside its record (an object store too), then remove the local one."""
    with open(source, "rb") as src, _output_stream(path) as out:
        shutil.copyfileobj(src, out)
    source.unlink()


def write_record(path: str, record: Mapping[str, Any]) -> None:
    with _output_stream(path) as out:
        out.write(json.dumps(record, indent=2, default=str).encode())


def _output_stream(path: str) -> pa.NativeFile:
    """A new file at ``path`` (local, ``file://`` or an object store), its folder made."""
    fs, where = pafs.FileSystem.from_uri(path if "://" in path else Path(path).as_uri())
    fs.create_dir(where.rsplit("/", 1)[0], recursive=True)
    return fs.open_output_stream(where)


def environment() -> dict[str, Any]:
    import ray

    def version_of(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    context = ray.get_runtime_context()
    return {
        "floe_version": version_of("floe"),
        "ray_version": ray.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "ray_job_id": context.get_job_id(),
        "ray_submission_id": os.environ.get(JOB_ID_ENV),
    }


def redacted(value: Any) -> Any:
    """``value`` with the passwords of URLs (``postgresql://user:PASSWORD@host``) hidden."""
    if isinstance(value, str):
        return display(value)
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def display(text: str) -> str:
    """``registry.redact_uri``, and nothing of a URI it cannot parse (``s3://[x``)."""
    try:
        return redact_uri(text)
    except ValueError:
        return "<a URI that does not parse>"
