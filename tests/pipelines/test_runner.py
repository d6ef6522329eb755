"""Pipelines end to end on the session's shared local Ray: resolve, read, score, write, record;
the CLI's summary and error line; and a run on a two-node ``ray.cluster_utils.Cluster``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import pipelines
from pipelines.cli import app
from registry import AlreadyExists, InvalidInput, NotFound
from registry.cli import main
from tests.pipelines.pipeline_data import (
    FEATURES,
    Catalog,
    pipeline_config,
    read_output,
)
from tests.ray_fixtures import ray_local  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def run_isolated(argv: list[str], *, env: dict[str, str], timeout_s: float) -> tuple[str, str, int]:
    """Run ``argv`` in its own session; on timeout kill its whole process group (the Ray
    processes it started) so nothing outlives the test."""
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{argv[:2]} ran past {timeout_s:g}s; its output ends: {stderr[-2000:]}")
    return stdout, stderr, proc.returncode


@pytest.mark.usefixtures("ray_local")
def test_run_scores_every_row_and_records_the_run(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, frame = table
    out = tmp_path / "out"
    result = pipelines.run(pipeline_config(data, out, catalog))

    scored = read_output(out)
    expected = catalog.model.predict(frame[FEATURES])
    np.testing.assert_array_equal(scored["output_feature_0"].to_numpy(), expected)
    # passthrough defaults to every non-feature column: the id and the partition key
    assert list(scored.columns[:5]) == [*FEATURES, "id"]
    assert sorted(scored["region"].unique()) == ["APAC", "EU", "US"]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("region=")) == [
        "region=APAC", "region=EU", "region=US"]

    assert (result.rows_in, result.rows_out, result.partitions) == (150, 150, 3)
    assert result.resolved_model == "ML.REGISTRY.IRIS/V1" and result.resolved_version == "V1"
    assert result.function == "predict" and result.files >= 3 and result.rows_per_s > 0
    record = json.loads(Path(result.record_path).read_text())
    assert Path(result.record_path).parent == out / "_floe_runs"
    assert record["run_id"] == result.run_id and record["resolved_version"] == "V1"
    assert record["model"] == "ML.REGISTRY.IRIS@DEFAULT"
    assert record["config"]["compute"]["max_actors"] == 1
    assert record["environment"]["ray_version"]


@pytest.mark.usefixtures("ray_local")
def test_an_alias_resolves_when_the_run_starts_and_explain_adds_columns(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, frame = table
    X = frame[FEATURES]
    y = (X["petal_length"] > 4).astype(int)
    from sklearn.linear_model import LogisticRegression

    v2 = catalog.registry.log_model(LogisticRegression().fit(X, y), model_name="iris",
                                    version_name="v2", sample_input_data=X[:20])
    v2.set_alias("champion")
    out = tmp_path / "out"
    config = pipeline_config(data, out, catalog, model="iris@champion", explain=True,
                             passthrough=["id"], input={"filters": [
                                 {"column": "region", "op": "==", "value": "EU"}]},
                             output={"partition_by": None, "mode": "overwrite"})
    prepared = pipelines.prepare(config)
    assert prepared.resolved_model == "ML.REGISTRY.IRIS/V2"
    result = pipelines.execute(prepared)

    scored = read_output(out)
    eu = frame[frame["region"] == "EU"].sort_values("id")
    assert result.rows_in == len(eu) == len(scored) and result.partitions == 0
    assert "region" not in scored.columns  # not in passthrough: dropped before scoring
    expected = v2.run(eu[FEATURES], function_name="predict")["output_feature_0"]
    np.testing.assert_array_equal(scored["output_feature_0"].to_numpy(), expected.to_numpy())
    explained = [c for c in scored.columns if c.endswith("_explanation")]
    assert sorted(explained) == sorted(f"{f}_explanation" for f in FEATURES)
    assert json.loads(Path(result.record_path).read_text())["is_explained"] is True


def test_prepare_names_what_is_missing_and_how_to_list_it(
    tmp_path: Path, catalog: Catalog
) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    with pytest.raises(NotFound, match="no model .*; list them: floe models list"):
        pipelines.prepare(pipeline_config(data, out, catalog, model="nope@DEFAULT"))
    with pytest.raises(NotFound, match="has no version or alias GONE; list them: floe versions"):
        pipelines.prepare(pipeline_config(data, out, catalog, model="iris@gone"))
    with pytest.raises(NotFound, match=r"has no function 'score'; set function: to one of "
                       r"decision_function, explain, predict"):
        pipelines.prepare(pipeline_config(data, out, catalog, function="score"))
    with pytest.raises(InvalidInput, match="has functions .*; say which one to run: function:"):
        pipelines.prepare(pipeline_config(data, out, catalog, function=None))
    with pytest.raises(InvalidInput, match="partition_column: applies to partitioned functions"):
        pipelines.prepare(pipeline_config(data, out, catalog, partition_column="region"))
    with pytest.raises(InvalidInput, match="output .* overlaps input"):
        pipelines.prepare(pipeline_config(data, data / "scores", catalog))


def test_a_run_needs_usage_on_the_model_for_its_role(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, out = table[0], tmp_path / "out"
    catalog.registry.sql("CREATE ROLE analyst")
    config = pipeline_config(data, out, catalog, role="analyst")
    with pytest.raises(NotFound, match=r"ML\.REGISTRY has no model IRIS; list them"):
        pipelines.prepare(config)  # as if it did not exist, before Ray starts
    catalog.registry.sql("GRANT USAGE ON MODEL iris TO ROLE analyst")
    assert pipelines.prepare(config).resolved_model == "ML.REGISTRY.IRIS/V1"
    with pytest.raises(NotFound, match="role GHOST does not exist"):
        pipelines.prepare(pipeline_config(data, out, catalog, role="ghost"))


def test_an_output_overlapping_the_artifact_root_is_refused(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Regression: mode overwrite into the registry's artifact root would replace the stored
    versions; prepare refuses it before anything runs, however the path is spelled."""
    data, root = tmp_path / "data", Path(catalog.artifact_root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for out in (root / "scores", root, f"file://{root}/../{root.name}/x"):
        with pytest.raises(InvalidInput, match=r"overlaps the artifact root .*outside it"):
            pipelines.prepare(pipeline_config(data, out, catalog))
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


@pytest.mark.usefixtures("ray_local")
def test_a_feature_listed_in_passthrough_stays_model_input(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    """It was removed from the model's input, and the run failed in Ray: missing columns."""
    data, frame = table
    out = tmp_path / "out"
    pipelines.run(pipeline_config(data, out, catalog, passthrough=["id", "sepal_length", "region"]))
    scored = read_output(out)
    np.testing.assert_array_equal(scored["output_feature_0"].to_numpy(),
                                  catalog.model.predict(frame[FEATURES]))
    assert set(scored.columns) == {*FEATURES, "id", "region", "output_feature_0"}
    np.testing.assert_array_equal(scored["sepal_length"], frame["sepal_length"])


def test_prepare_refuses_columns_that_cannot_work_naming_them(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, _ = table
    out = tmp_path / "out"
    columns = "sepal_length, sepal_width, petal_length, petal_width, id, region"
    with pytest.raises(InvalidInput, match=rf"^input {data} has columns {columns}: passthrough "
                       r"names 'nope', which the input does not have; remove them from passthrough"):
        pipelines.prepare(pipeline_config(data, out, catalog, passthrough=["id", "nope", "region"]))
    with pytest.raises(InvalidInput, match=r"predict of ML.REGISTRY.IRIS/V1 takes 'petal_length', "
                       r"'petal_width', which the input does not have; fix input.path or "
                       r"input.columns \(list them: floe versions show ML.REGISTRY.IRIS V1\)"):
        pipelines.prepare(pipeline_config(
            data, out, catalog, input={"columns": ["sepal_length", "sepal_width", "region"]}))
    with pytest.raises(InvalidInput, match=r"output.partition_by names 'region', which the "
                       r"results will not have \(they have .*\); add them to passthrough"):
        pipelines.prepare(pipeline_config(data, out, catalog, passthrough=["id"]))
    assert pipelines.prepare(pipeline_config(data, out, catalog, passthrough=["region"])).function


@pytest.mark.usefixtures("ray_local")
def test_the_run_record_hides_the_password_of_every_url(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    """One redaction (registry.redact_uri): the pipeline's own regex left half of a
    password holding '@' in the record."""
    import dataclasses

    data, _ = table
    prepared = pipelines.prepare(pipeline_config(data, tmp_path / "out", catalog))
    url = "postgresql://floe:p@ss-word@db.example:5432/floe"
    config = prepared.config.model_copy(update={"catalog_url": url})
    result = pipelines.execute(dataclasses.replace(prepared, config=config))
    record = Path(result.record_path).read_text()
    assert "postgresql://floe:***@db.example:5432/floe" in record
    assert "ss-word" not in record and "ss-word" not in json.dumps(result.config)


@pytest.mark.usefixtures("ray_local")
def test_bad_input_fails_with_the_registry_error_not_a_ray_traceback(
    tmp_path: Path, catalog: Catalog
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    data.mkdir()
    # nulls where the signature has none: seen only in the data, so by a worker
    bad = {f: pa.array([1.0, None, 2.0, 3.0]) for f in FEATURES} | {"id": pa.array(range(4))}
    pq.write_table(pa.table(bad), data / "part-0.parquet")
    out = tmp_path / "out"
    with pytest.raises(InvalidInput) as info:
        pipelines.run(pipeline_config(data, out, catalog, output={"partition_by": None}))
    assert "nulls in columns that are not nullable: sepal_length (1 null)" in info.value.message
    assert info.value.message.endswith(f"(in {data / 'part-0.parquet'})")  # the batch's file
    assert "Traceback" not in info.value.message and "\n" not in info.value.message
    assert not out.exists()  # nothing is committed


def test_a_file_of_another_type_is_named_before_ray_starts(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    """One file of many with a feature of another type: refused by prepare (no Ray), naming
    that file only; a widening (float32 where the signature says DOUBLE) is not a problem,
    except under strict_input_validation, which names the file too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data, _ = table
    bad = data / "region=US" / "part-1.parquet"
    frame = pq.read_table(bad)
    index = frame.schema.get_field_index("petal_width")
    pq.write_table(frame.set_column(index, "petal_width",
                                    frame.column("petal_width").cast(pa.string())), bad)
    config = pipeline_config(data, tmp_path / "out", catalog)
    with pytest.raises(InvalidInput) as info:
        pipelines.prepare(config)
    message = info.value.message
    assert message.startswith(f"invalid input file {bad}: column petal_width is STRING, "
                              "expected DOUBLE"), message
    assert "part-0" not in message and "region=EU" not in message

    pq.write_table(frame.set_column(index, "petal_width",
                                    frame.column("petal_width").cast(pa.float32())), bad)
    pipelines.prepare(config)  # float32 widens to DOUBLE, as in every batch
    with pytest.raises(InvalidInput, match=rf"invalid input file {bad}: column petal_width "
                       r"is FLOAT, expected DOUBLE \(strict_input_validation refuses"):
        pipelines.prepare({**config, "strict_input_validation": True})


@pytest.mark.usefixtures("ray_local")
def test_the_cli_prints_the_resolved_version_and_a_summary(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    data, _ = table
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(pipeline_config(data, tmp_path / "out", catalog)))
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "model ML.REGISTRY.IRIS@DEFAULT resolved to ML.REGISTRY.IRIS/V1" in result.output
    for label in ("rows in", "rows out", "partitions", "rows/s", "wall time"):
        assert label in result.output
    assert "run record: " in result.output

    again = CliRunner().invoke(app, ["run", str(path), "--json"])  # error_if_exists: refused
    assert isinstance(again.exception, AlreadyExists)


def test_cli_errors_are_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("model: iris@DEFAULT\ninput: {path: /in}\noutput: {path: /o/x}\n"
                    "compute: {batchsize: 3}\n")
    assert main(["pipeline", "run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: line 4: unknown key 'batchsize' in compute")
    assert main(["pipeline", "run"]) == 1
    assert "pass the pipeline's YAML file" in capsys.readouterr().err


@pytest.mark.parametrize("program", [["registry.cli", "pipeline"], ["pipelines.cli"]],
                         ids=["floe-pipeline", "python-m-pipelines.cli"])
def test_both_ways_in_share_the_one_error_edge(tmp_path: Path, program: list[str]) -> None:
    """``python -m pipelines.cli`` had an edge of its own; both now go through floe's."""
    path = tmp_path / "p.yaml"
    path.write_text("model: iris@DEFAULT\ninput: {path: /in}\noutput: {path: /o/x}\n"
                    "compute: !!python/object:registry.ComputeConfig {max_actors: 1}\n")
    env = {**os.environ, "FLOE_HOME": str(tmp_path / "home")}
    stdout, stderr, status = run_isolated([sys.executable, "-m", *program, "run", str(path)],
                                          env=env, timeout_s=120)
    assert (status, stdout) == (1, "")
    assert stderr == f"error: {path} line 4: tag !!python/object:registry.ComputeConfig is " \
        "not allowed; a config holds plain strings, numbers, booleans, dates, lists and " \
        "mappings: remove the tag (quote the value to make it a string)\n"
    stdout, stderr, status = run_isolated([sys.executable, "-m", *program, "nope"], env=env,
                                          timeout_s=120)
    assert status == 2 and stderr.startswith("error: No such command 'nope'")
    assert stderr.count("\n") == 1


@pytest.mark.slow
def test_a_two_node_cluster_runs_the_pipeline(
    tmp_path: Path, catalog: Catalog, table: tuple[Path, pd.DataFrame]
) -> None:
    """In a subprocess, so its cluster never meets the session's shared Ray."""
    data, frame = table
    out = tmp_path / "out"
    config = pipeline_config(data, out, catalog,
                             compute={"min_actors": 2, "max_actors": 2, "num_cpus": 0.5,
                                      "batch_size": 16})
    config_path = tmp_path / "p.yaml"
    config_path.write_text(yaml.safe_dump(config))
    script = textwrap.dedent(f"""
        import json, sys
        import ray
        from ray.cluster_utils import Cluster
        import pipelines

        cluster = Cluster(initialize_head=True, head_node_args={{"num_cpus": 2}})
        try:
            cluster.add_node(num_cpus=2)
            cluster.wait_for_nodes()
            result = pipelines.run({str(config_path)!r}, address=cluster.address)
            nodes = len([n for n in ray.nodes() if n["Alive"]])
            print(json.dumps({{"rows": result.rows_out, "nodes": nodes}}))
        finally:
            ray.shutdown()
            cluster.shutdown()
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""}
    stdout, stderr, status = run_isolated([sys.executable, "-c", script], env=env, timeout_s=240)
    assert status == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary == {"rows": 150, "nodes": 2}
    scored = read_output(out)
    np.testing.assert_array_equal(scored["output_feature_0"],
                                  catalog.model.predict(frame[FEATURES]))


def test_floe_offers_the_pipeline_group_through_its_entry_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib import metadata

    assert any(e.name == "pipeline" for e in metadata.entry_points(group="floe.cli")), (
        'the floe.cli entry point "pipeline" is not installed: pip install -e . again'
    )
    from registry.cli import main as floe

    assert floe(["pipeline", "--help"]) == 0
    assert "submit" in capsys.readouterr().out
