"""CatBoost: CatBoost, its classifier, regressor and ranker in CatBoost's .cbm format, loaded
without pickle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import catboost as cb
import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import yaml
from sklearn.datasets import load_diabetes

from registry import ComputeConfig, IntegrityError, InvalidInput, NotFound, Task
from registry.handlers import handler_for
from registry.handlers.catboost import CatBoostHandler
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType
from tests.models import breast_cancer, iris
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process, run_script

# Small and quiet; allow_writing_files=False: no catboost_info folder in the working directory.
_SMALL: dict[str, Any] = {"iterations": 20, "depth": 3, "verbose": False,
                          "allow_writing_files": False}


def _diabetes() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y


def _binary_classifier() -> cb.CatBoostClassifier:
    return cb.CatBoostClassifier(**_SMALL).fit(*breast_cancer())


def _named_iris_classifier() -> cb.CatBoostClassifier:
    X, y = iris()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    return cb.CatBoostClassifier(**_SMALL).fit(X, labels)


def _regressor() -> cb.CatBoostRegressor:
    return cb.CatBoostRegressor(**_SMALL).fit(*_diabetes())


def _bare(loss: str = "Logloss") -> cb.CatBoost:
    return cb.CatBoost({**_SMALL, "loss_function": loss}).fit(*breast_cancer())


# data set: its features, and per model (build it, its functions, its task, predict's type);
# the models of one data set are loaded and run in one fresh process
_Case = tuple[Callable[[], Any], list[str], Task, DataType]
_CASES: dict[str, tuple[Callable[[], pd.DataFrame], dict[str, _Case]]] = {
    "breast_cancer": (lambda: breast_cancer()[0], {
        "classifier": (_binary_classifier, ["predict", "predict_proba"],
                       Task.TABULAR_BINARY_CLASSIFICATION, DataType.INT64),
        "bare": (_bare, ["predict"], Task.TABULAR_BINARY_CLASSIFICATION,
                 DataType.DOUBLE),  # CatBoost.predict: raw log-odds
    }),
    "iris_string_labels": (lambda: iris()[0], {
        "classifier": (_named_iris_classifier, ["predict", "predict_proba"],
                       Task.TABULAR_MULTI_CLASSIFICATION, DataType.STRING),
    }),
    "diabetes": (lambda: _diabetes()[0], {
        "regressor": (_regressor, ["predict"], Task.TABULAR_REGRESSION, DataType.DOUBLE),
    }),
}


def _stored(reg: SqliteRegistry, version_id: str, rel: str) -> Path:
    return Path(reg.artifact_root) / "versions" / version_id / rel


@pytest.mark.parametrize("data", list(_CASES))
def test_round_trip_in_a_fresh_process(tmp_path: Path, data: str) -> None:
    features, cases = _CASES[data]
    X = features()
    reg = SqliteRegistry(tmp_path)
    models: dict[str, Any] = {}
    expected: dict[tuple[str, str], np.ndarray] = {}
    for name, (build, functions, task, predict_type) in cases.items():
        model = models[name] = build()
        mv = reg.registry.log_model(model, model_name=name, version_name="v1",
                                    sample_input_data=X[:20])

        listed = reg.registry.list_artifacts(f"floe://model/{name}/versions/v1/model/")
        assert listed["name"].tolist() == ["versions/V1/model/model.cbm"]  # native, no pickle
        manifest = yaml.safe_load(_stored(reg, mv.id, "MANIFEST.yml").read_text())
        assert manifest["model"]["class"] == type(model).__name__
        metadata = json.loads(reg.registry.get_model(name).show_versions()["metadata"][0])
        assert metadata["task"] == task.value

        # the default function first; explain: Floe's SHAP function
        assert [f["name"] for f in manifest["functions"]] == [*functions, "explain"]
        shown = {f.name: f for f in mv.show_functions()}
        assert sorted(shown) == sorted([*functions, "explain"])
        for function in functions:
            want = np.asarray(getattr(model, function)(X)).reshape(len(X), -1)
            expected[name, function] = want
            signature = shown[function].signature
            assert signature is not None
            assert [(f.name, f.dtype) for f in signature.inputs] == [
                (c, DataType.DOUBLE) for c in X.columns
            ]
            assert len(signature.outputs) == want.shape[1]
            if function == "predict":
                assert signature.outputs[0].dtype == predict_type

    X.to_parquet(reg.workdir / "X.parquet")
    runs = {name: [*functions, "explain"] for name, (_, functions, _, _) in cases.items()}
    report, outputs = run_in_fresh_process(reg, runs)
    assert report["modules"] == []  # the test module that trained the models: never imported
    assert report["classes"] == {name: type(model).__name__ for name, model in models.items()}
    for (name, function), want in expected.items():
        got = outputs[name, function]
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        else:
            assert np.array_equal(got, want.astype(got.dtype)), (name, function)
    for name in models:
        explained = outputs[name, "explain"]
        assert explained.shape[1] % X.shape[1] == 0 and np.isfinite(explained).all()


def test_the_environment_names_catboosts_version(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path)
    X, _ = breast_cancer()
    mv = reg.registry.log_model(_binary_classifier(), model_name="m", version_name="v1",
                                sample_input_data=X[:20])
    manifest = yaml.safe_load(_stored(reg, mv.id, "MANIFEST.yml").read_text())
    assert manifest["framework"] == "catboost"
    assert manifest["env"]["frameworks"]["catboost"] == cb.__version__
    requirements = _stored(reg, mv.id, "env/requirements.txt").read_text().splitlines()
    assert f"catboost=={cb.__version__}" in requirements


def _fit(make: Callable[..., Any], loss: str, X: pd.DataFrame, y: Any, **fit: Any) -> Any:
    return make(**{**_SMALL, "iterations": 5}, loss_function=loss).fit(X, y, **fit)


def _ranker() -> cb.CatBoostRanker:
    X, y = _diabetes()
    relevance = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    groups = np.repeat(np.arange(len(X) // 10 + 1), 10)[:len(X)]
    return _fit(cb.CatBoostRanker, "YetiRank", X, relevance, group_id=groups)


@pytest.mark.parametrize(
    ("build", "task"),
    [
        (_binary_classifier, Task.TABULAR_BINARY_CLASSIFICATION),  # default: Logloss
        (lambda: _fit(cb.CatBoostClassifier, "CrossEntropy", breast_cancer()[0],
                      breast_cancer()[1].astype(float)), Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: _fit(cb.CatBoostClassifier, "MultiClass", *breast_cancer()),
         Task.TABULAR_BINARY_CLASSIFICATION),
        (_named_iris_classifier, Task.TABULAR_MULTI_CLASSIFICATION),  # default: MultiClass
        (lambda: _fit(cb.CatBoostClassifier, "MultiClassOneVsAll", *iris()),
         Task.TABULAR_MULTI_CLASSIFICATION),
        (_regressor, Task.TABULAR_REGRESSION),  # default: RMSE
        (lambda: _fit(cb.CatBoostRegressor, "Quantile:alpha=0.3", *_diabetes()),
         Task.TABULAR_REGRESSION),
        (lambda: _fit(cb.CatBoostRegressor, "Poisson", _diabetes()[0], _diabetes()[1].round()),
         Task.TABULAR_REGRESSION),
        (_ranker, Task.TABULAR_RANKING),
        (_bare, Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: _bare("RMSE"), Task.TABULAR_REGRESSION),
    ],
    ids=["Logloss", "CrossEntropy", "MultiClass_2", "MultiClass_3", "MultiClassOneVsAll",
         "RMSE", "Quantile_with_params", "Poisson", "YetiRank", "bare_Logloss", "bare_RMSE"],
)
def test_infer_task(build: Callable[[], Any], task: Task) -> None:
    assert CatBoostHandler().infer_task(build()) == task


@pytest.mark.parametrize(
    ("build", "X"),
    [(_binary_classifier, breast_cancer()[0]), (_named_iris_classifier, iris()[0]),
     (_regressor, _diabetes()[0])],
    ids=["binary", "multiclass", "regressor"],
)
def test_tree_explanations_add_up_to_the_raw_output(
    tmp_path: Path, build: Callable[[], Any], X: pd.DataFrame
) -> None:
    model = build()
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(model, model_name="m", version_name="v1",
                                sample_input_data=X[:20])
    explainer: Any = CatBoostHandler().explainer(model, X)
    assert type(explainer).__name__ == "TreeExplainer"
    explainer.shap_values(X[:1])  # SHAP sets a CatBoost model's base value on a first batch
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    out = mv.run(X, function_name="explain")
    values = out[[c for c in out.columns if c.endswith("_explanation")]].to_numpy()
    if len(expected) > 1:  # columns are feature-major: f0_c0, f0_c1, ..., f1_c0, ...
        values = values.reshape(len(X), X.shape[1], len(expected))
    raw = model.predict(X, prediction_type="RawFormulaVal")  # log-odds for a classifier
    np.testing.assert_allclose(values.sum(axis=1) + (expected if len(expected) > 1
                                                     else expected[0]), raw,
                               rtol=1e-6, atol=1e-6)


def test_a_tampered_model_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path)
    X, _ = breast_cancer()
    mv = reg.registry.log_model(_binary_classifier(), model_name="m", version_name="v1",
                                sample_input_data=X[:20])
    # a valid model of the same class in its place: read, it would load and run
    other = cb.CatBoostClassifier(**{**_SMALL, "iterations": 3}).fit(X, 1 - breast_cancer()[1])
    planted = tmp_path / "planted.cbm"
    other.save_model(str(planted), format="cbm")
    _stored(reg, mv.id, "model/model.cbm").write_bytes(planted.read_bytes())
    with pytest.raises(IntegrityError, match=r"model/model.cbm \(sha256 differs\)"):
        mv.load()
    with pytest.raises(IntegrityError, match=r"model/model.cbm \(sha256 differs\)"):
        mv.run(X, function_name="predict")


def test_only_allow_listed_classes_are_saved_or_loaded(tmp_path: Path) -> None:
    class Thresholded(cb.CatBoostClassifier):
        """A subclass may override predict: CatBoost's format cannot hold its code."""

    named_alike = type("CatBoostClassifier", (cb.CatBoostClassifier,), {})  # in this module

    assert isinstance(handler_for(cb.CatBoostClassifier()), CatBoostHandler)
    assert isinstance(handler_for(_bare()), CatBoostHandler)
    for subclass in (Thresholded, named_alike):
        with pytest.raises(InvalidInput, match="no handler for it.*wrap it in a CustomModel"):
            handler_for(subclass())
    reg = SqliteRegistry(tmp_path)
    with pytest.raises(InvalidInput, match=r"unfitted CatBoostRegressor; call fit\(\) first"):
        reg.registry.log_model(cb.CatBoostRegressor(), model_name="m",
                               sample_input_data=breast_cancer()[0][:5])
    with pytest.raises(IntegrityError, match="cannot save .*Thresholded in CatBoost's format"):
        CatBoostHandler().save(Thresholded(), tmp_path / "model")
    spec = CatBoostHandler().save(_binary_classifier(), tmp_path / "model")
    assert spec == {"path": "model/model.cbm", "format": "catboost-cbm",
                    "class": "CatBoostClassifier"}
    with pytest.raises(IntegrityError, match="unknown CatBoost model 'Pool'"):
        CatBoostHandler().load(tmp_path, {**spec, "class": "Pool"}, {})
    with pytest.raises(IntegrityError, match="in format 'pickle'"):
        CatBoostHandler().load(tmp_path, {**spec, "format": "pickle"}, {})
    predictor = CatBoostHandler().load(tmp_path, spec, {})
    assert type(predictor.model) is cb.CatBoostClassifier
    assert (predictor.methods, predictor.input_form) == (("predict", "predict_proba"), "numpy")


