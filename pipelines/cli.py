"""``floe pipeline``: run a YAML pipeline here or on a cluster, submit it as a Ray job, follow it.

The ``floe`` command finds this group through the ``floe.cli`` entry-point group::

    floe pipeline run configs/score.yaml [--address HOST:6379]
    floe pipeline submit configs/score.yaml --address http://HEAD:8265 [--token T] [--wait]
    floe pipeline status|logs|stop JOB_ID --address http://HEAD:8265

Commands only raise (``FloeError``, typer's errors): the ``floe`` command's one error edge
(``registry.cli``'s ``main``) turns them into one ``error:`` line and an exit status, for
this group as for every other. ``python -m pipelines.cli ARGS`` is ``floe pipeline ARGS``.
Only this module prints in pipelines. Results go to stdout (``--json`` for scripts),
progress to stderr.

``pipeline run`` shows Floe's lines only: the resolved version, one progress bar (rows
written of the input's rows, rows/s, elapsed; on a terminal) and the summary. What Ray
prints during the run goes to the run's log file, whose path the summary gives;
``--verbose`` (or ``floe -v``) lets Ray's lines through to the terminal instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pipelines._output import terminal_stream
from pipelines._progress import Progress as RowsWritten
from pipelines.config import PipelineConfig, load_config
from pipelines.jobs import (
    JobState,
    config_from_env,
    job_logs,
    job_status,
    stop_job,
    submit,
    wait_for_job,
)
from pipelines.runner import RunResult, execute, prepare
from registry import InvalidInput

__all__ = ["app"]

app = typer.Typer(
    name="pipeline",
    help="Run batch-inference pipelines described in YAML (see configs/score.yaml): locally, "
    "on a Ray cluster, or as a Ray job.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigArg = Annotated[
    str | None,
    typer.Argument(metavar="CONFIG", help="The pipeline's YAML file.", show_default=False),
]
JobArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The id submit printed.")]
JobAddress = Annotated[
    str | None,
    typer.Option(
        "--address",
        metavar="URL",
        help="The Ray dashboard, http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS, "
        "$RAY_ADDRESS, else http://127.0.0.1:8265).",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        help="The cluster's auth token (default: $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH, "
        "~/.ray/auth_token); print it on the head with: ray get-auth-token.",
        show_default=False,
    ),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON to stdout (and nothing else) for scripts.")
]


@app.command("run")
def run_command(
    ctx: typer.Context,
    config: ConfigArg = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="ADDRESS",
            help="A Ray cluster (HOST:6379 or ray://HOST:10001); default: $RAY_ADDRESS, a "
            "local Ray that is running, else a new local one.",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Show the progress bar (default: when "
                     "stderr is a terminal).", show_default=False),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Ray's own log lines (and Ray Data's "
                           "progress bars) instead of sending them to the run's log file.")
    ] = False,
    as_json: AsJson = False,
    config_env: Annotated[str | None, typer.Option("--config-env", hidden=True)] = None,
) -> None:
    """Run a pipeline and print its summary; the run record is written beside the output."""
    cfg = _config(ctx, config, config_env)
    prepared = prepare(cfg)
    out = Console(stderr=as_json, highlight=False, soft_wrap=True)
    out.print(Text(f"model {cfg.model} resolved to {prepared.resolved_model}"))
    verbose = verbose or bool(ctx.find_root().params.get("verbose"))
    terminal = terminal_stream()
    show = terminal.isatty() if progress is None else progress
    try:
        with _progress_bar(terminal, is_shown=show and not verbose) as on_progress:
            result = execute(prepared, address=address, progress=show and verbose,
                             is_quiet=not verbose, on_progress=on_progress)
    finally:
        if terminal is not sys.stderr:
            terminal.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    out.print(_summary(result))
    out.print(Text(f"run record: {result.record_path}"))
    if result.log_path is not None:
        out.print(Text(f"Ray's log:  {result.log_path}"))


@app.command("submit")
def submit_command(
    ctx: typer.Context,
    config: ConfigArg,
    address: JobAddress = None,
    token: Token = None,
    submission_id: Annotated[
        str | None, typer.Option("--submission-id", metavar="ID", help="Choose the job id.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the job to finish; exit 1 unless it succeeds.")
    ] = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="How long --wait waits.", min=1)
    ] = 3600.0,
    as_json: AsJson = False,
) -> None:
    """Submit a pipeline as a Ray job through the cluster's Job Submission API."""
    cfg = _config(ctx, config, None)
    job_id = submit(cfg, address=address, token=token, submission_id=submission_id,
                    source=config)
    state = None
    if wait:
        state = wait_for_job(job_id, address=address, token=token, timeout_s=timeout_s)
    if as_json:
        typer.echo(json.dumps({"job_id": job_id, **(state.to_dict() if state else {})}))
    else:
        typer.echo(f"submitted job {job_id} ({cfg.model})")
        typer.echo(f"follow it: floe pipeline status {job_id}; floe pipeline logs {job_id}")
        if state is not None:
            typer.echo(f"job {job_id} {state.status}" + (f": {state.message}" if state.message else ""))
    if state is not None and state.status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command("status")
