"""LightGBM: Booster and sklearn wrappers in LightGBM's text format, loaded without pickle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from registry import IntegrityError, InvalidInput, Task
from registry.handlers import handler_for
from registry.handlers.lightgbm import LightGBMHandler
from registry.handlers.sklearn import SklearnHandler
from registry.runtime.signatures import DataType
from tests.models import breast_cancer, iris
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process, run_script

_SMALL: dict[str, Any] = {"n_estimators": 10, "num_leaves": 7, "verbose": -1}


def _diabetes() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y


def _ranking() -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """30 queries of 10 documents; relevance 0-3 follows the first two features."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 5)), columns=[f"f{i}" for i in range(5)])
    score = X["f0"] + 0.5 * X["f1"] + rng.normal(scale=0.3, size=len(X))
    relevance = np.digitize(score, [-1.0, 0.0, 1.0])
    return X, relevance, [10] * 30


def _binary_booster() -> lgb.Booster:
    X, y = breast_cancer()
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=10)


def _binary_classifier() -> lgb.LGBMClassifier:
    X, y = breast_cancer()
    return lgb.LGBMClassifier(**_SMALL).fit(X, y)


def _named_iris_classifier() -> lgb.LGBMClassifier:
    X, y = iris()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    return lgb.LGBMClassifier(**_SMALL).fit(X, labels)


def _regressor() -> lgb.LGBMRegressor:
    X, y = _diabetes()
    return lgb.LGBMRegressor(**_SMALL).fit(X, y)


def _ranker() -> lgb.LGBMRanker:
    X, relevance, groups = _ranking()
    return lgb.LGBMRanker(**_SMALL).fit(X, relevance, group=groups)


# name: (build the model, its features, its functions, its task)
_CASES: dict[str, tuple[Callable[[], Any], Callable[[], pd.DataFrame], list[str], Task]] = {
    "booster": (_binary_booster, lambda: breast_cancer()[0], ["predict"],
                Task.TABULAR_BINARY_CLASSIFICATION),
    "binary_classifier": (_binary_classifier, lambda: breast_cancer()[0],
                          ["predict", "predict_proba"], Task.TABULAR_BINARY_CLASSIFICATION),
    "multiclass_string_labels": (_named_iris_classifier, lambda: iris()[0],
                                 ["predict", "predict_proba"], Task.TABULAR_MULTI_CLASSIFICATION),
    "regressor": (_regressor, lambda: _diabetes()[0], ["predict"], Task.TABULAR_REGRESSION),
    "ranker": (_ranker, lambda: _ranking()[0], ["predict"], Task.TABULAR_RANKING),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_round_trip_in_a_fresh_process(tmp_path: Path, case: str) -> None:
    build, features, functions, task = _CASES[case]
    model, X = build(), features()
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(model, model_name="m", version_name="v1",
                                sample_input_data=X[:20])

    listed = reg.registry.list_artifacts("floe://model/m/versions/v1/model/")
    assert listed["name"].tolist() == ["versions/V1/model/model.txt"]  # native format, no pickle
    metadata = json.loads(reg.registry.get_model("m").show_versions()["metadata"][0])
    assert metadata["task"] == task.value
    shown = {f.name: f for f in mv.show_functions()}
    assert sorted(shown) == sorted([*functions, "explain"])  # explain: Floe's SHAP function
    expected = {
        name: np.asarray(getattr(model, name)(X if name != "predict" or case != "booster"
                                              else X.to_numpy()))
        for name in functions
    }
    for name in functions:
        signature = shown[name].signature
        assert signature is not None
        assert [(f.name, f.dtype) for f in signature.inputs] == [
            (c, DataType.DOUBLE) for c in X.columns
        ]
        width = 1 if expected[name].ndim == 1 else expected[name].shape[1]
        assert len(signature.outputs) == width
    assert shown["predict"].signature.outputs[0].dtype == (  # type: ignore[union-attr]
        DataType.STRING if case == "multiclass_string_labels" else
        DataType.INT64 if case == "binary_classifier" else DataType.DOUBLE
    )

    X.to_parquet(reg.workdir / "X.parquet")
    report, outputs = run_in_fresh_process(reg, {"m": [*functions, "explain"]})
    assert report["modules"] == []  # the test module that trained the model was never imported
    assert report["classes"] == {"m": type(model).__name__}
    explained = outputs["m", "explain"]
    assert explained.shape[1] % X.shape[1] == 0 and np.isfinite(explained).all()
    for name in functions:
        want = expected[name].reshape(len(X), -1)
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(outputs["m", name], want, rtol=1e-9, atol=1e-12)
        else:
            assert np.array_equal(outputs["m", name], want.astype(outputs["m", name].dtype))


def _booster(params: dict[str, Any], X: pd.DataFrame, y: Any, **data: Any) -> lgb.Booster:
    params = {"num_leaves": 7, "verbose": -1, **params}
    return lgb.train(params, lgb.Dataset(X, y, **data), num_boost_round=3)


def _squared_error(y: np.ndarray | None, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return pred - y, np.ones_like(pred)


@pytest.mark.parametrize(
    ("build", "task"),
    [
        (lambda: _booster({"objective": "binary"}, *breast_cancer()),
         Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: _booster({"objective": "xentropy"}, *breast_cancer()),
         Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: _booster({"objective": "multiclass", "num_class": 2}, *breast_cancer()),
         Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: _booster({"objective": "softmax", "num_class": 3}, *iris()),
         Task.TABULAR_MULTI_CLASSIFICATION),
        (lambda: _booster({"objective": "ova", "num_class": 3}, *iris()),
         Task.TABULAR_MULTI_CLASSIFICATION),
        (lambda: _booster({}, *_diabetes()), Task.TABULAR_REGRESSION),  # default: regression
        (lambda: _booster({"objective": "mae"}, *_diabetes()), Task.TABULAR_REGRESSION),
        (lambda: _booster({"objective": "huber"}, *_diabetes()), Task.TABULAR_REGRESSION),
        (lambda: _booster({"objective": "poisson"}, *_diabetes()), Task.TABULAR_REGRESSION),
        (lambda: _booster({"objective": "lambdarank"}, *_ranking()[:2], group=_ranking()[2]),
         Task.TABULAR_RANKING),
        (lambda: _booster({"objective": "rank_xendcg"}, *_ranking()[:2], group=_ranking()[2]),
         Task.TABULAR_RANKING),
        (_binary_classifier, Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: lgb.LGBMClassifier(**_SMALL).fit(*iris()), Task.TABULAR_MULTI_CLASSIFICATION),
        (_regressor, Task.TABULAR_REGRESSION),
        (_ranker, Task.TABULAR_RANKING),
        (lambda: lgb.LGBMRegressor(**_SMALL, objective=_squared_error).fit(*_diabetes()),
         Task.UNKNOWN),
    ],
    ids=["binary", "xentropy", "multiclass_2", "softmax", "ova", "default", "mae", "huber",
         "poisson", "lambdarank", "xendcg", "LGBMClassifier_2", "LGBMClassifier_3",
         "LGBMRegressor", "LGBMRanker", "custom_objective"],
)
def test_infer_task(build: Callable[[], Any], task: Task) -> None:
    assert LightGBMHandler().infer_task(build()) == task


def _save_and_load(model: object, tmp_path: Path) -> tuple[dict[str, Any], object]:
    handler = LightGBMHandler()
    spec = handler.save(model, tmp_path / "model")
    spec = json.loads(json.dumps(spec))  # as the manifest stores it
    return spec, handler.load(tmp_path, spec, {}).model


def test_wrapper_params_that_are_not_json_are_dropped_by_name(tmp_path: Path) -> None:
    X, y = breast_cancer()
    model = lgb.LGBMClassifier(**_SMALL, random_state=np.random.RandomState(0)).fit(X, y)
    spec, loaded = _save_and_load(model, tmp_path)
    assert spec["dropped_params"] == ["random_state"]
    assert spec["params"]["n_estimators"] == 10
    assert spec["classes"] == [0, 1]
    assert isinstance(loaded, lgb.LGBMClassifier)
    assert loaded.get_params()["num_leaves"] == 7
    assert (loaded.n_features_in_, loaded.n_classes_) == (X.shape[1], 2)
    assert list(loaded.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):  # as before
        np.testing.assert_allclose(loaded.predict_proba(X.to_numpy()), model.predict_proba(X))


def test_custom_objective_predicts_raw_scores_as_before(tmp_path: Path) -> None:
    X, y = _diabetes()
    model = lgb.LGBMRegressor(**_SMALL, objective=_squared_error).fit(X, y)
    spec, loaded = _save_and_load(model, tmp_path)
    assert spec["objective"] is None and "objective" in spec["dropped_params"]
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))  # type: ignore[attr-defined]


