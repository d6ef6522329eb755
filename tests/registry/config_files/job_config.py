"""What the config-file tests validate: a small config of their own, with nested models, a
list of models, bounds, a choice, dates and validators, and the YAML text the tests edit."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry import load_config_file, parse_config_text, validate_config_mapping

KIND = "job config"
EXAMPLE = "configs/job.yaml"

class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    columns: list[str] | None = None


class Sink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    format: Literal["csv", "parquet"] = "parquet"


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int = Field(100, gt=0)
    ratio: float = Field(0.5, ge=0, le=1)
    min_workers: int = Field(1, ge=0)
    max_workers: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check_workers(self) -> Limits:
        if self.max_workers < self.min_workers:
            raise ValueError(f"max_workers ({self.max_workers}) must be greater than or equal "
                             f"to min_workers ({self.min_workers})")
        return self


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: Source
    sinks: list[Sink] = []
    limits: Limits = Limits()
    tags: list[str] | None = None
    mode: Literal["fast", "safe"] = "safe"
    start: datetime.date | str | None = None
    end: datetime.date | str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if " " in value:
            raise ValueError(f"name {value!r} holds a space; write it with '_'")
        return value


#: A full job config, every section given: the text the tests edit.
GOOD = """\
name: nightly
source:
  path: /data/in
  columns: [a, b]
sinks:
  - {path: /out/a.csv, format: csv}
  - path: /out/b
limits:
  max_rows: 10
  ratio: 0.25
tags: [x, y]
mode: fast
start: 2026-11-01
end: "2026-11-01"
"""

#: The least a job config holds.
MINIMAL = "name: a\nsource: {path: /i}\n"


def parse(text: str, **options: Any) -> JobConfig:
    return parse_config_text(text, JobConfig, kind=KIND, example=EXAMPLE, **options)


def load(path: Any, **options: Any) -> JobConfig:
    return load_config_file(path, JobConfig, kind=KIND, example=EXAMPLE, **options)


def validate(data: Any, **options: Any) -> JobConfig:
    return validate_config_mapping(data, JobConfig, kind=KIND, example=EXAMPLE, **options)