def status_command(
    job_id: JobArg, address: JobAddress = None, token: Token = None, as_json: AsJson = False
) -> None:
    """Print a submitted pipeline's status."""
    state = job_status(job_id, address=address, token=token)
    if as_json:
        typer.echo(json.dumps(state.to_dict()))
        return
    Console(highlight=False, soft_wrap=True).print(_state_table(state))


@app.command("logs")
def logs_command(job_id: JobArg, address: JobAddress = None, token: Token = None) -> None:
    """Print a submitted pipeline's driver logs so far."""
    typer.echo(job_logs(job_id, address=address, token=token), nl=False)


@app.command("stop")
def stop_command(job_id: JobArg, address: JobAddress = None, token: Token = None) -> None:
    """Stop a submitted pipeline."""
    if stop_job(job_id, address=address, token=token):
        typer.echo(f"stopping job {job_id}")
    else:
        typer.echo(f"job {job_id} had already finished")


def _config(ctx: typer.Context, path: str | None, config_env: str | None) -> PipelineConfig:
    if (path is None) == (config_env is None):
        raise InvalidInput("pass the pipeline's YAML file: floe pipeline run CONFIG")
    cfg = config_from_env(config_env) if config_env is not None else load_config(path or "")
    # `floe --catalog-url ... --role R pipeline run` overrides the config's catalog keys and role
    root = ctx.find_root().obj
    update = {key: getattr(root, key, None)
              for key in ("catalog_url", "artifact_root", "role", "registry_url")}
    update = {k: v for k, v in update.items() if v}
    return cfg.model_copy(update=update) if update else cfg


def _summary(result: RunResult) -> Table:
    table = Table(title="pipeline run", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    rows: list[tuple[str, Any]] = [
        ("model", f"{result.model} -> {result.resolved_model}"),
        ("function", result.function + (" + explain" if result.is_explained else "")),
        ("strategy", f"{result.strategy}: {result.strategy_reason}"),
        ("rows in", f"{result.rows_in:,}"),
        ("rows out", f"{result.rows_out:,}"),
        ("partitions", result.partitions),
        ("files", result.files),
        ("rows/s", f"{result.rows_per_s:,.1f}"),
        ("wall time", f"{result.wall_time_s:.2f} s"),
        ("first rows", f"{result.first_batch_s:.2f} s (Ray ready at {result.ray_ready_s:.2f} s, "
                       "then planning, workers, model load)"),
        ("output", result.output_path),
        ("run id", result.run_id),
    ]
    for name, value in rows:
        table.add_row(Text(name), Text(str(value)))
    return table


class _RowsColumn(ProgressColumn):
    """``12,000 of 64,000 rows  3,400 rows/s``: the total only where the input's footers
    gave one, the rate over the whole run so far (start-up included, as in the summary)."""

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        of = f" of {int(task.total):,}" if task.total is not None else ""
        elapsed = task.elapsed or 0.0
        rate = f"  {task.completed / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        return Text(f"{done}{of} rows{rate}")


@contextmanager
def _progress_bar(
    terminal: TextIO, *, is_shown: bool
) -> Iterator[Callable[[RowsWritten], None] | None]:
    """One bar on ``terminal`` (which the run's redirection leaves alone), fed from the
    runner's progress thread; removed when the run ends, the summary says the rest."""
    if not is_shown:
        yield None
        return
    console = Console(file=terminal, highlight=False)
    bar = Progress(BarColumn(), _RowsColumn(), TimeElapsedColumn(), console=console,
                   transient=True)
    task = bar.add_task("rows", total=None)

    def update(progress: RowsWritten) -> None:
        bar.update(task, completed=progress.rows_done, total=progress.rows_total)

    with bar:
        yield update


def _state_table(state: JobState) -> Table:
    table = Table(show_header=False)
    for name, value in (("job", state.job_id), ("status", state.status),
                        ("model", state.metadata.get("floe_model", "")),
                        ("message", state.message or "")):
        table.add_row(Text(name), Text(str(value)))
    return table


if __name__ == "__main__":  # the same process as `floe pipeline ...`, through the one edge
    os.execv(sys.executable, [sys.executable, "-m", "registry.cli", "pipeline", *sys.argv[1:]])
