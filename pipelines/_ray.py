"""How a pipeline run uses Ray: which cluster it joins or starts (``ensure_ray``), the Ray Data
settings it runs under (``data_context``), what Ray Data's stats say about where the time went
(``operator_stats``), and the Ray error edge of a run (``model_errors``)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pipelines._budget import ResourceLimits, object_store_budget
from registry import unwrap_ray_error

if TYPE_CHECKING:
    import ray.data

__all__ = ["data_context", "ensure_ray", "model_errors", "operator_stats"]

log = logging.getLogger(__name__)


def ensure_ray(address: str | None, *, is_quiet: bool = False) -> None:
    """Use the Ray this process is connected to, else connect to ``address`` (or
    ``$RAY_ADDRESS``), else to the cluster ``ray start`` left running on this machine, else
    start a local one.

    Not ``address="auto"``: it joins *any* Ray process it finds, including the private Ray
    another program's ``ray.init()`` started, which ends (and takes this run with it: the
    driver exits with no message) when that program does. ``ray.init()`` without an
    address joins only the cluster ``ray start`` recorded (``/tmp/ray/ray_current_cluster``).
    A stale record (that cluster killed) is seen at once (``_recorded_cluster_is_up``): a
    local Ray then starts.

    A local Ray is started lean: no dashboard (seconds of start-up a batch run never uses);
    it prestarts one worker per CPU itself. ``is_quiet``: workers' output stays in Ray's
    session logs rather than being forwarded to this process (it could arrive after the run,
    past the redirection).
    """
    import ray

    if ray.is_initialized():
        return
    options: dict[str, Any] = {"log_to_driver": not is_quiet, "include_dashboard": False}
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, **options)  # include_dashboard only counts for "local"
        return
    if _recorded_cluster_is_up():
        try:
            ray.init(**options)
            return
        except ConnectionError:
            pass
    ray.init(address="local", **options)


def _recorded_cluster_is_up(timeout_s: float = 1.0) -> bool:
    """Whether the cluster ``ray start`` recorded on this machine answers on its GCS port.
    A record left by a cluster that was killed makes ``ray.init()`` retry for minutes before
    it gives up; one TCP connect tells at once."""
    import socket

    from ray._private.services import find_bootstrap_address

    recorded = find_bootstrap_address(None)
    if not recorded:
        return False
    host, _, port = str(recorded).rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def data_context(
    *, progress: bool, limits: ResourceLimits | None = None, is_fused: bool = False
) -> Iterator[None]:
    """Ray Data settings for one run: progress bars or not, the model's own exception
    rather than Ray's ``UserCodeException`` wrapper (which loses it when pickled), and the
    run's streaming memory budget (``resource_limits.object_store_memory``, else the default
    of ``pipelines._budget``). Each Dataset copies the context when it is created, so what is
    set here holds for the whole run; the process's own settings come back afterwards.

    ``is_fused``: the run is one operator (read, score and write fused into each task), so
    Ray Data's per-operator reservation is off. It holds back part of the cluster for each
    operator so that one cannot starve another; with a single operator there is none to
    protect, and it only delays the second task: on 2 CPUs Ray Data ran one task alone for
    its first three blocks (about 1 s) before using the other CPU."""
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    options = context.execution_options
    before = (context.enable_progress_bars, context.raise_original_map_exception,
              options.resource_limits, context.op_resource_reservation_enabled)
    cpus = float(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    budget = object_store_budget(limits or ResourceLimits(), cluster_cpus=cpus)
    context.enable_progress_bars = progress
    context.raise_original_map_exception = True
    options.resource_limits = options.resource_limits.copy(object_store_memory=budget)
    if is_fused:
        context.op_resource_reservation_enabled = False
    log.info("streaming budget: %d MiB of object-store memory in flight", budget // 2**20)
    try:
        yield
    finally:
        (context.enable_progress_bars, context.raise_original_map_exception,
         options.resource_limits, context.op_resource_reservation_enabled) = before


def operator_stats(ds: ray.data.Dataset) -> list[dict[str, Any]]:
    """Ray Data's per-operator stats of the executed ``ds`` as plain rows (see RunResult)."""
    rows: list[dict[str, Any]] = []

    def walk(summary: Any) -> None:
        for parent in summary.parents:  # the operators before the last, in order
            walk(parent)
        for op in summary.operators_stats:
            wall, cpu = op.wall_time, op.cpu_time
            rows.append({
                "operator": op.operator_name,
                "tasks": int(wall.count) if wall else 0,
                "wall_s": round(float(wall.sum), 3) if wall else 0.0,
                "cpu_s": round(float(cpu.sum), 3) if cpu else 0.0,
            })

    walk(ds.get_stats_summary())
    return rows


@contextlib.contextmanager
def model_errors() -> Iterator[None]:
    """Ray wraps what a worker raised (``RayTaskError``, ``UserCodeException``) with remote
    tracebacks; re-raise the Floe error inside (``registry.unwrap_ray_error``, the one Ray
    error edge), so callers can ``except ModelError`` and the CLI prints its one-line
    message. Anything else is re-raised unchanged."""
    try:
        yield
    except Exception as exc:
        found = unwrap_ray_error(exc)
        if found is exc:
            raise
        raise found from exc
