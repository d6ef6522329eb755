"""Run a version over a ``ray.data.Dataset``: the same run path, on a pool of Ray actors.

The driver reads the version once (manifest checked against the catalog, every file against
its sha256) and puts it into Ray's object store; each actor writes it to a private
directory, checks every hash again, loads it once, and then runs every batch through
``run.run_function``, the path in-process ``run`` uses, validation included. Workers never
need the catalog or the artifact root. Nothing executes until the caller consumes the
returned Dataset. Ray is imported only here, and only when a Dataset is run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

import registry.errors as errors
from registry.errors import FloeError, InvalidInput
from registry.runtime.compute import ComputeConfig
from registry.runtime.invoke import run_function
from registry.runtime.load import load_payload

if TYPE_CHECKING:
    import ray.data

__all__ = ["is_dataset", "run_dataset", "unwrap_ray_error"]

log = logging.getLogger(__name__)


def is_dataset(data: object) -> bool:
    """Whether ``data`` is a ``ray.data.Dataset``, without importing Ray."""
    return any(
        cls.__module__.startswith("ray.data") and cls.__name__ == "Dataset"
        for cls in type(data).__mro__
    )


class _VersionActor:
    """One model load per actor; every batch goes through ``run_function``."""

    def __init__(
        self,
        payload: Mapping[str, Any] | Any,
        function_name: str | None,
        partition_column: str | None,
        passthrough_columns: Sequence[str],
        source_column: str | None,
        strict: bool,
        use_gpu: bool,
    ) -> None:
        import ray

        if isinstance(payload, ray.ObjectRef):  # Ray Data passes constructor refs unresolved
            payload = ray.get(payload)
        self.loaded = load_payload(payload, {"use_gpu": use_gpu})
        self.function_name = function_name
        self.partition_column = partition_column
        self.passthrough = list(passthrough_columns)
        self.source_column = source_column
        self.strict = strict

    def __call__(self, batch: pa.Table) -> pa.Table:
        carried = list(self.passthrough)
        source = self.source_column
        if source and source in batch.column_names and source not in carried:
            carried.append(source)
        try:
            out = run_function(
                self.loaded,
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


_REMOTE_ERROR = re.compile(r"^(?:registry\.errors\.)?(\w+): (.+)$", re.MULTILINE)


def unwrap_ray_error(exc: BaseException) -> BaseException:
    """The ``FloeError`` a Ray worker raised, rebuilt from a Ray exception, else ``exc``.

    Ray Data wraps an error raised by a batch in ``UserCodeException`` and keeps the original
    only as text; consumers of a Dataset that ``run`` returned use this to get back the same
    error class and message that in-process ``run`` raises.
    """
    if isinstance(exc, FloeError):
        return exc
    for match in reversed(_REMOTE_ERROR.findall(str(exc))):
        cls = getattr(errors, match[0], None)
        if isinstance(cls, type) and issubclass(cls, FloeError):
            rebuilt = cls(match[1].strip())
            rebuilt.__cause__ = exc
            return rebuilt
    return exc


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
) -> ray.data.Dataset:
    """A lazy Dataset: ``ds``'s rows scored by the version (see ``run.run_function``)."""
    import ray

    functions = {f.name: f for f in payload["manifest"].functions}
    name = function_name
    if name is None and len(functions) == 1:
        name = next(iter(functions))
    fn = functions.get(name or "")
    if fn is None:
        listed = ", ".join(sorted(functions))
        raise InvalidInput(
            f"{payload['label']} has no function {name!r}; pass function_name= one of: {listed}"
        )
    if fn.is_partitioned and partition_column is None:
        raise InvalidInput(f"{name} of {payload['label']} is partitioned; pass partition_column=")
    if partition_column is not None and not fn.is_partitioned:
        raise InvalidInput(f"{name} of {payload['label']} is not a partitioned function; "
                           "partition_column applies to @partitioned_api functions only")
    payload_ref = ray.put(dict(payload))
    constructor = dict(
        payload=payload_ref,
        function_name=name,
        partition_column=partition_column,
        passthrough_columns=list(passthrough_columns),
        source_column=source_column,
        strict=strict,
        use_gpu=compute.use_gpu,
    )
    resources: dict[str, Any] = {
        "num_cpus": compute.num_cpus,
        "compute": ray.data.ActorPoolStrategy(
            min_size=compute.min_actors, max_size=compute.max_actors
        ),
        "batch_format": "pyarrow",
        "fn_constructor_kwargs": constructor,
    }
    if compute.num_gpus > 0:
        resources["num_gpus"] = compute.num_gpus
    if partition_column is not None:
        return ds.groupby(partition_column).map_groups(_VersionActor, **resources)
    return ds.map_batches(_VersionActor, batch_size=compute.batch_size, **resources)
