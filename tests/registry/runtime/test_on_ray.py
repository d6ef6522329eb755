"""mv.run over a ray.data.Dataset, on the session's shared local Ray."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from sklearn.linear_model import Ridge

from registry import (
    ComputeConfig,
    CustomModel,
    EnvironmentMismatch,
    InvalidInput,
    ModelContext,
    ModelError,
    NotFound,
    Registry,
    inference_api,
    partitioned_api,
    unwrap_ray_error,
)
from registry.packaging.environment import EnvironmentWarning
from tests.models import breast_cancer, iris, iris_classifier
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.runtime.conftest import ONE_ACTOR

pytestmark = pytest.mark.usefixtures("ray_local")



@pytest.fixture
def scored(sqlite_reg: Registry):
    X, y = breast_cancer()
    clf = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    mv = sqlite_reg.log_model(clf, model_name="bc", version_name="v1", sample_input_data=X[:20])
    return mv, X.assign(row_id=np.arange(len(X)))


def test_distributed_run_equals_in_process_row_for_row(scored) -> None:
    import ray

    mv, X = scored
    ds = ray.data.from_pandas(X).repartition(4)
    out = mv.run(ds, function_name="predict_proba", passthrough_columns=["row_id"],
                 compute=ComputeConfig(batch_size=64, **ONE_ACTOR))
    assert isinstance(out, ray.data.Dataset)  # lazy: nothing ran yet
    got = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    local = mv.run(X.drop(columns=["row_id"]), function_name="predict_proba")
    assert list(got.columns) == [*X.columns, "output_feature_0", "output_feature_1"]
    assert got["row_id"].tolist() == list(range(len(X)))
    outputs = ["output_feature_0", "output_feature_1"]
    np.testing.assert_allclose(got[outputs].to_numpy(dtype=float),
                               local[outputs].to_numpy(dtype=float))


@pytest.mark.parametrize("strategy", ["tasks", "actors"])
def test_a_bad_batch_fails_with_the_in_process_error_and_its_file(
    scored, tmp_path: Path, strategy: str
) -> None:
    import ray

    mv, X = scored
    broken = X.drop(columns=["row_id", "mean_radius"]).iloc[200:]
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False), tmp_path / "b.parquet")
    ds = ray.data.read_parquet(str(tmp_path / "b.parquet"), include_paths=True)
    with pytest.raises(InvalidInput) as info:  # the worker's class, not Ray's wrapper
        mv.run(ds, function_name="predict", source_column="path",
               compute=ComputeConfig(strategy=strategy, **ONE_ACTOR)).materialize()
    error = unwrap_ray_error(info.value)
    assert type(error) is InvalidInput and error.__cause__ is info.value
    with pytest.raises(InvalidInput, match="missing columns: mean_radius") as local:
        mv.run(broken, function_name="predict")  # the same error in process
    # the same message, with the file it came from, and neither traceback nor retry advice
    assert str(error) == f"{local.value} (in {tmp_path / 'b.parquet'})"


def test_bad_arguments_fail_before_anything_runs(scored) -> None:
    import ray

    mv, X = scored
    ds = ray.data.from_pandas(X)
    with pytest.raises(NotFound, match="no function 'nope'; set function_name= to one of"):
        mv.run(ds, function_name="nope")
    with pytest.raises(InvalidInput, match="a function name is a string"):
        mv.run(ds, function_name=123)  # type: ignore[call-overload]
    assert isinstance(mv.run(ds, function_name="PREDICT"), ray.data.Dataset)  # as in process
    with pytest.raises(InvalidInput, match="not a partitioned function"):
        mv.run(ds, function_name="predict", partition_column="row_id")
    with pytest.raises(InvalidInput, match="apply to a ray.data.Dataset"):
        mv.run(X, function_name="predict", compute=ComputeConfig())
    with pytest.raises(ValueError, match=r"max_actors \(1\) must be greater than or equal"):
        ComputeConfig(min_actors=2, max_actors=1)


class PerStore(CustomModel):
    """One call per store: reports how many rows the call saw and a unique call id."""

    @partitioned_api
    def forecast(self, frame: pd.DataFrame) -> pd.DataFrame:
        call_id = os.urandom(8).hex()
        return pd.DataFrame({
            "STORE_ID": frame["STORE_ID"].iloc[:1].to_numpy(),
            "rows_seen": [len(frame)],
            "total_sales": [float(frame["sales"].sum())],
            "call_id": [call_id],
        })


@pytest.mark.parametrize("strategy", ["tasks", "actors"])
def test_partitioned_function_is_called_once_per_partition(
    sqlite_reg: Registry, strategy: str
) -> None:
    import ray

    rng = np.random.default_rng(0)
    stores = np.repeat(np.arange(7), rng.integers(20, 60, size=7))
    frame = pd.DataFrame({"STORE_ID": stores, "sales": rng.random(len(stores))})
    mv = sqlite_reg.log_model(PerStore(ModelContext()), model_name="per_store",
                              sample_input_data=frame[:30])
    assert [f.is_partitioned for f in mv.show_functions()] == [True]
    ds = ray.data.from_pandas(frame.sample(frac=1.0, random_state=0)).repartition(5)
    out = mv.run(ds, function_name="forecast", partition_column="STORE_ID",
                 compute=ComputeConfig(strategy=strategy, **ONE_ACTOR)).to_pandas()
    assert sorted(out["STORE_ID"]) == list(range(7))
    assert out["call_id"].nunique() == 7
    expected = frame.groupby("STORE_ID")["sales"].agg(["size", "sum"])
    out = out.set_index("STORE_ID").sort_index()
    assert out["rows_seen"].tolist() == expected["size"].tolist()
    np.testing.assert_allclose(out["total_sales"], expected["sum"])
    local = mv.run(frame, function_name="forecast", partition_column="STORE_ID")
    assert local["rows_seen"].tolist() == expected["size"].tolist()


class KillsItsActorOnce(CustomModel):
    """Scores rows; the first batch after the marker is armed kills its own actor."""

    def __init__(self, context: ModelContext, marker: str) -> None:
        super().__init__(context)
        self.marker = marker

    @inference_api
    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        import ray

        if os.path.exists(self.marker):
            os.remove(self.marker)  # only once in the whole job
            # as a node failure or the OOM killer would: Ray restarts the actor, or retries
            # the task of a worker process that died
            if ray.get_runtime_context().get_actor_id() is not None:
                ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
            os._exit(1)
        return pd.DataFrame({"double": frame["x"].to_numpy() * 2})


@pytest.mark.parametrize("strategy", ["tasks", "actors"])
def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(
    sqlite_reg: Registry, tmp_path: Path, strategy: str
) -> None:
    import ray

    marker = tmp_path / "kill-once"
    frame = pd.DataFrame({"row_id": np.arange(5000), "x": np.arange(5000, dtype=float)})
    mv = sqlite_reg.log_model(KillsItsActorOnce(ModelContext(), str(marker)), model_name="k",
                              sample_input_data=frame[["x"]][:10])
    marker.touch()
    ds = ray.data.from_pandas(frame).repartition(20)
    out = mv.run(ds, function_name="score", passthrough_columns=["row_id"],
                 compute=ComputeConfig(strategy=strategy, batch_size=250,
                                       **ONE_ACTOR)).to_pandas()
    assert not marker.exists()  # the kill happened
    assert len(out) == 5000
    assert sorted(out["row_id"]) == list(range(5000))
    np.testing.assert_array_equal(out.sort_values("row_id")["double"], frame["x"] * 2)


def test_a_dataset_picks_the_one_user_function_beside_explain(sqlite_reg: Registry) -> None:
    import ray

    X, y = iris()
    mv = sqlite_reg.log_model(Ridge().fit(X, y), model_name="r", sample_input_data=X[:20])
    out = mv.run(ray.data.from_pandas(X[:10]),
                 compute=ComputeConfig(min_actors=1, max_actors=1)).to_pandas()
    np.testing.assert_allclose(out["output_feature_0"], mv.run(X[:10])["output_feature_0"])


class Fussy(CustomModel):
    """Refuses negative input with a message of several lines."""

    @inference_api
    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        if (frame["x"] < 0).any():
            raise ValueError("x must not be negative:\nfound a negative x\ndrop those rows")
        return pd.DataFrame({"double": frame["x"].to_numpy() * 2})


class LoadsNowhere(Fussy):
    """Logs fine; unpickling it (in a worker) raises."""

    def __setstate__(self, state: dict[str, object]) -> None:
        raise RuntimeError("this model cannot be loaded here")


def test_ray_errors_map_back_to_the_floe_error_raised_in_the_worker(sqlite_reg: Registry) -> None:
    import ray

    frame = pd.DataFrame({"x": [1.0, -2.0, 3.0]})
    compute = ComputeConfig(min_actors=1, max_actors=1)
    mv = sqlite_reg.log_model(Fussy(ModelContext()), model_name="f", sample_input_data=frame[:1])
    with pytest.raises(ModelError) as local:
        mv.run(frame)
    with pytest.raises(ModelError) as remote:
        mv.run(ray.data.from_pandas(frame), compute=compute).materialize()
    error = unwrap_ray_error(remote.value)
    assert type(error) is ModelError and error.__cause__ is remote.value
    assert str(error) == str(local.value)  # every line of it, kept as the object it was
    assert "found a negative x\ndrop those rows" in str(error)

    broken = sqlite_reg.log_model(LoadsNowhere(ModelContext()), model_name="l",
                                  sample_input_data=frame[:1])
    with pytest.raises(Exception) as died:  # an actor's __init__ failed: ActorDiedError
        broken.run(ray.data.from_pandas(frame), compute=compute).materialize()
    error = unwrap_ray_error(died.value)
    assert type(error) is ModelError and error.__cause__ is died.value
    assert "failed to load: RuntimeError: this model cannot be loaded here" in str(error)


def _free_cpus_within(seconds: float) -> float:
    """The shared Ray's free CPUs once they are all free, or after ``seconds``."""
    import time

    import ray

    total = ray.cluster_resources()["CPU"]
    deadline = time.monotonic() + seconds
    while (free := ray.available_resources().get("CPU", 0.0)) < total:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return free


