"""SHAP explanations: additivity against the model's raw output, on scikit-learn data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from registry import InvalidInput, ModelVersion, NotFound, Registry, Task
from registry.artifacts.store import ArtifactStore
from registry.runtime.load import load_version
from registry.settings import floe_home


@pytest.fixture
def sqlite_reg(tmp_path: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}",
                    artifact_root=str(tmp_path / "a"))


def _data(loader) -> tuple[pd.DataFrame, pd.Series]:
    X, y = loader(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_").replace("/", "_") for c in X.columns]
    return X, y


def _explanations(
    reg: Registry, mv: ModelVersion, X: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features[, classes]) SHAP values from run(), and the explainer's base value.

    The base value is that of the explainer run() used: ``load_version`` returns the run
    path's model (a fresh load's explainer can report another base value for xgboost until
    it has explained a batch). Its arguments come from public API only: the root from
    ``reg.artifact_root``, the manifest's sha256 as the catalog records it from
    ``list_artifacts`` (which refuses a manifest that differs from the catalog's)."""
    out = mv.run(X, function_name="explain")
    columns = [c for c in out.columns if c.endswith("_explanation")]
    values = out[columns].to_numpy()
    manifest_url = f"floe://model/{mv.model_name}/versions/{mv.version_name}/MANIFEST.yml"
    loaded = load_version(
        ArtifactStore(reg.artifact_root), version_id=mv.id,
        manifest_sha256=reg.list_artifacts(manifest_url)["sha256"].iloc[0],
        label=str(mv), cache_dir=floe_home() / "cache",
    )
    expected = loaded.explainer().expected_value
    n_outputs = len(expected)
    if n_outputs > 1:  # columns are feature-major: f0_c0, f0_c1, ..., f1_c0, ...
        values = values.reshape(len(X), X.shape[1], n_outputs)
    return values, expected


@pytest.mark.parametrize(
    ("loader", "make"),
    [
        (load_breast_cancer, lambda: xgb.XGBClassifier(n_estimators=30, max_depth=3)),
        (load_iris, lambda: xgb.XGBClassifier(n_estimators=20, max_depth=3)),
        (load_diabetes, lambda: xgb.XGBRegressor(n_estimators=30, max_depth=3)),
        (load_wine, lambda: RandomForestClassifier(n_estimators=20, random_state=0)),
        (load_diabetes, lambda: RandomForestRegressor(n_estimators=20, random_state=0)),
    ],
)
def test_tree_explanations_add_up_to_the_raw_output(sqlite_reg: Registry, loader, make) -> None:
    X, y = _data(loader)
    model = make().fit(X, y)
    mv = sqlite_reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X[:50])
    assert "explain" in [f.name for f in mv.show_functions()]
    values, expected = _explanations(sqlite_reg, mv, X)
    if isinstance(model, xgb.XGBModel):
        raw = model.predict(X, output_margin=True)
    elif hasattr(model, "predict_proba"):
        raw = model.predict_proba(X)
    else:
        raw = model.predict(X)
    total = values.sum(axis=1) + (expected if values.ndim == 3 else expected[0])
    np.testing.assert_allclose(total, raw, rtol=1e-4, atol=1e-4)


def test_xgboost_booster_explanations_are_in_margin_space(sqlite_reg: Registry) -> None:
    X, y = _data(load_breast_cancer)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3},
                        xgb.DMatrix(X, label=y), num_boost_round=20)
    mv = sqlite_reg.log_model(booster, model_name="b", version_name="v1", sample_input_data=X[:20])
    values, expected = _explanations(sqlite_reg, mv, X)
    margin = booster.inplace_predict(X.to_numpy(), predict_type="margin")
    np.testing.assert_allclose(values.sum(axis=1) + expected[0], margin, rtol=1e-4, atol=1e-4)
    out = mv.run(X[:2], function_name="explain")
    assert [c for c in out.columns if c.endswith("_explanation")][:2] == [
        "mean_radius_explanation", "mean_texture_explanation"]


