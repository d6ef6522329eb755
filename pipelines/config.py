"""A batch-inference pipeline as one validated config: which model, on what, to where, how.

The same pydantic model parses a YAML file, a Python mapping and the JSON a submitted job
carries::

    model: ML.PROD.CHURN@DEFAULT        # NAME@ALIAS or NAME/VERSION; NAME may be DB.SCHEMA.NAME
    function: predict_proba             # optional when the version has one function
    input:  {path: data/customers, format: parquet, filters: [...], columns: [...]}
    output: {path: out/scores, partition_by: [region], mode: overwrite}
    compute: {min_actors: 1, max_actors: 4, batch_size: 4096, num_cpus: 0.5, num_gpus: 0}
    resource_limits: {object_store_memory: 2GiB}   # the streaming budget (pipelines._budget)
    passthrough: [customer_id]          # also carried to the output; default: every input column
    explain: true                       # also run the version's `explain` function

The model reference is only parsed here; it is resolved through the catalog when the run
starts (``pipelines.runner``). Unknown keys and wrong types are refused together, each with
its YAML line and what the field allows. ``${VAR}`` and ``${VAR:-default}`` are expanded
from the environment, and relative local paths are made absolute against the working
directory, so a config means the same thing wherever the run is then executed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines._budget import ResourceLimits
from pipelines.io import InputSpec, OutputSpec
from registry import (
    ComputeConfig,
    InvalidInput,
    ModelRef,
    dump_config_yaml,
    load_config_file,
    parse_config_text,
    parse_model_ref,
    validate_config_mapping,
)

__all__ = [
    "PipelineConfig",
    "config_from_mapping",
    "dump_config",
    "load_config",
    "parse_config",
]

class PipelineConfig(BaseModel):
    """One batch-inference run: read ``input``, score it with ``model``, write ``output``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="NAME@ALIAS or NAME/VERSION; NAME may be DB.SCHEMA.NAME")
    function: str | None = Field(None, description="the version's function to run")
    input: InputSpec
    output: OutputSpec
    compute: ComputeConfig = ComputeConfig()
    resource_limits: ResourceLimits = ResourceLimits()
    passthrough: list[str] | None = Field(
        None, description="input columns carried to the output besides the features (which "
        "always go to the model, listed here or not); default: every input column"
    )
    partition_column: str | None = Field(
        None, description="the column that splits the input for a partitioned function"
    )
    explain: bool = Field(False, description="also run the version's explain function")
    strict_input_validation: bool = False
    catalog_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog (default: $FLOE_CATALOG_URL)"
    )
    artifact_root: str | None = Field(
        None, description="where versions' files live (default: $FLOE_ARTIFACT_ROOT)"
    )
    role: str | None = Field(
        None, description="the role the run acts as: it needs USAGE on the model "
        "(default: $FLOE_ROLE, else ADMIN)"
    )
    registry_url: str | None = Field(
        None, description="a registry server to resolve the model through instead of the "
        "catalog (default: $FLOE_REGISTRY_URL); its token comes from $FLOE_TOKEN"
    )

    @field_validator("model")
    @classmethod
    def _check_ref(cls, value: str) -> str:
        try:
            parse_model_ref(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def model_ref(self) -> ModelRef:
        return parse_model_ref(self.model)


_KIND = "pipeline config"
_EXAMPLE = "configs/score.yaml"


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    """Read and validate a YAML pipeline config; ``InvalidInput`` names every bad line."""
    return load_config_file(path, PipelineConfig, kind=_KIND, example=_EXAMPLE,
                            prepare=_absolute_paths)


def parse_config(text: str, *, source: str = "<config>", expand_env: bool = True) -> PipelineConfig:
    """Validate a YAML (or JSON) pipeline config held in a string."""
    return parse_config_text(text, PipelineConfig, source=source, kind=_KIND, example=_EXAMPLE,
                             prepare=_absolute_paths, expand_env=expand_env)


def dump_config(config: PipelineConfig) -> str:
    """``config`` as YAML that ``parse_config(..., expand_env=False)`` reads back equal: how a
    submitted job carries it (YAML keeps a date apart from a string that looks like one)."""
    return dump_config_yaml(config)


def config_from_mapping(data: Mapping[str, Any], *, source: str = "<config>") -> PipelineConfig:
    """Validate a config given as a mapping (no line numbers to report)."""
    return validate_config_mapping(data, PipelineConfig, source=source, kind=_KIND,
                                   example=_EXAMPLE, prepare=_absolute_paths)


def _absolute_paths(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for section in ("input", "output"):
        spec = out.get(section)
        if isinstance(spec, dict) and "path" in spec:
            path = spec["path"]
            if isinstance(path, str):
                out[section] = {**spec, "path": _absolute(path)}
            elif isinstance(path, list) and all(isinstance(p, str) for p in path):
                out[section] = {**spec, "path": [_absolute(p) for p in path]}
    return out


def _absolute(path: str) -> str:
    if "://" in path or not path:
        return path
    return str(Path(path).expanduser().absolute())
