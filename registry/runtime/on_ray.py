"""Run a version over a ``ray.data.Dataset``: the same run path, on Ray tasks or actors.

The driver reads the version once (manifest checked against the catalog, every file against
its sha256, as bytes in memory) and puts it into Ray's object store. How the batches run is
``compute.plan_execution``'s one decision: as plain Ray Data tasks (``_score_in_task``, which
Ray Data fuses with the read and the write), or on a pool of actors (``_VersionActor``). Either
way a worker process checks the shipped bytes and its own environment (``force`` travels with
the job), writes them to a private directory and loads the version once (a task worker keeps
it by version id for every later block: ``load.cached_run_model``), sets the model's threads
to the CPUs it reserved, and runs every batch through ``invoke.run_function``, the path
in-process ``run`` uses, validation included. Workers never need the catalog or the artifact
root. Nothing executes until the caller consumes the returned Dataset. Ray is imported only
here, and only when a Dataset is run.

The Ray error edge is here too: ``unwrap_ray_error`` turns what consuming the Dataset raised
back into the ``FloeError`` the worker raised. The returned Dataset raises the original
exception of a failed batch (``DataContext.raise_original_map_exception``, set on that
Dataset's own context and inherited by Datasets derived from it), so the error reaches the
driver as an object, not as text.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import types
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import FloeError, InvalidInput
from registry.runtime.compute import ComputeConfig, plan_execution, threads_for
from registry.runtime.functions import ModelFunctionInfo, resolve_function
from registry.runtime.invoke import run_function
from registry.runtime.load import LoadedModel, VersionPayload, cached_run_model, load_payload

if TYPE_CHECKING:
    import ray.data

__all__ = ["is_dataset", "reserved_threads", "run_dataset", "unwrap_ray_error"]

log = logging.getLogger(__name__)


def is_dataset(data: object) -> bool:
    """Whether ``data`` is a ``ray.data.Dataset``, without importing Ray."""
    return any(
        cls.__module__.startswith("ray.data") and cls.__name__ == "Dataset"
        for cls in type(data).__mro__
    )


class _Scorer:
    """What every batch of one run needs besides the model: the function, the columns carried
    to the output and the file a batch came from (named in its errors)."""

    def __init__(
        self,
        function_name: str | None,
        partition_column: str | None,
        passthrough_columns: Sequence[str],
        source_column: str | None,
        strict: bool,
    ) -> None:
        self.function_name = function_name
        self.partition_column = partition_column
        self.passthrough = list(passthrough_columns)
        self.source_column = source_column
        self.strict = strict

    def __call__(self, loaded: LoadedModel, batch: pa.Table) -> pa.Table:
        carried = list(self.passthrough)
        source = self.source_column
        if source and source in batch.column_names and source not in carried:
            carried.append(source)
        try:
            out = run_function(
                loaded,
                batch,
                self.function_name,
                strict=self.strict,
                partition_column=self.partition_column,
                passthrough_columns=carried,
            )
        except InvalidInput as exc:
            raise InvalidInput(f"{exc.message}{self._where(batch)}") from None
        if (
            self.source_column
            and self.source_column not in self.passthrough
            and self.source_column in out.column_names
        ):
            out = out.drop_columns([self.source_column])
        return out

    def _where(self, batch: pa.Table) -> str:
        if not self.source_column or self.source_column not in batch.column_names:
            return ""
        files = pc.unique(batch.column(self.source_column)).to_pylist()
        return f" (in {', '.join(str(f) for f in files[:3])}{' ...' if len(files) > 3 else ''})"


def reserved_threads() -> int:
    """The thread count for the model in this Ray task or actor: the whole CPUs Ray reserved
    for it (``compute.threads_for``), read from Ray itself, so it is what this worker holds
    whatever the config said."""
    import ray

    assigned = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call]
    cpus = float(assigned.get("CPU", 0.0))
    return threads_for(cpus)


# The thread count this worker process last set (the OpenMP and BLAS pools are per process,
# shared by every model it holds); None: the framework's default, as in-process runs keep.
_process_threads: int | None = None


def _use_threads(loaded: LoadedModel) -> None:
    """Run the model with the CPUs this task or actor reserved: set when the model or the
    process runs with another count (a worker process may run tasks of other sizes), so a
    block costs nothing when nothing changed."""
    global _process_threads
    threads = reserved_threads()
    if loaded.threads != threads or _process_threads != threads:
        loaded.predictor.set_threads(threads)
        loaded.threads = _process_threads = threads


class _VersionActor:
    """The ``actors`` strategy: one model load per actor; every batch goes through the
    scorer, that is ``run_function``."""

    def __init__(
        self,
        payload: VersionPayload | Any,  # or the ObjectRef of one
        scorer: _Scorer,
        use_gpu: bool,
        force: bool = False,
    ) -> None:
        import ray

        if isinstance(payload, ray.ObjectRef):  # Ray Data passes constructor refs unresolved
            payload = ray.get(payload)
        # Checks the shipped bytes and this worker's environment before deserialising.
        self.loaded = load_payload(payload, {"use_gpu": use_gpu}, force=force)
        _use_threads(self.loaded)
        self.scorer = scorer

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.scorer(self.loaded, batch)


def _score_in_task(
    batch: pa.Table,
    *,
    payload: Any,  # the ObjectRef of a VersionPayload, fetched only when not loaded here
    version_id: str,
    label: str,
    scorer: _Scorer,
    use_gpu: bool,
    force: bool,
    batch_size: int | None = None,
) -> pa.Table:
    """The ``tasks`` strategy: a plain function Ray Data fuses with the read and the write.
    The worker process keeps the model by version id (``load.cached_run_model``), so it
    fetches and deserialises a version once however many blocks it scores; the environment
    is checked at every block all the same, as on every run path."""
    loaded = cached_run_model(version_id, {"use_gpu": use_gpu}, force=force, label=label)
    if loaded is None:
        import ray

        loaded = load_payload(ray.get(payload), {"use_gpu": use_gpu}, force=force)
    _use_threads(loaded)
    if batch_size is None or batch.num_rows <= batch_size:
        return scorer(loaded, batch)
    # Ray Data fuses a read with the map that follows only when the map takes whole blocks
    # (no batch_size), so the block is cut into the model's batches here
    parts = [scorer(loaded, batch.slice(start, batch_size))
             for start in range(0, batch.num_rows, batch_size)]
    return pa.concat_tables(parts)


_RAY_RETRY_NOTE = "\nFailed to apply UDF transform"
# an exception line of a printed traceback: "registry.errors.InvalidInput: <message>", the
# message running to the blank line Python prints after it, Ray Data's retry note or the end
_REMOTE_ERROR = re.compile(
    r"^registry\.errors\.(\w+): (.*?)(?=\n\n|\nFailed to apply UDF transform|\Z)",
    re.MULTILINE | re.DOTALL,
)


def unwrap_ray_error(exc: BaseException) -> BaseException:
    """The ``FloeError`` a Ray worker raised, from the Ray exception that carries it; any
    other exception unchanged (the same object).

    Consumers of a Dataset that ``run`` returned call this on what consuming it raised, and
    get the class and message that in-process ``run`` raises, chained to the Ray exception
    (``__cause__``). Ray's wrappers are mapped most specific first:

    * ``RayTaskError`` (``RayTaskError(InvalidInput)`` and friends, which are also instances
      of the worker's class): the original exception, kept as ``.cause`` when it pickles;
    * ``UserCodeException`` (Ray Data's wrapper): its ``__cause__``, where it still has one;
    * ``ActorDiedError`` (an actor's ``__init__`` raised, the model did not load) and any other
      ``RayError``: the worker's traceback text, parsed as a last resort;
    * a ``FloeError`` raised on the driver is returned as it is.

    Ray Data's retry advice, appended to the message of what a batch raised, is removed.

    A Ray exception's traceback is released here (``_release_frames``): its finished frames
    hold the failed Dataset's executor and, through it, the handles of its actors, in a
    reference cycle only Python's collector would break. Until then the actors live on and
    keep their CPUs; a long-lived driver (a notebook, a server) would see later runs starve.
    """
    from ray.exceptions import RayError

    found = _floe_error_in(exc, 0)
    if isinstance(exc, RayError) or (found is not None and found is not exc):
        _release_frames(exc)
    if found is None or found is exc:
        return exc
    found.__cause__ = exc
    return found


def _release_frames(exc: BaseException) -> None:
    """Clear the local variables of the finished frames that ``exc`` and the exceptions it
    chains to keep alive: those of their tracebacks, and the callers of those frames (a dead
    frame holds its caller, here the executor's loop in a thread that has ended). Frames still
    executing are left alone; file names and line numbers stay, so tracebacks still print."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    cleared = 0
    while pending and cleared < 1_000:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            frame: types.FrameType | None = tb.tb_frame
            while frame is not None and id(frame) not in seen:
                seen.add(id(frame))
                with contextlib.suppress(RuntimeError):  # executing: not ours to clear
                    frame.clear()
                cleared += 1
                frame = frame.f_back
            tb = tb.tb_next
        pending += [current.__cause__, current.__context__]


def _floe_error_in(exc: BaseException, depth: int) -> FloeError | None:
    from ray.exceptions import RayError, RayTaskError, UserCodeException

    if depth > 8:  # a chain of wrappers this long is not Ray's
        return None
    if isinstance(exc, RayTaskError):  # before FloeError: a dual RayTaskError(InvalidInput)
        cause = exc.cause
        found = _floe_error_in(cause, depth + 1) if isinstance(cause, BaseException) else None
        return found or _parse(str(exc))  # the worker's traceback, Ray's frames left out
    if isinstance(exc, FloeError):
        return _without_retry_note(exc)
    if isinstance(exc, UserCodeException):
        if exc.__cause__ is not None:
            return _floe_error_in(exc.__cause__, depth + 1)
        return None
    if isinstance(exc, RayError):
        return _parse(str(exc))
    return None


def _without_retry_note(error: FloeError) -> FloeError:
    message = error.message
    cleaned = message.split(_RAY_RETRY_NOTE, 1)[0].rstrip()
    if cleaned == message:
        return error
    rebuilt = copy.copy(error)
    rebuilt.args = (cleaned, *error.args[1:])
    return rebuilt


def _parse(text: str) -> FloeError | None:
    """The last ``registry.errors`` exception a traceback's text shows (the one that
    propagated), rebuilt with its message."""
    classes = _floe_classes(FloeError)
    for name, message in reversed(_REMOTE_ERROR.findall(text)):
        if name in classes:
            return classes[name](message.strip())
    return None


def _floe_classes(base: type[FloeError]) -> dict[str, type[FloeError]]:
    """``registry.errors``' classes by name: the only names a worker's text is trusted for."""
    found = {base.__name__: base} if base.__module__ == FloeError.__module__ else {}
    for sub in base.__subclasses__():
        found.update(_floe_classes(sub))
    return found


def run_dataset(
    payload: Mapping[str, Any],
    ds: ray.data.Dataset,
    *,
    function_name: str | None,
    compute: ComputeConfig,
    partition_column: str | None = None,
    passthrough_columns: Sequence[str] = (),
    source_column: str | None = None,
    strict: bool = False,
    force: bool = False,
) -> ray.data.Dataset:
    """A lazy Dataset: ``ds``'s rows scored by the version (see ``invoke.run_function``)."""
    import ray

    functions = [ModelFunctionInfo.from_manifest(f) for f in payload["manifest"].functions]
    fn = resolve_function(functions, function_name, label=payload["label"])
    if fn.is_partitioned and partition_column is None:
        raise InvalidInput(f"{fn.name} of {payload['label']} is partitioned; pass "
                           "partition_column=")
    if partition_column is not None and not fn.is_partitioned:
        raise InvalidInput(f"{fn.name} of {payload['label']} is not a partitioned function; "
                           "partition_column applies to @partitioned_api functions only")
    plan = plan_execution(compute)
    payload_ref = ray.put(dict(payload))
    scorer = _Scorer(fn.name, partition_column, passthrough_columns, source_column, strict)
    resources: dict[str, Any] = {"num_cpus": plan.num_cpus, "batch_format": "pyarrow"}
    if plan.num_gpus > 0:
        resources["num_gpus"] = plan.num_gpus
    udf: Any
    if plan.strategy == "actors":
        udf = _VersionActor
        resources["compute"] = ray.data.ActorPoolStrategy(
            min_size=compute.min_actors, max_size=compute.max_actors
        )
        resources["fn_constructor_kwargs"] = dict(
            payload=payload_ref, scorer=scorer, use_gpu=compute.use_gpu, force=force,
        )
    else:
        udf = _score_in_task
        resources["fn_kwargs"] = dict(
            payload=payload_ref, version_id=payload["version_id"], label=payload["label"],
            scorer=scorer, use_gpu=compute.use_gpu, force=force,
            # a partition is scored whole, in one call
            batch_size=compute.batch_size if partition_column is None else None,
        )
    log.info("%s runs as %s", payload["label"], plan.describe())
    if partition_column is not None:
        out = ds.groupby(partition_column).map_groups(udf, **resources)
    else:  # tasks take whole blocks, so Ray Data fuses them with the read (see _score_in_task)
        batch_size = compute.batch_size if plan.strategy == "actors" else None
        out = ds.map_batches(udf, batch_size=batch_size, **resources)
    # a batch's FloeError reaches the consumer as itself (in RayTaskError(InvalidInput)),
    # not as text inside Ray Data's UserCodeException; see unwrap_ray_error
    out.context.raise_original_map_exception = True
    return out


def find_ray_token(token: str | None = None) -> str | None:
    """A Ray cluster's auth token, looked up as Ray's CLI does: ``token``, else
    ``$RAY_AUTH_TOKEN``, else the file at ``$RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``
    (where ``ray start`` writes it); None when there is none."""
    import contextlib
    import os
    from pathlib import Path

    if token:
        return token
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    with contextlib.suppress(OSError):
        return path.expanduser().read_text().strip() or None
    return None
