"""Run a pipeline: resolve the model, read the input, score it on Ray, write, record.

``prepare`` does everything that can fail fast without Ray: it validates the config and
resolves ``NAME@ALIAS`` or ``NAME/VERSION`` through the catalog, once, so the whole run uses
the version that alias named when the run started (the resolved version is printed by the
CLI and recorded). ``execute`` reads the input with ``pipelines.io.read_table``, scores it
with ``ModelVersion.run`` on a pool of Ray actors, writes it with ``io.write_table``
(atomic commit) and then writes the run record beside the data::

    <output>/_floe_runs/<run_id>.json

pyarrow, pandas and Ray Data skip ``_``-prefixed paths and other extensions when they read
the dataset back, and ``append`` runs keep one record each.

``execute(..., is_quiet=True)`` (what ``floe pipeline run`` does without ``--verbose``) sends
everything Ray prints during the run to the run's log file instead of the terminal
(``pipelines._output``): ``<tmp>/floe-runs/<run_id>.log`` while it runs, moved beside the
record as ``<run_id>.log`` once the output commits (a failed run's log stays in ``<tmp>``).
Progress comes from the staged files' footers (``pipelines._progress``), and the record
holds the run's fixed cost, ``first_batch_s``: from the start (Ray included) to the first
scored rows on disk, and of it ``ray_ready_s``, until Ray was connected to or started.

Start-up: a running ``ray start`` cluster is reused (``pipelines._ray.ensure_ray``); a local
one is started without the dashboard, and Ray Data reads Parquet with tasks planned on the
driver (``pipelines.io``). The record and the log are written by ``pipelines._record``.

Columns: the function's outputs are appended to the input row. The function's features
always go to the model. Input columns it does not take are ``passthrough`` columns: carried
to the output, never model input. By default that is every such column (ids, Hive partition
keys); a ``passthrough`` list says which of them to keep (a feature may be listed too: it
stays model input and is carried as well), and the others are dropped before scoring.
``explain: true`` chains the version's ``explain`` function after the main one, so one
output row holds the features, the predictions and the ``<feature>_explanation`` columns.

``prepare`` reads the input's schema (a file footer, no data, no Ray) and refuses a config
that cannot work, naming the columns: a passthrough, feature or partition column the input
lacks, or an ``output.partition_by`` key the results will not have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipelines import io
from pipelines._output import to_log_file
from pipelines._progress import Progress, StagedRows
from pipelines._ray import data_context, ensure_ray, model_errors, operator_stats
from pipelines._record import (
    display,
    environment,
    log_path,
    move_log,
    record_path,
    redacted,
    write_record,
)
from pipelines.config import PipelineConfig, config_from_mapping, load_config
from registry import (
    FeatureSpec,
    InvalidInput,
    ModelVersion,
    Registry,
    check_schema,
    plan_execution,
)

if TYPE_CHECKING:
    import ray.data

__all__ = ["ConfigLike", "PreparedRun", "RunResult", "execute", "prepare", "run"]

log = logging.getLogger(__name__)

ConfigLike = PipelineConfig | str | os.PathLike[str] | Mapping[str, Any]
EXPLAIN_FUNCTION = "explain"


@dataclass(frozen=True)
class PreparedRun:
    """A validated config with its model resolved to one version, and its input as
    ``prepare`` found it (one read of each file's footer)."""

    config: PipelineConfig
    version: ModelVersion
    function: str
    #: The function's input signature (None: the version has none), checked against every
    #: input file's footer before Ray starts.
    inputs: tuple[FeatureSpec, ...] | None
    output_columns: tuple[str, ...] | None
    #: The input's columns (the first file's, then the hive keys; see ``io.read_schema``).
    input_columns: tuple[str, ...] = ()
    #: The input's rows from the footers (``io.Footers.rows``; None where they cannot tell).
    rows_total: int | None = None

    @property
    def feature_columns(self) -> tuple[str, ...] | None:
        return tuple(f.name for f in self.inputs) if self.inputs is not None else None

    @property
    def resolved_model(self) -> str:
        """``DB.SCHEMA.NAME/VERSION``: what ran, whatever alias the config named."""
        return f"{self.version.fully_qualified_model_name}/{self.version.version_name}"


@dataclass(frozen=True)
class RunResult:
    """What a run did; also the JSON run record written beside the output."""

    run_id: str
    model: str
    resolved_model: str
    resolved_version: str
    function: str
    #: How the batches ran (``registry.plan_execution``): ``tasks`` or ``actors``, and why.
    strategy: str
    strategy_reason: str
    is_explained: bool
    rows_in: int
    rows_out: int
    partitions: int
    files: int
    wall_time_s: float
    rows_per_s: float
    #: Seconds from the run's start (Ray's start included) to the first scored rows on disk.
    first_batch_s: float
    #: Of which: seconds until Ray was connected to, or started (``ensure_ray``).
    ray_ready_s: float
    output_path: str
    record_path: str
    #: Ray's output during the run, beside the record; ``None`` when it went to the terminal.
    log_path: str | None
    started_at: str
    finished_at: str
    environment: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    #: Where the time went, from Ray Data's stats: per operator (fused ones are one, such as
    #: ``ReadParquet->MapBatches(_score_in_task)->Write``), its tasks and their summed wall
    #: and CPU seconds.
    operators: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_config(config: ConfigLike) -> PipelineConfig:
    """A ``PipelineConfig`` from itself, a YAML path, or a mapping."""
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    if isinstance(config, Mapping):
        return config_from_mapping(config)
    raise InvalidInput(f"a pipeline config is a PipelineConfig, a YAML path or a mapping, not "
                       f"{type(config).__name__}")


def prepare(config: ConfigLike) -> PreparedRun:
    """Validate ``config``, resolve its model reference to one version and check the input's
    columns against both (no Ray needed)."""
    prepared = _resolve(config)
    columns = io.read_schema(prepared.config.input).names
    _check_columns(prepared, columns)
    footers = io.read_footers(prepared.config.input)
    _check_files(prepared, footers)
    return dataclasses.replace(prepared, input_columns=tuple(columns), rows_total=footers.rows)


def _resolve(config: ConfigLike) -> PreparedRun:
    cfg = to_config(config)
    ref = cfg.model_ref
    registry = Registry(ref.database, ref.schema, catalog_url=cfg.catalog_url,
                        artifact_root=cfg.artifact_root, role=cfg.role, url=cfg.registry_url)
    protected = {"the artifact root": registry.artifact_root} if registry.artifact_root else {}
    io.check_output_path(cfg.output, inputs=[cfg.input], protected=protected)
    version = registry.get_model(ref.name).version(ref.selector)
    fn = version.get_function(cfg.function, argument="function:")
    functions = {f.name for f in version.show_functions()}
    label = f"{version.fully_qualified_model_name} version {version.version_name}"
    if cfg.explain:
        if EXPLAIN_FUNCTION not in functions:
            raise InvalidInput(
                f"explain: true, but {label} has no explain function (it is added to tabular "
                "models logged with a task and sample_input_data); remove explain: true"
            )
        if fn.is_partitioned:
            raise InvalidInput(f"explain: true needs a row function; {fn.name} is partitioned")
    if fn.is_partitioned != (cfg.partition_column is not None):
        raise InvalidInput(
            f"{fn.name} of {label} is partitioned; set partition_column: in the config"
            if fn.is_partitioned else
            f"partition_column: applies to partitioned functions; {fn.name} of {label} is a "
            "row function: remove partition_column"
        )
    signature = fn.signature
    return PreparedRun(
        config=cfg,
        version=version,
        function=fn.name,
        inputs=tuple(signature.inputs) if signature else None,
        output_columns=tuple(f.name for f in signature.outputs) if signature else None,
    )


def run(
    config: ConfigLike,
    *,
    address: str | None = None,
    progress: bool = False,
    is_quiet: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run a pipeline end to end: ``pipelines.run("configs/score.yaml")``."""
    return execute(prepare(config), address=address, progress=progress, is_quiet=is_quiet,
                   on_progress=on_progress)


def execute(
    prepared: PreparedRun,
    *,
    address: str | None = None,
    progress: bool = False,
    is_quiet: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Score, write and record a prepared run on Ray (connected or started as needed).

    ``progress``: Ray Data's own progress bars. ``is_quiet``: Ray's output goes to the run's
    log file, not this process's stdout and stderr. ``on_progress`` is called, from another
    thread, each time more rows are written.
    """
    cfg = prepared.config
    plan = plan_execution(cfg.compute)  # what the scoring does, recorded with the run
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    rows_total = prepared.rows_total
    if on_progress is not None:
        on_progress(Progress(0, rows_total))
    running_log = Path(tempfile.gettempdir()) / "floe-runs" / f"{run_id}.log"
    quiet = to_log_file(running_log) if is_quiet else contextlib.nullcontext()
    with contextlib.ExitStack() as run_scope:
        run_scope.enter_context(quiet)
        ensure_ray(address, is_quiet=is_quiet)  # before _data_context, which asks Ray
        ray_ready_s = time.perf_counter() - start
        is_fused = plan.strategy == "tasks" and cfg.partition_column is None  # no shuffle
        run_scope.enter_context(data_context(progress=progress, limits=cfg.resource_limits,
                                             is_fused=is_fused))
        run_scope.enter_context(model_errors())
        log.info("run %s: %s as %s", run_id, cfg.model, prepared.resolved_model)
        # each row's file, named in a batch's validation error (and not written), unless the
        # input has a column of that name or the function is scored by partition
        source = (io.PATH_COLUMN if cfg.partition_column is None
                  and io.PATH_COLUMN not in prepared.input_columns else None)
        ds = io.read_table(cfg.input, include_paths=source is not None)
        scored = _score(prepared, ds, source_column=source)
        with StagedRows(cfg.output, run_id, rows_total=rows_total, started=start,
                        on_progress=on_progress) as staged:
            written = io.write_table(scored, cfg.output, run_id=run_id, inputs=[cfg.input])
        rows_out = written.rows
        if on_progress is not None:
            on_progress(Progress(rows_out, rows_total))
        if prepared.config.partition_column is None:
            rows_in = rows_out  # a row function yields one output row per input row
        elif rows_total is not None:
            rows_in = rows_total
        else:
            rows_in = int(io.read_table(cfg.input).count())
    wall_time_s = time.perf_counter() - start
    # a run faster than one poll: its first rows were on disk by the end of the write
    first_batch_s = staged.first_rows_s if staged.first_rows_s is not None else wall_time_s
    log_file = log_path(written.path, run_id) if is_quiet else None
    result = RunResult(
        run_id=run_id,
        model=cfg.model,
        resolved_model=prepared.resolved_model,
        resolved_version=prepared.version.version_name,
        function=prepared.function,
        strategy=plan.strategy,
        strategy_reason=plan.reason,
        is_explained=cfg.explain,
        rows_in=rows_in,
        rows_out=rows_out,
        partitions=len(written.partitions),
        files=len(written.files),
        wall_time_s=round(wall_time_s, 3),
        rows_per_s=round(rows_in / wall_time_s, 1) if wall_time_s > 0 else 0.0,
        first_batch_s=round(first_batch_s, 3),
        ray_ready_s=round(ray_ready_s, 3),
        output_path=written.path,
        record_path=record_path(written.path, run_id),
        log_path=log_file,
        started_at=started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        environment=environment(),
        config=redacted(cfg.model_dump(mode="json")),
        operators=operator_stats(scored),
    )
    write_record(record_path(cfg.output.path, run_id), result.to_dict())
    if log_file is not None:
        move_log(running_log, log_path(cfg.output.path, run_id))
    return result


def _check_columns(prepared: PreparedRun, columns: list[str]) -> None:
    """Refuse, before Ray starts, a config whose columns cannot work with its input's."""
    cfg = prepared.config
    listed = ", ".join(columns)
    problems = []
    missing = [c for c in cfg.passthrough or () if c not in columns]
    if missing:
        problems.append(f"passthrough names {_names(missing)}, which the input does not have; "
                        "remove them from passthrough, or fix input.path or input.columns")
    features = prepared.feature_columns or ()
    lacking = [c for c in features if c not in columns]
    if lacking:
        problems.append(
            f"{prepared.function} of {prepared.resolved_model} takes {_names(lacking)}, which "
            "the input does not have; fix input.path or input.columns (list them: floe "
            f"versions show {prepared.version.fully_qualified_model_name} "
            f"{prepared.version.version_name})"
        )
    if cfg.partition_column is not None and cfg.partition_column not in columns:
        problems.append(f"partition_column {cfg.partition_column!r} is not a column of the "
                        "input; name one of its columns")
    kept = _carried_and_features(prepared, columns)
    if kept is not None and prepared.output_columns is not None:
        results = [*kept, *prepared.output_columns]
        dropped = [k for k in cfg.output.partition_by or () if k not in results]
        if cfg.explain:  # explain adds columns named here only by the version's explainer
            dropped = [k for k in dropped if k in columns]
        if dropped:
            hint = ("add them to passthrough" if any(k in columns for k in dropped) else
                    "partition by columns the results have")
            problems.append(f"output.partition_by names {_names(dropped)}, which the results "
                            f"will not have (they have {', '.join(results)}); {hint}")
    if problems:
        raise InvalidInput(f"input {display(cfg.input.path)} has columns {listed}: "
                           + "; ".join(problems))


def _check_files(prepared: PreparedRun, footers: io.Footers) -> None:
    """Refuse, before Ray starts and naming the file, an input file whose own feature columns
    the model cannot take (a column of another type in one file of many): the registry's
    schema check (``check_schema``, what every batch goes through) on each file's footer. The
    features a file lacks are hive keys or were reported by ``_check_columns``; the values
    (nulls, say) are checked batch by batch as the run reads them."""
    cfg = prepared.config
    if prepared.inputs is None:
        return
    for uri, schema in footers.schemas:
        held = [spec for spec in prepared.inputs if spec.name in schema.names]
        check_schema(pa.schema([schema.field(spec.name) for spec in held]), held,
                     strict=cfg.strict_input_validation, what=f"input file {display(uri)}")


def _carried_and_features(prepared: PreparedRun, columns: list[str]) -> list[str] | None:
    """The input columns a row function's results hold; ``None`` if not known here."""
    if prepared.config.partition_column is not None or prepared.feature_columns is None:
        return None
    passthrough = prepared.config.passthrough
    if passthrough is None:
        return columns
    return [c for c in columns if c in prepared.feature_columns or c in passthrough]


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _score(
    prepared: PreparedRun, ds: ray.data.Dataset, *, source_column: str | None
) -> ray.data.Dataset:
    """The scored Dataset; ``source_column`` (each row's file) is kept to name a bad batch's
    file in its error and is not carried to the output."""
    cfg = prepared.config
    features = prepared.feature_columns
    if features is None:  # no signature: every column is model input, but for passthrough
        carried = list(cfg.passthrough or ())
    else:  # features always go to the model; passthrough says what else is carried
        columns = [c for c in ds.schema(fetch_if_missing=True).names if c != source_column]
        if cfg.passthrough is None:
            carried = [c for c in columns if c not in features]
        else:
            carried = [c for c in cfg.passthrough if c not in features]
            keep = [c for c in columns if c in features or c in cfg.passthrough]
            if keep != columns:
                ds = ds.select_columns([*keep, *([source_column] if source_column else [])])
    scored: ray.data.Dataset = prepared.version.run(
        ds, function_name=prepared.function, partition_column=cfg.partition_column,
        passthrough_columns=carried, compute=cfg.compute, source_column=source_column,
        strict_input_validation=cfg.strict_input_validation,
    )
    if not cfg.explain:
        return scored
    outputs = list(prepared.output_columns or ())
    explained: ray.data.Dataset = prepared.version.run(
        scored, function_name=EXPLAIN_FUNCTION, passthrough_columns=[*carried, *outputs],
        compute=cfg.compute, strict_input_validation=cfg.strict_input_validation,
    )
    return explained


