"""How a distributed run uses a Ray cluster: one pydantic model for Python, YAML and HTTP.

The defaults suit a small machine: fractional CPUs per actor leave room for Ray Data's
read and write tasks (an actor pool that reserves every CPU starves them and the job hangs).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator

__all__ = ["ComputeConfig"]


class ComputeConfig(BaseModel):
    """Resources of the actor pool that runs a version over a ``ray.data.Dataset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_actors: PositiveInt = Field(1, description="actors kept alive, each loads the model once")
    max_actors: PositiveInt = Field(2, description="the pool autoscales up to this many")
    batch_size: PositiveInt = Field(65536, description="rows handed to the model per call")
    num_cpus: NonNegativeFloat = Field(0.5, description="CPUs reserved per actor")
    num_gpus: NonNegativeFloat = Field(0.0, description="GPUs per actor; > 0 loads with use_gpu")

    @model_validator(mode="after")
    def _check_pool(self) -> Self:
        if self.max_actors < self.min_actors:
            raise ValueError(
                f"max_actors ({self.max_actors}) must be greater than or equal to min_actors "
                f"({self.min_actors})"
            )
        if self.num_cpus == 0 and self.num_gpus == 0:
            raise ValueError("an actor needs num_cpus > 0 or num_gpus > 0")
        return self

    @property
    def use_gpu(self) -> bool:
        return self.num_gpus > 0