@pytest.mark.parametrize(
    ("loader", "make"),
    [
        (load_iris, lambda: LogisticRegression(max_iter=2000)),
        (load_breast_cancer, lambda: LogisticRegression(max_iter=5000)),
        (load_diabetes, lambda: Ridge(alpha=1.0)),
    ],
)
def test_linear_explanations_add_up_to_the_decision_function(
    sqlite_reg: Registry, loader, make
) -> None:
    X, y = _data(loader)
    model = make().fit(X, y)
    # A linear explainer is exact with respect to the mean of its background data.
    mv = sqlite_reg.log_model(model, model_name="m", version_name="v1", sample_input_data=X)
    values, expected = _explanations(sqlite_reg, mv, X)
    raw = model.decision_function(X) if hasattr(model, "decision_function") else model.predict(X)
    total = values.sum(axis=1) + (expected if values.ndim == 3 else expected[0])
    np.testing.assert_allclose(total, raw, rtol=1e-6, atol=1e-6)


def test_model_agnostic_explanations_for_other_models(sqlite_reg: Registry) -> None:
    X, y = _data(load_diabetes)
    pipeline = make_pipeline(StandardScaler(), KNeighborsRegressor()).fit(X, y)
    mv = sqlite_reg.log_model(pipeline, model_name="knn", version_name="v1",
                              sample_input_data=X[:30])
    out = mv.run(X[:5], function_name="explain")
    columns = [f"{c}_explanation" for c in X.columns]
    assert list(out.columns[-len(columns):]) == columns
    assert np.isfinite(out[columns].to_numpy()).all()
    assert np.abs(out[columns].to_numpy()).sum() > 0


def test_explainability_can_be_turned_off_and_needs_a_known_task(sqlite_reg: Registry) -> None:
    X, y = _data(load_iris)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    off = sqlite_reg.log_model(clf, model_name="m", version_name="off", sample_input_data=X[:10],
                               options={"enable_explainability": False})
    assert "explain" not in [f.name for f in off.show_functions()]
    with pytest.raises(NotFound, match="no function 'explain'; set function_name= to one of"):
        off.run(X, function_name="explain")
    unknown = sqlite_reg.log_model(clf, model_name="m", version_name="unknown",
                                   sample_input_data=X[:10], task=Task.UNKNOWN)
    assert "explain" not in [f.name for f in unknown.show_functions()]
    with pytest.raises(InvalidInput, match="enable_explainability"):
        sqlite_reg.log_model(clf, model_name="m", sample_input_data=X[:10],
                             options={"enable_explainability": "yes"})


@pytest.mark.parametrize(
    ("make", "loader", "task"),
    [
        (lambda: LogisticRegression(max_iter=5000), load_breast_cancer,
         Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: LogisticRegression(max_iter=2000), load_iris, Task.TABULAR_MULTI_CLASSIFICATION),
        (lambda: Ridge(), load_diabetes, Task.TABULAR_REGRESSION),
        (lambda: make_pipeline(StandardScaler(), KNeighborsRegressor()), load_diabetes,
         Task.TABULAR_REGRESSION),
        (lambda: xgb.XGBClassifier(n_estimators=5), load_breast_cancer,
         Task.TABULAR_BINARY_CLASSIFICATION),
        (lambda: xgb.XGBClassifier(n_estimators=5), load_wine, Task.TABULAR_MULTI_CLASSIFICATION),
        (lambda: xgb.XGBRegressor(n_estimators=5), load_diabetes, Task.TABULAR_REGRESSION),
    ],
)
def test_task_inference(sqlite_reg: Registry, make, loader, task: Task) -> None:
    X, y = _data(loader)
    mv = sqlite_reg.log_model(make().fit(X, y), model_name="m", sample_input_data=X[:10],
                              options={"enable_explainability": False})
    metadata = sqlite_reg.get_model("m").show_versions().set_index("name").loc[mv.version_name]
    assert f'"task": "{task.value}"' in metadata["metadata"]


def test_xgboost_ranker_task(sqlite_reg: Registry) -> None:
    X, y = _data(load_diabetes)
    ranker = xgb.XGBRanker(n_estimators=5).fit(X, (y > y.median()).astype(int),
                                               qid=np.repeat(np.arange(len(X) // 17 + 1), 17)[:len(X)])
    mv = sqlite_reg.log_model(ranker, model_name="r", sample_input_data=X[:10])
    assert f'"task": "{Task.TABULAR_RANKING.value}"' in sqlite_reg.get_model("r").show_versions()[
        "metadata"][0]
    assert "explain" in [f.name for f in mv.show_functions()]
