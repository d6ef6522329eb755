"""How a Dataset run executes: ``plan_execution``'s choice, a model loaded once per worker
process, the model's threads following the CPUs reserved, the same rows either way."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import torch
import xgboost as xgb

from registry import (
    ComputeConfig,
    CustomModel,
    ModelContext,
    ModelVersion,
    Registry,
    inference_api,
    plan_execution,
)
from registry.handlers import handler_named
from registry.runtime.compute import threads_for
from tests.models import breast_cancer
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.runtime.conftest import ONE_ACTOR

pytestmark = pytest.mark.usefixtures("ray_local")



def test_auto_picks_tasks_for_a_cpu_model_and_actors_for_gpus_or_a_sized_pool() -> None:
    plan = plan_execution(ComputeConfig())
    assert (plan.strategy, plan.num_cpus, threads_for(plan.num_cpus)) == ("tasks", 1.0, 1)
    assert "runs on CPU" in plan.reason
    gpu = plan_execution(ComputeConfig(num_gpus=1))
    assert (gpu.strategy, gpu.num_gpus) == ("actors", 1)
    assert "GPUs" in gpu.reason
    sized = plan_execution(ComputeConfig(max_actors=3))
    assert sized.strategy == "actors" and "compute.max_actors" in sized.reason
    assert sized.num_cpus == 0.5  # room beside the read and write tasks
    assert plan_execution(ComputeConfig(strategy="actors")).strategy == "actors"
    forced = plan_execution(ComputeConfig(strategy="tasks", max_actors=3, num_cpus=2))
    assert (forced.strategy, threads_for(forced.num_cpus)) == ("tasks", 2)
    assert threads_for(plan_execution(ComputeConfig(strategy="actors", num_cpus=1.5)).num_cpus) == 1


def test_both_strategies_give_the_same_rows(sqlite_reg: Registry) -> None:
    import ray

    X, y = breast_cancer()
    clf = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    mv = sqlite_reg.log_model(clf, model_name="bc", sample_input_data=X[:20])
    frame = X.assign(row_id=np.arange(len(X)))
    outputs = {}
    for strategy in ("tasks", "actors"):
        ds = ray.data.from_pandas(frame).repartition(4)
        out = mv.run(ds, function_name="predict_proba", passthrough_columns=["row_id"],
                     compute=ComputeConfig(strategy=strategy, batch_size=64, **ONE_ACTOR))
        outputs[strategy] = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(outputs["tasks"], outputs["actors"])
    local = mv.run(X, function_name="predict_proba")
    np.testing.assert_array_equal(outputs["tasks"]["output_feature_1"], local["output_feature_1"])


class ReportsItsProcess(CustomModel):
    """Each batch's rows carry the worker's pid, how many times that process loaded each
    version, the CPUs Ray reserved for the task or actor, and the thread counts the model
    would use there: the OpenMP pool's and its xgboost sub-model's ``nthread``."""

    @inference_api
    def probe(self, frame: pd.DataFrame) -> pd.DataFrame:
        import ray
        import threadpoolctl

        from registry.runtime.load import load_counts

        pools = [p["num_threads"] for p in threadpoolctl.threadpool_info()
                 if p["user_api"] == "openmp"]
        try:
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
        except AssertionError:  # not on a Ray worker: log_model runs it on the sample
            cpus = 0
        booster = self.context.model_ref("booster")
        config = json.loads(booster.save_config())  # type: ignore[attr-defined]
        return pd.DataFrame({
            "pid": np.full(len(frame), os.getpid()),
            "loads": json.dumps(load_counts()),
            "batch": os.urandom(8).hex(),
            "assigned_cpus": cpus,
            "openmp_threads": max(pools) if pools else -1,
            "xgboost_nthread": int(config["learner"]["generic_param"]["nthread"]),
        })


def log_probe(sqlite_reg: Registry, frame: pd.DataFrame) -> ModelVersion:
    X, y = breast_cancer()
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=2)
    model = ReportsItsProcess(ModelContext(models={"booster": booster}))
    return sqlite_reg.log_model(model, model_name="probe", sample_input_data=frame[:10])


@pytest.mark.parametrize("strategy", ["tasks", "actors"])
def test_a_worker_loads_a_version_once_however_many_batches_it_scores(
    sqlite_reg: Registry, strategy: str
) -> None:
    import ray

    frame = pd.DataFrame({"x": np.arange(2000, dtype=float)})
    mv = log_probe(sqlite_reg, frame)
    ds = ray.data.from_pandas(frame).repartition(10)
    out = mv.run(ds, function_name="probe",
                 compute=ComputeConfig(strategy=strategy, batch_size=50, **ONE_ACTOR)).to_pandas()
    assert len(out) == 2000
    batches = out["batch"].nunique()
    assert batches >= 40
    assert out["pid"].nunique() < batches  # processes scored several batches each
    for loads in out["loads"]:
        assert json.loads(loads)[mv.id] == 1


# Not a 2-CPU task: on the session's 2-CPU Ray it waits for every CPU, and a worker another
# test left holding one makes it wait past the timeout. Two threads: the framework test below.
@pytest.mark.parametrize(("strategy", "num_cpus", "threads"),
                         [("tasks", 1, 1), ("actors", 0.5, 1)])
def test_the_models_threads_in_a_worker_follow_its_reserved_cpus(
    sqlite_reg: Registry, strategy: str, num_cpus: float, threads: int
) -> None:
    import ray

    frame = pd.DataFrame({"x": np.arange(400, dtype=float)})
    mv = log_probe(sqlite_reg, frame)
    ds = ray.data.from_pandas(frame).repartition(4)
    out = mv.run(ds, function_name="probe", compute=ComputeConfig(
        strategy=strategy, num_cpus=num_cpus, batch_size=100, **ONE_ACTOR)).to_pandas()
    assert set(out["assigned_cpus"]) == {num_cpus}  # what Ray reserved for the worker
    assert set(out["openmp_threads"]) == set(out["xgboost_nthread"]) == {threads}


@pytest.mark.parametrize("count", [1, 2])
def test_framework_thread_settings_follow_set_threads(count: int) -> None:
    import catboost as cb
    import lightgbm as lgb
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = breast_cancer()
    graph = to_onnx(LogisticRegression(max_iter=50).fit(X, y), X[:1].to_numpy("float32"),
                    options={"zipmap": False})
    models = {
        "catboost": [cb.CatBoostClassifier(iterations=2, verbose=False,
                                           allow_writing_files=False).fit(X, y)],
        "onnx": [graph],
        "xgboost": [xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=2),
                    xgb.XGBClassifier(n_estimators=2).fit(X, y)],
        "lightgbm": [lgb.train({"verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=2),
                     lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)],
        "sklearn": [RandomForestClassifier(n_estimators=2).fit(X, y),
                    make_pipeline(StandardScaler(),
                                  RandomForestClassifier(n_estimators=2)).fit(X, y)],
    }
    module = torch.nn.Linear(3, 1)
    # set_threads limits this process's OpenMP and BLAS pools (and LightGBM's cap): put them
    # back afterwards
    with threadpoolctl.threadpool_limits(limits=None):
        try:
            for framework, objects in models.items():
                for model in objects:
                    predictor = handler_named(framework).wrap(model)
                    predictor.set_threads(count)
                    assert predictor.threads() == count, (framework, type(model).__name__)
            predictor = handler_named("torch").wrap(module)
            before = torch.get_num_threads()
            try:
                predictor.set_threads(count)
                assert predictor.threads() == torch.get_num_threads() == count
            finally:
                torch.set_num_threads(before)
        finally:
            import ctypes

            import lightgbm.basic

            lightgbm.basic._LIB.LGBM_SetMaxThreads(ctypes.c_int(-1))
