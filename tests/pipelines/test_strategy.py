"""Pipelines under each execution strategy: the run record and the CLI say which ran and why,
the rows are the same either way, and the batch guarantees (atomic output, validation errors
naming the file, explain chained after the main function) hold under fused tasks as under
an actor pool. ``pipeline_config`` sizes a pool (``max_actors: 1``), so the other pipeline
tests run on actors; here ``compute`` is replaced whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

import pipelines
from pipelines.cli import app
from registry import InvalidInput
from tests.pipelines.pipeline_data import (
    FEATURES,
    Catalog,
    pipeline_config,
    read_output,
)
from tests.ray_fixtures import ray_local  # noqa: F401

pytestmark = pytest.mark.usefixtures("ray_local")

TASKS: dict[str, Any] = {"batch_size": 64}  # auto: a CPU model, no pool sized
ACTORS: dict[str, Any] = {"batch_size": 64, "max_actors": 1, "num_cpus": 0.25}


def config(data: Path, out: Path, catalog: Catalog, compute: dict[str, Any],
           **overrides: Any) -> dict[str, Any]:
    cfg = pipeline_config(data, out, catalog, **overrides)
    cfg["compute"] = compute
    return cfg


def test_auto_runs_a_cpu_model_as_tasks_and_a_sized_pool_as_actors_with_the_same_rows(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, frame = table
    outputs = {}
    reasons = {"tasks": "the model runs on CPU", "actors": "compute.max_actors"}
    for name, compute in (("tasks", TASKS), ("actors", ACTORS)):
        out = tmp_path / name
        result = pipelines.run(config(data, out, catalog, compute))
        record = json.loads(Path(result.record_path).read_text())
        assert record["strategy"] == result.strategy == name
        assert reasons[name] in record["strategy_reason"] == result.strategy_reason
        outputs[name] = read_output(out)
    pd.testing.assert_frame_equal(outputs["tasks"], outputs["actors"])
    expected = catalog.model.predict(frame[FEATURES])
    np.testing.assert_array_equal(outputs["tasks"]["output_feature_0"].to_numpy(), expected)


def test_the_cli_summary_says_which_strategy_ran_and_why(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, _ = table
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config(data, tmp_path / "out", catalog, TASKS)))
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "strategy" in x)
    assert "tasks: the model runs on CPU" in " ".join(line.split())


@pytest.mark.parametrize("compute", [TASKS, ACTORS], ids=["tasks", "actors"])
def test_a_bad_file_fails_with_the_registry_error_and_commits_nothing(
    tmp_path: Path, catalog: Catalog, compute: dict[str, Any]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for n in range(3):  # several blocks, one task each
        bad = {f: pa.array(["x"] * 4) for f in FEATURES} | {"id": pa.array(range(4))}
        pq.write_table(pa.table(bad), data / f"part-{n}.parquet")
    out = tmp_path / "out"
    with pytest.raises(InvalidInput) as info:
        pipelines.run(config(data, out, catalog, compute, output={"partition_by": None}))
    assert "column sepal_length is STRING, expected DOUBLE" in info.value.message
    assert "Traceback" not in info.value.message
    assert not out.exists()  # the good files' rows were never committed


@pytest.mark.parametrize("compute", [TASKS, ACTORS], ids=["tasks", "actors"])
def test_explain_chains_after_the_main_function_under_either_strategy(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame], compute: dict[str, Any]
) -> None:
    from sklearn.linear_model import LogisticRegression

    data, frame = table
    X = frame[FEATURES]
    y = (X["petal_length"] > 4).astype(int)
    catalog.registry.log_model(LogisticRegression().fit(X, y), model_name="binary",
                               sample_input_data=X[:20])
    out = tmp_path / "out"
    result = pipelines.run(config(data, out, catalog, compute, model="binary@DEFAULT", explain=True,
                                  passthrough=["id", "region"]))
    scored = read_output(out)
    assert result.rows_out == len(frame) == len(scored)
    assert sorted(c for c in scored.columns if c.endswith("_explanation")) == sorted(
        f"{f}_explanation" for f in FEATURES)
