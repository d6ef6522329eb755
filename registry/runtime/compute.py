"""How a distributed run uses a Ray cluster: one pydantic model for Python, YAML and HTTP,
and the one decision of how a run executes (``plan_execution``).

Two strategies:

* ``tasks``: the scoring function is a plain Ray Data map, so Ray Data fuses read -> score ->
  write into one task per block; each worker process loads the version once (cached by its
  immutable id) and keeps it for every later block. No actor pool competes with the read and
  write tasks for the same CPUs: on a small machine this is the fastest way to score a table
  with a CPU model.
* ``actors``: a pool of actors, each loading the model once and keeping it: for GPUs (a model
  placed on a device stays there), or when a user sizes a pool (``min_actors``/``max_actors``).

``auto`` (the default) picks tasks for a CPU model with no pool asked for, actors otherwise.

CPUs: a task reserves one whole CPU by default (Ray Data's read tasks do too, so the fused
tasks run one per core); an actor reserves half a CPU by default, which leaves room for Ray
Data's read and write tasks (an actor pool that reserves every CPU starves them and the job
hangs). The model's framework runs as many threads as its task or actor reserved whole CPUs
(at least one): never more, so tasks side by side do not oversubscribe the cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator

__all__ = ["ComputeConfig", "ExecutionPlan", "Strategy", "plan_execution", "threads_for"]

Strategy = Literal["auto", "tasks", "actors"]
_TASK_CPUS = 1.0
_ACTOR_CPUS = 0.5
_POOL_FIELDS = ("min_actors", "max_actors")


class ComputeConfig(BaseModel):
    """How a version runs over a ``ray.data.Dataset``: strategy, batch size and resources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = Field(
        "auto", description="tasks (fused read-score-write, CPU models), actors (a pool that "
        "keeps the model loaded: GPUs), or auto: tasks for a CPU model unless a pool is sized"
    )
    min_actors: PositiveInt = Field(1, description="actors kept alive, each loads the model once")
    max_actors: PositiveInt = Field(2, description="the pool autoscales up to this many")
    batch_size: PositiveInt = Field(65536, description="rows handed to the model per call")
    num_cpus: NonNegativeFloat | None = Field(
        None, description="CPUs reserved per task or actor, and the model's threads in it (the "
        "whole CPUs, at least 1). Default: 1 per task, so a 2-CPU machine runs 2 fused "
        "read-score-write tasks side by side, each model on 1 thread (measured no slower than "
        "one 2-CPU task, which also serialises the read and write); 0.5 per actor, which leaves "
        "CPUs to Ray Data's read and write tasks"
    )
    num_gpus: NonNegativeFloat = Field(0.0, description="GPUs per actor; > 0 loads with use_gpu")

    @model_validator(mode="after")
    def _check_pool(self) -> Self:
        if self.max_actors < self.min_actors:
            raise ValueError(
                f"max_actors ({self.max_actors}) must be greater than or equal to min_actors "
                f"({self.min_actors})"
            )
        if self.num_cpus == 0 and self.num_gpus == 0:
            raise ValueError("a task or actor needs num_cpus > 0 or num_gpus > 0")
        return self

    @property
    def use_gpu(self) -> bool:
        return self.num_gpus > 0


@dataclass(frozen=True)
class ExecutionPlan:
    """What ``plan_execution`` decided for one run, and why (recorded with the run)."""

    strategy: Literal["tasks", "actors"]
    reason: str
    num_cpus: float
    num_gpus: float

    def describe(self) -> str:
        return f"{self.strategy} ({self.reason})"


def threads_for(cpus: float) -> int:
    """The model's thread count for ``cpus`` reserved CPUs: the whole CPUs, at least one (a
    fraction of a CPU cannot run a thread of its own; more threads than whole CPUs would
    oversubscribe the cores that the tasks beside it reserved)."""
    return max(1, math.floor(cpus))


def plan_execution(compute: ComputeConfig) -> ExecutionPlan:
    """The strategy ``compute`` asks for, or the one ``auto`` picks, with its resources."""
    strategy = compute.strategy
    sized = [f for f in _POOL_FIELDS if f in compute.model_fields_set]
    if strategy == "tasks":
        reason = "compute.strategy: tasks"
    elif strategy == "actors":
        reason = "compute.strategy: actors"
    elif compute.num_gpus > 0:
        strategy, reason = "actors", "the model runs on GPUs: an actor pool keeps it on its device"
    elif sized:
        strategy = "actors"
        reason = f"an actor pool was sized ({', '.join(f'compute.{f}' for f in sized)})"
    else:
        strategy = "tasks"
        reason = ("the model runs on CPU and no actor pool was asked for: read, score and "
                  "write fuse into one task per block")
    default_cpus = _TASK_CPUS if strategy == "tasks" else _ACTOR_CPUS
    num_cpus = compute.num_cpus if compute.num_cpus is not None else default_cpus
    return ExecutionPlan(strategy, reason, num_cpus, compute.num_gpus)