def test_a_failed_actor_run_releases_its_actors_without_the_garbage_collector(
    scored, tmp_path: Path
) -> None:
    """A long-lived driver (a notebook, a server) runs, fails, runs again: the failed run's
    actor pool must not keep its CPUs until Python's collector happens to run."""
    import gc

    import ray

    mv, X = scored
    broken = X.drop(columns=["row_id", "mean_radius"])
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False), tmp_path / "b.parquet")
    gc.collect()
    gc.disable()  # what would break the cycle is off: only references count
    try:
        message = None
        try:
            mv.run(ray.data.read_parquet(str(tmp_path / "b.parquet")), function_name="predict",
                   compute=ComputeConfig(strategy="actors", **ONE_ACTOR)).materialize()
        except Exception as exc:  # what a driver's error edge does
            message = str(unwrap_ray_error(exc))
        assert message is not None and "missing columns: mean_radius" in message
        assert _free_cpus_within(20) == ray.cluster_resources()["CPU"]
    finally:
        gc.enable()


def test_other_errors_pass_the_ray_edge_unchanged() -> None:
    import ray

    def fails(batch: pa.Table) -> pa.Table:
        raise ValueError("not a Floe error")

    with pytest.raises(Exception) as info:
        ray.data.range(3).map_batches(fails, batch_format="pyarrow").materialize()
    assert unwrap_ray_error(info.value) is info.value
    plain = KeyError("k")
    assert unwrap_ray_error(plain) is plain
    floe = InvalidInput("raised on the driver")
    assert unwrap_ray_error(floe) is floe


def test_another_environment_is_refused_on_a_dataset_unless_forced(sqlite_reg: Registry) -> None:
    import ray

    clf, X = iris_classifier()
    mv = sqlite_reg.log_model(clf, model_name="iris", version_name="v1",
                              sample_input_data=X[:5], python_version="3.10")
    ds = ray.data.from_pandas(X)
    with pytest.raises(EnvironmentMismatch, match=r"Python 3\.10 \(logged\).*run\(\.\.\., force=True\)"):
        mv.run(ds, function_name="predict")
    # force reaches the workers, which check the environment they load in themselves
    with pytest.warns(EnvironmentWarning, match="force=True"):
        out = mv.run(ds, function_name="predict", force=True,
                     compute=ComputeConfig(min_actors=1, max_actors=1))
    got = out.to_pandas()
    np.testing.assert_array_equal(got["output_feature_0"].to_numpy(), clf.predict(X))
