"""pipelines.io._specs: InputSpec, OutputSpec and Filter validate, and default to
error_if_exists."""

from __future__ import annotations

import datetime

import pytest
from pydantic import ValidationError

from pipelines import (
    Filter,
    InputSpec,
    OutputSpec,
)


def test_specs_validate_and_default_to_error_if_exists() -> None:
    out = OutputSpec(path="out")
    assert (out.mode, out.format, out.partition_by) == ("error_if_exists", "parquet", None)
    spec = InputSpec.model_validate(
        {
            "path": "t",
            "filters": [
                {"column": "date", "op": ">=", "value": datetime.date(2026, 11, 2)},
                {"column": "region", "op": "in", "value": ["EU"]},
            ],
        }
    )
    assert (spec.format, spec.partitioning) == ("parquet", "hive")
    with pytest.raises(ValidationError, match="use op: in"):
        Filter(column="region", op="==", value=["EU", "US"])
    with pytest.raises(ValidationError, match=r"write value: \['EU'\]"):
        Filter(column="region", op="in", value="EU")
    with pytest.raises(ValidationError, match="extra"):
        InputSpec.model_validate({"path": "t", "colums": ["id"]})
    with pytest.raises(ValidationError, match="more than once"):
        InputSpec(path="t", columns=["id", "id"])
    with pytest.raises(ValidationError, match="mode"):
        OutputSpec.model_validate({"path": "o", "mode": "upsert"})
    with pytest.raises(ValidationError, match="frozen"):
        out.mode = "overwrite"  # type: ignore[misc]