def test_a_bare_catboost_refuses_predict_proba() -> None:
    X, _ = breast_cancer()
    predictor = CatBoostHandler().wrap(_bare())
    assert predictor.methods == ("predict",)
    with pytest.raises(NotFound, match=r"catboost\.core\.CatBoost has no method 'predict_proba'"):
        predictor.predict("predict_proba", Batch(frame=X))


def test_set_threads_sets_catboosts_thread_count() -> None:
    X, _ = breast_cancer()
    model = _binary_classifier()
    predictor = CatBoostHandler().wrap(model)
    assert predictor.threads() is None  # CatBoost's default: every core
    before = predictor.predict("predict_proba", Batch(frame=X))
    with threadpoolctl.threadpool_limits(limits=None):  # set_threads limits the process's pools
        for count in (1, 2):
            predictor.set_threads(count)
            assert predictor.threads() == count
            again = predictor.predict("predict_proba", Batch(frame=X))
            np.testing.assert_array_equal(again, before)


@pytest.mark.parametrize("columns", [["size", "colour", "grade"], ["size", "grade"]],
                         ids=["text_and_integers", "integers_only"])
def test_categorical_features_run_from_a_frame(tmp_path: Path, columns: list[str]) -> None:
    """Categorical columns of text and of integers: in one numpy array of numbers alone the
    integers would become floats, which CatBoost refuses for a categorical feature."""
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], size=300)
    X = pd.DataFrame({"size": rng.normal(size=300), "colour": colour,
                      "grade": rng.integers(0, 3, size=300)})[columns]
    y = ((X["size"] + (colour == "red") * 2.0 - X["grade"]) > 0.0).astype(int)
    categorical = [c for c in columns if c != "size"]
    model = cb.CatBoostClassifier(**_SMALL, cat_features=categorical).fit(X, y)
    assert CatBoostHandler().wrap(model).input_form == "frame"
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(model, model_name="m", version_name="v1", sample_input_data=X)
    signature = mv.get_function("predict_proba").signature
    assert signature is not None
    types = {"size": DataType.DOUBLE, "colour": DataType.STRING, "grade": DataType.INT64}
    assert [(f.name, f.dtype) for f in signature.inputs] == [(c, types[c]) for c in columns]
    expected = model.predict_proba(X)
    out = mv.run(X, function_name="predict_proba")
    np.testing.assert_allclose(out.iloc[:, len(columns):].to_numpy(), expected)
    reordered = mv.run(X[columns[::-1]].iloc[::-1], function_name="predict_proba")
    np.testing.assert_allclose(reordered.iloc[:, len(columns):].to_numpy(), expected[::-1])
    # explained from the frame (a text column arrives as pandas' string dtype): additive
    explained = mv.run(X[:20], function_name="explain").filter(like="_explanation")
    raw = model.predict(X[:20], prediction_type="RawFormulaVal")
    base = raw - explained.sum(axis=1).to_numpy()
    np.testing.assert_allclose(base, base[0], atol=1e-6)  # one expected value for every row


@pytest.mark.usefixtures("ray_local")
def test_a_ray_dataset_runs_as_in_process(tmp_path: Path) -> None:
    import ray

    X, _ = iris()
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(_named_iris_classifier(), model_name="m", version_name="v1",
                                sample_input_data=X[:20])
    small = X.iloc[::5].assign(row_id=np.arange(len(X.iloc[::5])))
    out = mv.run(ray.data.from_pandas(small).repartition(2), function_name="predict_proba",
                 passthrough_columns=["row_id"],
                 compute=ComputeConfig(batch_size=16, min_actors=1, max_actors=1))
    got = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    local = mv.run(small.drop(columns=["row_id"]), function_name="predict_proba")
    outputs = [c for c in local.columns if c.startswith("output_feature_")]
    assert len(outputs) == 3 and got["row_id"].tolist() == small["row_id"].tolist()
    np.testing.assert_allclose(got[outputs].to_numpy(dtype=float),
                               local[outputs].to_numpy(dtype=float))


def test_routing_does_not_import_catboost(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry.handlers.catboost\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework, 'catboost' in sys.modules)\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "False"]
