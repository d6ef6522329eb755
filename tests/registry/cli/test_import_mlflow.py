"""``floe import mlflow`` and ``registry.importers.import_mlflow``: registered models copied from
a real MLflow registry (SQLite tracking store, local artifact root) with their versions,
comments, tags, aliases and run metrics, once however often the import runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import sklearn
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

from registry import Conflict, InvalidInput, NotFound, Registry
from registry.importers import ImportStatus, import_mlflow
from registry.importers.mlflow import SOURCE_METRIC, TAGS_METRIC
from tests.mlflow_tracking import tracking
from tests.models import iris

_PICKLE = {"serialization_format": "cloudpickle",
           "pip_requirements": [f"scikit-learn=={sklearn.__version__}"]}


@dataclass
class MlflowRegistry:
    uri: str
    client: MlflowClient
    experiment: str
    originals: dict[tuple[str, str], Any]  # (MLflow model, version) -> the estimator
    features: dict[str, pd.DataFrame]  # MLflow model -> its features


def _log(experiment: str, name: str, model: Any, X: pd.DataFrame, metric: float) -> str:
    with mlflow.start_run(experiment_id=experiment):
        mlflow.log_metric("score", metric)
        mlflow.log_metric("rows", float(len(X)))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                        signature=infer_signature(X, model.predict(X)),
                                        **_PICKLE)
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> MlflowRegistry:
    """Three registered models: iris (3 versions, two aliases, tags, comments), a name Floe
    quotes (2 versions, an alias that must be quoted and one that is a Floe system alias) and
    wine (1 version, nothing else)."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    X_iris, y_iris = iris()
    X_diabetes, y_diabetes = load_diabetes(return_X_y=True, as_frame=True)
    X_wine, y_wine = load_wine(return_X_y=True, as_frame=True)
    fitted = {
        "iris": [LogisticRegression(C=c, max_iter=500).fit(X_iris, y_iris) for c in (0.1, 1, 10)],
        "diabetes-regressor": [LinearRegression().fit(X_diabetes, y_diabetes),
                               Ridge(alpha=0.5).fit(X_diabetes, y_diabetes)],
        "wine": [DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_wine, y_wine)],
    }
    features = {"iris": X_iris, "diabetes-regressor": X_diabetes, "wine": X_wine}
    originals = {}
    with tracking(uri):
        experiment = mlflow.create_experiment("floe",
                                              artifact_location=(root / "artifacts").as_uri())
        for name, models in fitted.items():
            for i, model in enumerate(models):
                version = _log(experiment, name, model, features[name], 0.5 + i / 10)
                originals[name, version] = model
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.update_registered_model("iris", description="Iris classifiers")
    client.set_registered_model_tag("iris", "team", "vision")
    client.set_registered_model_tag("iris", "owner.email", "ml@example.com")
    client.update_model_version("iris", "1", description="small C")
    client.update_model_version("iris", "3", description="large C")
    client.set_model_version_tag("iris", "1", "validated", "false")
    client.set_model_version_tag("iris", "3", "validated", "true")
    client.set_registered_model_alias("iris", "champion", "2")
    client.set_registered_model_alias("iris", "challenger", "3")
    client.update_registered_model("diabetes-regressor", description="Regression of diabetes")
    client.set_registered_model_alias("diabetes-regressor", "prod-1", "1")
    client.set_registered_model_alias("diabetes-regressor", "default", "2")
    return MlflowRegistry(uri, client, experiment, originals, features)