def test_pandas_categories_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], size=400)
    X = pd.DataFrame({"size": rng.normal(size=400), "colour": pd.Categorical(colour)})
    y = (X["size"] + (colour == "red") * 2.0 > 1.0).astype(int)
    model = lgb.LGBMClassifier(**_SMALL, min_child_samples=5).fit(X, y)
    reg = SqliteRegistry(tmp_path)
    # explain off: registry.runtime.explain hands SHAP batch.numpy, which cannot hold categories
    mv = reg.registry.log_model(model, model_name="m", version_name="v1", sample_input_data=X,
                                options={"enable_explainability": False})
    expected = model.predict_proba(X)
    out = mv.run(X, function_name="predict_proba")
    np.testing.assert_allclose(out.iloc[:, 2:].to_numpy(), expected)
    as_text = mv.run(X.astype({"colour": str}).iloc[::-1], function_name="predict_proba")
    np.testing.assert_allclose(as_text.iloc[:, 2:].to_numpy(), expected[::-1])


def test_tree_explainer(tmp_path: Path) -> None:
    X, _ = iris()
    _, loaded = _save_and_load(_named_iris_classifier(), tmp_path)
    explainer = LightGBMHandler().explainer(loaded, X)
    assert type(explainer).__name__ == "TreeExplainer"
    values = np.asarray(explainer.shap_values(X[:5]))  # type: ignore[attr-defined]
    assert values.shape == (5, X.shape[1], 3)


def test_only_exact_lightgbm_classes_are_stored_natively(tmp_path: Path) -> None:
    class Calibrated(lgb.LGBMClassifier):
        """A subclass may override predict, so its code is pickled by the sklearn handler."""

    assert isinstance(handler_for(lgb.LGBMClassifier()), LightGBMHandler)
    assert isinstance(handler_for(_binary_booster()), LightGBMHandler)
    assert isinstance(handler_for(Calibrated()), SklearnHandler)
    with pytest.raises(InvalidInput, match=r"unfitted LGBMRanker; call fit\(\) first"):
        LightGBMHandler().save(lgb.LGBMRanker(), tmp_path / "model")
    with pytest.raises(IntegrityError, match="unknown LightGBM model 'Dataset'"):
        LightGBMHandler().load(
            tmp_path, {"path": "model/model.txt", "format": "lightgbm-text", "class": "Dataset"},
            {},
        )


def test_routing_does_not_import_lightgbm(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry.handlers.lightgbm\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework, 'lightgbm' in sys.modules)\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "False"]
