"""What an endpoint is deployed with: one pydantic model parses CLI flags, Python keywords
and each entry of a ``floe serve apply`` YAML file (``ServeConfig``)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry import InvalidInput
from serve.refs import parse_endpoint_ref

__all__ = ["EndpointConfig", "FrontConfig", "ServeConfig"]


class EndpointConfig(BaseModel):
    """One endpoint: a model reference and how its replicas scale, batch and queue.

    ``model`` is ``NAME`` (the DEFAULT version), ``NAME@ALIAS`` or ``NAME/VERSION``, plain or
    qualified (``DB.SCHEMA.NAME@LIVE``). An endpoint addressed by alias follows the alias.

    ``max_batch_size`` counts requests (each may hold many rows) that one replica runs
    together, waiting up to ``batch_wait_ms`` for them; a replica holds at most
    ``max_ongoing_requests``, so its batches are never larger than that. 1 turns batching off.
    Requests beyond ``max_ongoing_requests`` per replica wait in a queue of
    ``max_queued_requests``; beyond that they are refused at once (503, ``Retry-After``).
    A replica being removed (undeploy, scale-down, a new version) finishes the requests it
    holds for up to ``graceful_shutdown_timeout_s`` (Ray Serve's default, 20 s), looking every
    ``min(2, timeout / 4)`` seconds whether it is done, and is then stopped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, Field(min_length=1)]
    min_replicas: Annotated[int, Field(ge=1)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 1
    target_ongoing_requests: Annotated[float, Field(gt=0)] = 2.0
    upscale_delay_s: Annotated[float, Field(ge=0)] = 5.0
    downscale_delay_s: Annotated[float, Field(ge=0)] = 60.0
    num_cpus: Annotated[float, Field(ge=0)] = 1.0
    num_gpus: Annotated[float, Field(ge=0)] = 0.0
    max_batch_size: Annotated[int, Field(ge=1, le=4096)] = 64
    batch_wait_ms: Annotated[float, Field(ge=0, le=10_000)] = 2.0
    max_ongoing_requests: Annotated[int, Field(ge=1)] = 8
    max_queued_requests: Annotated[int, Field(ge=0)] = 64
    graceful_shutdown_timeout_s: Annotated[float, Field(ge=0, le=3600)] = 20.0

    @field_validator("model")
    @classmethod
    def _model_is_a_reference(cls, value: str) -> str:
        try:
            parse_endpoint_ref(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _replicas_in_order(self) -> Self:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) must be greater than or equal to "
                f"min_replicas ({self.min_replicas})"
            )
        return self

    @property
    def is_batching(self) -> bool:
        return self.max_batch_size > 1


class ServeConfig(BaseModel):
    """A ``floe serve apply`` file: the endpoints that should run, and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: list[EndpointConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_entry_per_endpoint(self) -> Self:
        seen: dict[object, str] = {}
        for entry in self.endpoints:
            key = parse_endpoint_ref(entry.model).key
            if key in seen:
                raise ValueError(
                    f"endpoints {seen[key]!r} and {entry.model!r} name the same endpoint; "
                    "keep one entry per model reference"
                )
            seen[key] = entry.model
        return self


class FrontConfig(BaseModel):
    """The HTTP front: where the catalog is, which namespace bare names mean, body limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_mb: Annotated[float, Field(gt=0)] = 64.0
    endpoint_refresh_s: Annotated[float, Field(gt=0)] = 1.0

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)