def _floe(reg: Registry, floe_home: Path, *args: str) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "MLFLOW_TRACKING_URI")}
    env.update(FLOE_CATALOG_URL=str(reg.catalog_url), FLOE_ARTIFACT_ROOT=str(reg.artifact_root),
               FLOE_HOME=str(floe_home))
    done = subprocess.run([sys.executable, "-m", "registry.cli", *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    return done.returncode, done.stdout.splitlines(), done.stderr


def _registry(tmp_path: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'catalog.db'}",
                    artifact_root=str(tmp_path / "artifacts"))


IRIS, DIABETES, WINE = "ML.REGISTRY.IRIS", 'ML.REGISTRY."diabetes-regressor"', "ML.REGISTRY.WINE"


def test_importing_twice_copies_everything_once(
    tmp_path: Path, floe_home: Path, source: MlflowRegistry
) -> None:
    reg = _registry(tmp_path)
    status, out, err = _floe(reg, floe_home, "import", "mlflow", "--tracking-uri", source.uri)
    assert status == 0, err
    assert out == [
        f"copied: {DIABETES} V1 (MLflow model 'diabetes-regressor' version 1); alias "
        '"prod-1" set; model comment updated',
        f"copied: {DIABETES} V2 (MLflow model 'diabetes-regressor' version 2); MLflow alias "
        "'default' not imported: DEFAULT is a Floe system alias",
        f"copied: {IRIS} V1 (MLflow model 'iris' version 1); model comment updated; model "
        'tags set: "owner.email", TEAM',
        f"copied: {IRIS} V2 (MLflow model 'iris' version 2); alias CHAMPION set",
        f"copied: {IRIS} V3 (MLflow model 'iris' version 3); alias CHALLENGER set",
        f"copied: {WINE} V1 (MLflow model 'wine' version 1)",
    ]
    assert "Traceback" not in err
    # the second time through the API the command calls: it prints each record's line
    again = [r.line for r in import_mlflow(reg, tracking_uri=source.uri)]
    assert again == [
        f"already present: {DIABETES} V1 (MLflow model 'diabetes-regressor' version 1)",
        f"already present: {DIABETES} V2 (MLflow model 'diabetes-regressor' version 2); MLflow "
        "alias 'default' not imported: DEFAULT is a Floe system alias",
        f"already present: {IRIS} V1 (MLflow model 'iris' version 1)",
        f"already present: {IRIS} V2 (MLflow model 'iris' version 2)",
        f"already present: {IRIS} V3 (MLflow model 'iris' version 3)",
        f"already present: {WINE} V1 (MLflow model 'wine' version 1)",
    ]

    models = {m.name: m for m in reg.models()}
    assert sorted(models) == ['"diabetes-regressor"', "IRIS", "WINE"]
    iris_model = models["IRIS"]
    assert iris_model.comment == "Iris classifiers"
    assert iris_model.show_tags() == {"TEAM": "vision", '"owner.email"': "ml@example.com"}
    assert models['"diabetes-regressor"'].comment == "Regression of diabetes"
    assert models['"diabetes-regressor"'].show_tags() == {}
    shown = {(m.name, v.version_name): v for m in models.values() for v in m.versions()}
    assert sorted(shown) == [('"diabetes-regressor"', "V1"), ('"diabetes-regressor"', "V2"),
                             ("IRIS", "V1"), ("IRIS", "V2"), ("IRIS", "V3"), ("WINE", "V1")]
    assert [v.comment for v in iris_model.versions()] == ["small C", None, "large C"]
    assert [v.aliases for v in iris_model.versions()] == [
        ["DEFAULT", "FIRST"], ["CHAMPION"], ["LAST", "CHALLENGER"]]
    assert [v.aliases for v in models['"diabetes-regressor"'].versions()] == [
        ["DEFAULT", "FIRST", '"prod-1"'], ["LAST"]]
    for (name, version), original in source.originals.items():
        floe_name = {"iris": "IRIS", "wine": "WINE"}.get(name, f'"{name}"')
        mv = shown[floe_name, f"V{version}"]
        metrics = mv.show_metrics()
        run_id = source.client.get_model_version(name, version).run_id
        assert metrics[SOURCE_METRIC] == {
            "tracking_uri": source.uri, "model": name, "version": version, "run_id": run_id,
            "created_ms": source.client.get_model_version(name, version).creation_timestamp,
            "source": source.client.get_model_version(name, version).source,
        }
        assert {k: v for k, v in metrics.items() if k != SOURCE_METRIC} == {
            **source.client.get_run(run_id).data.metrics,
            **({TAGS_METRIC: {"validated": "false" if version == "1" else "true"}}
               if name == "iris" and version != "2" else {}),
        }
        X = source.features[name]
        predicted = mv.run(X)["output_feature_0"].to_numpy()
        np.testing.assert_allclose(predicted, original.predict(X), rtol=1e-12)


def test_a_second_import_follows_what_changed_in_mlflow(
    tmp_path: Path, source: MlflowRegistry
) -> None:
    reg = _registry(tmp_path)
    first = import_mlflow(reg, tracking_uri=source.uri, models=["iris"])
    assert [(r.version, r.status) for r in first] == [("V1", ImportStatus.COPIED),
                                                      ("V2", ImportStatus.COPIED),
                                                      ("V3", ImportStatus.COPIED)]
    client, X = source.client, source.features["iris"]
    client.set_registered_model_alias("iris", "champion", "3")  # moved
    client.set_model_version_tag("iris", "2", "validated", "true")
    client.update_model_version("iris", "1", description="smallest C")
    client.set_registered_model_tag("iris", "team", "tabular")
    with tracking(source.uri):
        newest = LogisticRegression(C=100, max_iter=500).fit(X, iris()[1])
        added = _log(source.experiment, "iris", newest, X, 0.9)
    try:
        lines = [r.line for r in import_mlflow(reg, tracking_uri=source.uri, models=["iris"])]
    finally:
        client.set_registered_model_alias("iris", "champion", "2")
        client.delete_model_version_tag("iris", "2", "validated")
        client.update_model_version("iris", "1", description="small C")
        client.set_registered_model_tag("iris", "team", "vision")
        client.delete_model_version("iris", added)
    assert lines == [
        f"already present: {IRIS} V1 (MLflow model 'iris' version 1); comment updated; model "
        "tags set: TEAM",
        f"already present: {IRIS} V2 (MLflow model 'iris' version 2); metrics updated: "
        f"{TAGS_METRIC}",
        f"already present: {IRIS} V3 (MLflow model 'iris' version 3); alias CHAMPION set "
        "(moved from V2)",
        f"copied: {IRIS} V4 (MLflow model 'iris' version 4)",
    ]
    model = reg.get_model("iris")
    assert [v.aliases for v in model.versions()] == [
        ["DEFAULT", "FIRST"], [], ["CHALLENGER", "CHAMPION"], ["LAST"]]
    assert model.version("CHAMPION").version_name == "V3"
    assert model.version("V1").comment == "smallest C"
    assert model.version("V2").get_metric(TAGS_METRIC) == {"validated": "true"}
    assert model.get_tag("team") == "tabular"
    np.testing.assert_array_equal(model.version("V4").run(X)["output_feature_0"],
                                  newest.predict(X))


def test_what_stands_in_the_way_is_refused_before_anything_is_copied(
    tmp_path: Path, source: MlflowRegistry
) -> None:
    reg = _registry(tmp_path)
    X, y = iris()
    reg.log_model(LogisticRegression(max_iter=500).fit(X, y), model_name="iris",
                  version_name="V1", sample_input_data=X[:5])
    with pytest.raises(Conflict, match=r"nothing was imported: ML.REGISTRY.IRIS exists and none "
                                       r"of its versions came from MLflow model 'iris'; import "
                                       r"into another schema"):
        import_mlflow(reg, tracking_uri=source.uri)
    assert [m.name for m in reg.models()] == ["IRIS"]  # not even wine, which had no problem
    with pytest.raises(NotFound, match="has no registered model 'nope'"):
        import_mlflow(reg, tracking_uri=source.uri, models=["wine", "nope"])
    source.client.create_registered_model("WINE")  # both would be Floe model WINE
    try:
        with pytest.raises(InvalidInput, match="MLflow models 'WINE' and 'wine' would both be "
                                               "Floe model WINE"):
            import_mlflow(reg, tracking_uri=source.uri, models=["wine", "WINE"])
    finally:
        source.client.delete_registered_model("WINE")
    assert [m.name for m in reg.models()] == ["IRIS"]


def test_a_bad_tracking_uri_is_one_line_on_stderr(tmp_path: Path, floe_home: Path) -> None:
    reg = _registry(tmp_path)
    missing = tmp_path / "nowhere" / "mlflow.db"
    status, out, err = _floe(reg, floe_home, "import", "mlflow", "--tracking-uri",
                             f"sqlite:///{missing}")
    assert (status, out) == (1, [])
    assert err == (f"error: there is no MLflow database at sqlite:///{missing} (MLflow would "
                   "create an empty one); check the path: sqlite:///relative/mlflow.db or "
                   "sqlite:////absolute/mlflow.db\n")
    assert not missing.parent.exists()  # MLflow did not create it
    status, out, err = _floe(reg, floe_home, "import", "mlflow", "--tracking-uri",
                             "nosuch://host/path")
    assert (status, out) == (1, [])
    assert err.startswith("error: MLflow at nosuch://host/path: ") and err.count("\n") == 1, err
    assert json.loads(json.dumps(reg.show_models().to_dict("records"))) == []
