"""The streaming memory budget of a pipeline run: how much object-store memory Ray Data's
blocks in flight may hold, so a run's peak memory stays flat however large the table.

Ray Data streams: each operator may queue output blocks until the job's object-store limit
(``DataContext.execution_options.resource_limits.object_store_memory``), which by default is
half of the cluster's object store, itself 30% of RAM. On one machine that is more than most
runs ever hold, so without a limit the blocks queued between read, score and write grow
with the table until they reach it. A pipeline config sets the limit with the key Ray Data
users know::

    resource_limits:
      object_store_memory: 2GiB     # a size: 512MiB, 2GiB, 1500000000

By default it is ``DEFAULT_PER_CPU`` per CPU of the cluster (the figures are there), which
keeps every core fed with a few blocks queued. Ray Data never exceeds its own default, so a
budget larger than that changes nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ByteSize, ConfigDict, Field

__all__ = ["DEFAULT_PER_CPU", "MIN_OBJECT_STORE_MEMORY", "ResourceLimits", "object_store_budget"]

MIB = 1024**2
#: The default budget per cluster CPU: two default-sized (128 MiB) blocks queued per core at
#: each of read and write. Measured with benchmarks/batch.py (xgboost, 30 features, 2 CPUs,
#: peak PSS of the process tree; 1 GiB here against Ray Data's own ~3.5 GiB): fused tasks
#: 1.75/1.81 GiB at 1M rows and 1.83/1.81 GiB at 2M (this default / Ray's), 256 MiB 1.75 and
#: 1.86; actors at 2M 2.40/2.10 GiB. Up to 2M rows the peak is already flat and is worker
#: heap (one block per task), not the object store, so the budget neither helps nor slows
#: there; it bounds what queues when a slow writer or actor pool lets blocks pile up.
DEFAULT_PER_CPU = 512 * MIB
#: Below this a run cannot hold one default-sized block per operator and stalls.
MIN_OBJECT_STORE_MEMORY = 64 * MIB


class ResourceLimits(BaseModel):
    """Caps on what a run's Ray Data execution holds at once (``ExecutionOptions
    .resource_limits``); only the object store's, the one that bounds memory, for now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    object_store_memory: ByteSize | None = Field(
        None, ge=MIN_OBJECT_STORE_MEMORY,
        description="object-store bytes the run's blocks in flight may hold, at least 64MiB, "
        "e.g. 2GiB (default: 512MiB per CPU of the cluster)",
    )


def object_store_budget(limits: ResourceLimits, *, cluster_cpus: float) -> int:
    """The object-store bytes a run's Ray Data execution may hold in flight: the size
    ``limits`` sets, else the default for a cluster of this many CPUs."""
    if limits.object_store_memory is not None:
        return int(limits.object_store_memory)
    return int(DEFAULT_PER_CPU * max(1.0, cluster_cpus))
