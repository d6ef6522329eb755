"""Writing tables: Ray Data writes Parquet into a staging directory, then one commit.

Nothing a run writes is visible before it commits, and a run that fails (or is killed)
leaves the output exactly as it was:

1. Before any work: the run id and paths are checked, an interrupted commit is recovered
   (see ``_fs``), and ``error_if_exists`` refuses an output that holds data.
2. ``Dataset.write_parquet`` executes the Dataset into ``<parent>/.<name>.floe-staging-<run>``.
   On any error the staging directory is deleted and the error re-raised unchanged.
3. The staged files are renamed ``part-<run_id>.<n>.parquet`` (one name per run, so files of
   different runs never clash) and committed.

Local commit (atomic): for ``append``, the existing files are first hard-linked into staging
(no data is copied), skipping files an earlier attempt of the same run id appended, so a
re-run replaces its own files instead of adding them twice. Then ``<name>`` is renamed to
``.<name>.floe-old-<run>``, staging is renamed to ``<name>``, and the old copy is deleted.
A crash between the two renames leaves ``floe-old`` and no ``<name>``: the next read or
write renames it back (``recover_output``).

Object-store commit (not atomic: object stores cannot rename): the staged files are copied
under ``<name>/``; only then are the files they replace deleted, and ``_SUCCESS`` is written
last. A copy that fails deletes the files it copied. While the commit runs, and after the
process is killed in it, readers can see old and new files together; the next
``overwrite`` of the same output cleans that up.

Concurrent runs writing to one output are not supported.

The Parquet files are written for model output (``_sink.OutputDatasink``): no dictionary
encoding for floating-point columns, ``output.compression``, bounded row groups.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipelines.io._fs import (
    ASIDE_MARK,
    STAGING_MARK,
    Location,
    list_files,
    overlaps,
    recover_output,
    resolve_location,
)
from pipelines.io._specs import InputSpec, OutputSpec, WriteMode, WriteResult
from registry import AlreadyExists, InvalidInput

if TYPE_CHECKING:
    import ray.data

__all__ = ["check_output_path", "staging_location", "write_table"]

log = logging.getLogger(__name__)

SUCCESS = "_SUCCESS"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def check_output_path(
    output: OutputSpec,
    *,
    inputs: Sequence[InputSpec] = (),
    protected: Mapping[str, str] | None = None,
) -> None:
    """Refuse an output that has no parent to stage in, or that overlaps an input or one of
    the ``protected`` locations (what each is, by path: the registry's artifact root), which
    an ``overwrite`` would replace."""
    out = resolve_location(output.path, what="output path")
    if not out.parent or out.path == "/":
        raise InvalidInput(
            f"output {out.display} has no parent directory to stage the run in; "
            "write to a subdirectory such as .../results"
        )
    for spec in inputs:
        inp = resolve_location(spec.path, what="input path")
        if overlaps(inp, out):
            raise InvalidInput(
                f"output {out.display} overlaps input {inp.display} (one is, holds or is "
                "inside the other, once symlinks, '..' and URI spellings are resolved): writing "
                "would replace or mix with the data being read; give output.path a separate "
                "directory"
            )
    for what, path in (protected or {}).items():
        kept = resolve_location(path, what=what)
        if overlaps(kept, out):
            raise InvalidInput(
                f"output {out.display} overlaps {what} {kept.display} (one is, holds or is "
                "inside the other): writing there could replace or delete what it holds; give "
                "output.path a directory outside it"
            )


def write_table(
    ds: ray.data.Dataset,
    spec: OutputSpec,
    *,
    run_id: str,
    inputs: Sequence[InputSpec] = (),
) -> WriteResult:
    """Execute ``ds`` and commit it to ``spec.path`` as Parquet, all or nothing.

    ``inputs`` are the run's input tables; an output inside, equal to or around one of them
    is refused. ``run_id`` names the staged files; see the module docstring for the commit.
    """
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(
            f"run_id {run_id!r} cannot name files; use up to 128 letters, digits, '_' and '-', "
            "starting with a letter or digit"
        )
    check_output_path(spec, inputs=inputs)
    out = resolve_location(spec.path, what="output path")
    recover_output(out, is_writer=True)
    if out.fs.get_file_info(out.path).type == pafs.FileType.File:
        raise InvalidInput(f"output {out.display} is a file; output.path names a directory")
    existing = list_files(out) or []
    if existing and spec.mode == "error_if_exists":
        raise AlreadyExists(
            f"output {out.display} already holds {len(existing)} data file(s); set "
            "output.mode: overwrite to replace them or append to add to them, or choose "
            "another output.path"
        )
    if existing and spec.mode == "append":
        _check_append_layout(out, existing[0], spec.partition_by or [])
    _check_partition_columns(ds, spec.partition_by or [])

    staging = staging_location(spec, run_id)
    _warn_stale_staging(out, run_id)
    _delete_dir(staging)  # left by a killed attempt of this run
    try:
        out.fs.create_dir(staging.path, recursive=True)
        from pipelines.io._sink import OutputDatasink  # imports Ray Data: only when writing

        ds.write_datasink(OutputDatasink(staging.path, spec, filesystem=out.fs))
        staged = [staging.relative(p) for p in list_files(staging) or []]
        names = {rel: _final_name(rel, run_id, n) for n, rel in enumerate(staged)}
        rows = sum(_num_rows(out.fs, f"{staging.path}/{rel}") for rel in staged)
        if out.is_local:
            _commit_local(out, staging, names, spec.mode, run_id)
        else:
            _commit_object_store(out, staging, names, spec.mode, run_id)
    except BaseException:
        _delete_dir(staging)
        raise
    finals = sorted(names.values())
    partitions = {tuple(_partition_values(rel).items()) for rel in finals}
    return WriteResult(
        path=out.uri(out.path),
        mode=spec.mode,
        run_id=run_id,
        rows=rows,
        files=[out.uri(f"{out.path}/{rel}") for rel in finals],
        partitions=[dict(p) for p in sorted(partitions) if p],
    )


def staging_location(spec: OutputSpec, run_id: str) -> Location:
    """Where ``write_table`` stages ``run_id``'s files until it commits them (progress
    counts the rows there)."""
    out = resolve_location(spec.path, what="output path")
    return dataclasses.replace(out, path=out.sibling(f".{out.name}{STAGING_MARK}{run_id}"))


def _check_append_layout(out: Location, first_file: str, partition_by: list[str]) -> None:
    keys = list(_partition_values(out.relative(first_file)))
    if keys != partition_by:
        raise InvalidInput(
            f"output {out.display} is partitioned by {keys}, this append by {partition_by}; "
            "set output.partition_by to the same keys, or use output.mode: overwrite"
        )


def _check_partition_columns(ds: ray.data.Dataset, partition_by: list[str]) -> None:
    schema = ds.schema(fetch_if_missing=False)  # known for reads; never executes the Dataset
    if schema is None or not partition_by:
        return
    missing = [k for k in partition_by if k not in schema.names]
    if missing:
        raise InvalidInput(
            f"output.partition_by names {missing}, which the results do not have (they have "
            f"{', '.join(schema.names)}); partition by columns of the results"
        )


def _partition_values(rel: str) -> dict[str, str]:
    parts = [p.split("=", 1) for p in rel.split("/")[:-1] if "=" in p]
    return {key: unquote(value) for key, value in parts}


def _final_name(rel: str, run_id: str, n: int) -> str:
    directory = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    return f"{directory}part-{run_id}.{n:05d}.parquet"


def _is_from_run(rel: str, run_id: str) -> bool:
    return rel.rsplit("/", 1)[-1].startswith(f"part-{run_id}.")


def _num_rows(fs: pafs.FileSystem, path: str) -> int:
    with fs.open_input_file(path) as handle:
        return int(pq.read_metadata(handle).num_rows)


def _commit_local(
    out: Location, staging: Location, names: dict[str, str], mode: WriteMode, run_id: str
) -> None:
    for rel, final in names.items():
        if rel != final:
            os.rename(f"{staging.path}/{rel}", f"{staging.path}/{final}")
    if mode == "append" and os.path.isdir(out.path):
        _link_tree(out.path, staging.path, run_id)
    with open(f"{staging.path}/{SUCCESS}", "wb"):
        pass
    if not os.path.lexists(out.path):
        os.rename(staging.path, out.path)
        return
    aside = out.sibling(f".{out.name}{ASIDE_MARK}{run_id}")
    os.rename(out.path, aside)
    try:
        os.rename(staging.path, out.path)
    except BaseException:
        os.rename(aside, out.path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _link_tree(src: str, dst: str, run_id: str) -> None:
    """Hard-link every file of ``src`` into ``dst``, except an earlier attempt's of ``run_id``."""
    for dirpath, _, filenames in os.walk(src):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), src)
            if rel == SUCCESS or _is_from_run(rel, run_id):
                continue
            target = os.path.join(dst, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                os.link(os.path.join(dirpath, name), target)
            except OSError:  # a filesystem without hard links
                shutil.copy2(os.path.join(dirpath, name), target)


def _commit_object_store(
    out: Location, staging: Location, names: dict[str, str], mode: WriteMode, run_id: str
) -> None:
    fs = out.fs
    selector = pafs.FileSelector(out.path, recursive=True, allow_not_found=True)
    old = {out.relative(f.path) for f in fs.get_file_info(selector) if f.type == pafs.FileType.File}
    copied: list[str] = []
    try:
        for rel, final in names.items():
            fs.copy_file(f"{staging.path}/{rel}", f"{out.path}/{final}")
            copied.append(final)
    except BaseException:  # take back the new files; a same-named old one is lost already
        for final in copied:
            if final not in old:
                fs.delete_file(f"{out.path}/{final}")
        raise
    kept = set(names.values()) | {SUCCESS}
    for rel in old:
        if rel not in kept and (mode == "overwrite" or _is_from_run(rel, run_id)):
            fs.delete_file(f"{out.path}/{rel}")
    with fs.open_output_stream(f"{out.path}/{SUCCESS}"):
        pass
    _delete_dir(staging)


def _delete_dir(loc: Location) -> None:
    try:
        if loc.fs.get_file_info(loc.path).type != pafs.FileType.NotFound:
            loc.fs.delete_dir(loc.path)
    except OSError as exc:
        log.warning("could not delete %s: %s; delete it by hand", loc.uri(loc.path), exc)


def _warn_stale_staging(out: Location, run_id: str) -> None:
    if not out.is_local or not os.path.isdir(out.parent):
        return
    prefix = f".{out.name}{STAGING_MARK}"
    for entry in sorted(os.listdir(out.parent)):
        if entry.startswith(prefix) and entry != f"{prefix}{run_id}":
            log.warning(
                "%s was left by run %s, which was killed or is still writing; delete it once "
                "no run writes to %s",
                out.sibling(entry),
                entry.removeprefix(prefix),
                out.display,
            )
