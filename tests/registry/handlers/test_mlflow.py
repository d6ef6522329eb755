"""MLflow: an MLflow model directory (or a runs:/ or models:/ URI) stored file by file and run
with mlflow.pyfunc, its signature taken from the MLmodel."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import sklearn
import yaml
from mlflow.models import ModelSignature as MlflowSignature
from mlflow.models import infer_signature
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import Array
from sklearn.linear_model import LinearRegression, LogisticRegression

from registry import ComputeConfig, IntegrityError, InvalidInput
from registry.handlers import handler_for
from registry.handlers.mlflow import MlflowHandler, mlflow_signature
from registry.handlers.onnx import OnnxHandler
from registry.runtime.load import load_counts
from registry.runtime.signatures import DataType, FeatureSpec, ModelSignature
from tests.mlflow_tracking import tracking
from tests.models import iris
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process, run_script

# What MLflow would infer by importing the model in a subprocess (seconds): given instead.
_SKLEARN = [f"scikit-learn=={sklearn.__version__}"]
_PICKLE = {"serialization_format": "cloudpickle", "pip_requirements": _SKLEARN}


def _classifier() -> tuple[LogisticRegression, pd.DataFrame]:
    X, y = iris()
    return LogisticRegression(max_iter=500).fit(X, y), X


def _python_model() -> mlflow.pyfunc.PythonModel:
    """Defined in a function, so cloudpickle stores the class by value: the model loads where
    this test module cannot be imported."""

    class Scorer(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return pd.DataFrame({
                "score": model_input["petal_length"] * 2.0 + model_input["sepal_width"],
                "size": np.where(model_input["petal_length"] > 3.0, "big", "small"),
            })

    return Scorer()


def _save_sklearn(path: Path, model: Any, X: pd.DataFrame, **options: Any) -> Path:
    method = options.get("pyfunc_predict_fn", "predict")
    signature = infer_signature(X, getattr(model, method)(X))
    mlflow.sklearn.save_model(model, str(path), signature=signature, **{**_PICKLE, **options})
    return path


def _save_python_model(path: Path, X: pd.DataFrame) -> Path:
    model = _python_model()
    mlflow.pyfunc.save_model(str(path), python_model=model,
                             signature=infer_signature(X, model.predict(None, X)),
                             pip_requirements=["pandas"])
    return path


def _stored(reg: SqliteRegistry, version_id: str, rel: str) -> Path:
    return Path(reg.artifact_root) / "versions" / version_id / rel


def test_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    clf, X = _classifier()
    reg = SqliteRegistry(tmp_path)
    dirs = {
        "sk": _save_sklearn(tmp_path / "sk", clf, X),
        "proba": _save_sklearn(tmp_path / "proba", clf, X, pyfunc_predict_fn="predict_proba"),
        "py": _save_python_model(tmp_path / "py", X),
    }
    expected = {"sk": clf.predict(X).reshape(-1, 1), "proba": clf.predict_proba(X),
                "py": _python_model().predict(None, X).to_numpy()}
    for name, directory in dirs.items():
        mv = reg.registry.log_model(directory, model_name=name, version_name="v1")
        files = set(reg.registry.list_artifacts(f"floe://model/{name}/versions/v1/model/")["name"])
        assert {f"versions/V1/model/{f}" for f in os.listdir(directory)} == files
        (function,) = mv.show_functions()
        mlmodel = mlflow.models.Model.load(str(directory / "MLmodel")).signature
        assert function.name == "predict" and function.signature == mlflow_signature(mlmodel)
    # the MLmodel's signature, as Floe's: its names and types
    shown = reg.registry.get_model("py").version("v1").get_function("predict").signature
    assert shown is not None
    assert [(f.name, f.dtype) for f in shown.inputs] == [(c, DataType.DOUBLE) for c in X.columns]
    assert [(f.name, f.dtype) for f in shown.outputs] == [("score", DataType.DOUBLE),
                                                          ("size", DataType.STRING)]

    X.to_parquet(reg.workdir / "X.parquet")
    report, outputs = run_in_fresh_process(reg, {name: ["predict"] for name in dirs})
    assert report["modules"] == []  # the test module that built the models: never imported
    assert report["classes"] == dict.fromkeys(dirs, "PyFuncModel")
    np.testing.assert_array_equal(outputs["sk", "predict"], expected["sk"])
    np.testing.assert_allclose(outputs["proba", "predict"], expected["proba"], rtol=1e-12)
    np.testing.assert_array_equal(outputs["py", "predict"], expected["py"].astype(str))


def test_the_environment_names_mlflow_and_the_flavors_framework(tmp_path: Path) -> None:
    clf, X = _classifier()
    reg = SqliteRegistry(tmp_path)
    sk = reg.registry.log_model(_save_sklearn(tmp_path / "sk", clf, X), model_name="sk")
    py = reg.registry.log_model(_save_python_model(tmp_path / "py", X), model_name="py")
    for mv, framework in ((sk, "scikit-learn"), (py, "cloudpickle")):
        manifest = yaml.safe_load(_stored(reg, mv.id, "MANIFEST.yml").read_text())
        assert manifest["framework"] == "mlflow"
        assert manifest["model"]["path"] == "model/MLmodel"
        frameworks = manifest["env"]["frameworks"]
        assert frameworks["mlflow"] == mlflow.__version__
        assert framework in frameworks
        requirements = _stored(reg, mv.id, "env/requirements.txt").read_text().splitlines()
        assert f"mlflow=={mlflow.__version__}" in requirements
    # what the model's own requirements.txt names is recorded too: pandas, for the python_model
    manifest = yaml.safe_load(_stored(reg, py.id, "MANIFEST.yml").read_text())
    assert manifest["env"]["frameworks"]["pandas"] == pd.__version__


def test_a_tampered_model_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    clf, X = _classifier()
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(_save_sklearn(tmp_path / "sk", clf, X), model_name="m",
                                version_name="v1")
    stored = _stored(reg, mv.id, "model/model.pkl")
    original = stored.read_bytes()
    other = LogisticRegression(max_iter=500).fit(X, 2 - iris()[1])  # another valid model
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0xFF
    for planted in (cloudpickle.dumps(other, protocol=pickle.DEFAULT_PROTOCOL), bytes(flipped)):
        stored.write_bytes(planted)
        with pytest.raises(IntegrityError, match=r"model/model.pkl \(sha256 differs\)"):
            mv.load()
        with pytest.raises(IntegrityError, match=r"model/model.pkl \(sha256 differs\)"):
            mv.run(X)
    assert load_counts().get(mv.id, 0) == 0  # never deserialised
    stored.write_bytes(original)
    np.testing.assert_array_equal(mv.run(X)["output_feature_0"], clf.predict(X))


def test_a_loaded_pyfunc_model_is_refused_naming_the_fix(tmp_path: Path) -> None:
    clf, X = _classifier()
    loaded = mlflow.pyfunc.load_model(str(_save_sklearn(tmp_path / "sk", clf, X)))
    assert isinstance(handler_for(loaded), MlflowHandler)
    reg = SqliteRegistry(tmp_path)
    with pytest.raises(InvalidInput, match=r"keeps no path to the files.*log the MLflow "
                                           r"model's directory or URI instead"):
        reg.registry.log_model(loaded, model_name="m")
    assert reg.registry.show_models().empty


def test_what_floe_cannot_load_the_mlflow_way_is_refused(tmp_path: Path) -> None:
    clf, X = _classifier()
    reg = SqliteRegistry(tmp_path)
    helper = tmp_path / "helper.py"
    helper.write_text("VALUE = 1\n")
    with_code = _save_sklearn(tmp_path / "code", clf, X, code_paths=[str(helper)])
    with pytest.raises(InvalidInput, match=r"ships code_paths .*first on sys.path.*"
                                           r"log_model\(\.\.\., code_paths="):
        reg.registry.log_model(with_code, model_name="m")
    no_pyfunc = _save_sklearn(tmp_path / "flavorless", clf, X)
    doc = yaml.safe_load((no_pyfunc / "MLmodel").read_text())
    del doc["flavors"]["python_function"]
    (no_pyfunc / "MLmodel").write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidInput, match="has no python_function flavor"):
        reg.registry.log_model(no_pyfunc, model_name="m")
    assert reg.registry.show_models().empty


def test_runs_and_models_uris_are_downloaded_from_the_tracking_server(tmp_path: Path) -> None:
    clf, X = _classifier()
    reg = SqliteRegistry(tmp_path)
    with pytest.raises(InvalidInput, match="tracking server, and none is configured; call "
                                           r"mlflow.set_tracking_uri"):
        reg.registry.log_model("models:/iris/1", model_name="m")
    with tracking(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        experiment = mlflow.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.sklearn.log_model(clf, name="model", registered_model_name="iris",
                                     signature=infer_signature(X, clf.predict(X)), **_PICKLE)
        by_run = reg.registry.log_model(f"runs:/{run.info.run_id}/model", model_name="by_run")
        by_name = reg.registry.log_model("models:/iris/1", model_name="by_name")
        with pytest.raises(InvalidInput, match="could not download models:/iris/7"):
            reg.registry.log_model("models:/iris/7", model_name="m")
    for mv in (by_run, by_name):
        manifest = yaml.safe_load(_stored(reg, mv.id, "MANIFEST.yml").read_text())
        assert manifest["model"]["source"].startswith(("runs:/", "models:/iris/1"))
        np.testing.assert_array_equal(mv.run(X)["output_feature_0"], clf.predict(X))


def test_signatures_are_converted_where_they_are_columns() -> None:
    def features(*pairs: tuple[str, DataType]) -> tuple[FeatureSpec, ...]:
        return tuple(FeatureSpec(name, dtype) for name, dtype in pairs)

    columns = MlflowSignature(
        inputs=Schema([ColSpec("boolean", "b"), ColSpec("integer", "i"), ColSpec("long", "l"),
                       ColSpec("float", "f"), ColSpec("double", "d"), ColSpec("string", "s"),
                       ColSpec("binary", "y"), ColSpec("datetime", "t", required=False)]),
        outputs=Schema([ColSpec("long")]),
    )
    assert mlflow_signature(columns) == ModelSignature(
        features(("b", DataType.BOOL), ("i", DataType.INT32), ("l", DataType.INT64),
                 ("f", DataType.FLOAT), ("d", DataType.DOUBLE), ("s", DataType.STRING),
                 ("y", DataType.BYTES), ("t", DataType.TIMESTAMP)),
        features(("output_feature_0", DataType.INT64)),
    )
    matrix = MlflowSignature(inputs=Schema([TensorSpec(np.dtype("float32"), (-1, 3))]),
                             outputs=Schema([TensorSpec(np.dtype("float64"), (-1, 2))]))
    assert mlflow_signature(matrix) == ModelSignature(
        features(*((f"input_feature_{i}", DataType.FLOAT) for i in range(3))),
        features(("output_feature_0", DataType.DOUBLE), ("output_feature_1", DataType.DOUBLE)),
    )
    named = MlflowSignature(inputs=Schema([TensorSpec(np.dtype("int64"), (-1,), "a"),
                                           TensorSpec(np.dtype("bool"), (-1, 1), "b")]))
    assert mlflow_signature(named) == ModelSignature(
        features(("a", DataType.INT64), ("b", DataType.BOOL)), ())
    # not columns: an image tensor, an array column; no signature at all
    image = MlflowSignature(inputs=Schema([TensorSpec(np.dtype("float32"), (-1, 28, 28))]))
    arrays = MlflowSignature(inputs=Schema([ColSpec(Array("double"), "v")]))
    assert mlflow_signature(image) is None and mlflow_signature(arrays) is None
    assert mlflow_signature(None) is None


def test_a_tensor_signature_runs_as_columns_and_no_signature_is_inferred(tmp_path: Path) -> None:
    X, y = iris()
    linear = LinearRegression().fit(X.to_numpy(), y)
    reg = SqliteRegistry(tmp_path)
    tensor = tmp_path / "tensor"
    mlflow.sklearn.save_model(linear, str(tensor), **_PICKLE, signature=infer_signature(
        X.to_numpy(), linear.predict(X.to_numpy())))
    mv = reg.registry.log_model(tensor, model_name="tensor")
    columns = X.set_axis([f"input_feature_{i}" for i in range(4)], axis=1)
    np.testing.assert_allclose(mv.run(columns)["output_feature_0"], linear.predict(X.to_numpy()))
    bare = tmp_path / "bare"
    mlflow.sklearn.save_model(LinearRegression().fit(X, y), str(bare), **_PICKLE)
    with pytest.raises(InvalidInput, match="cannot infer the signature of predict"):
        reg.registry.log_model(bare, model_name="bare")
    mv = reg.registry.log_model(bare, model_name="bare", sample_input_data=X[:10])
    assert [f.name for f in mv.get_function("predict").signature.inputs] == list(X.columns)


def test_routing(tmp_path: Path) -> None:
    """An MLflow model's directory is the MLflow handler's, even named like an ONNX file."""
    clf, X = _classifier()
    _save_sklearn(tmp_path / "model.onnx", clf, X)
    assert isinstance(handler_for(tmp_path / "model.onnx"), MlflowHandler)
    assert isinstance(handler_for(str(tmp_path / "model.onnx")), MlflowHandler)
    assert isinstance(handler_for("runs:/0123/model"), MlflowHandler)
    assert isinstance(handler_for(tmp_path / "other.onnx"), OnnxHandler)
    with pytest.raises(InvalidInput, match="no handler for it"):
        handler_for(str(tmp_path))  # a directory without an MLmodel
    assert not MlflowHandler.can_handle("x" * 5000)  # too long for a path: not one, no OSError
    assert not MlflowHandler.can_handle("a\x00b")


def test_routing_does_not_import_mlflow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry.handlers.mlflow\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework, handler_for('m.onnx').framework,\n"
        "      'mlflow' in sys.modules)\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "onnx", "False"]


@pytest.mark.usefixtures("ray_local")
def test_a_ray_dataset_runs_as_in_process(tmp_path: Path) -> None:
    import ray

    X, _ = iris()
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(_save_python_model(tmp_path / "py", X), model_name="py",
                                version_name="v1")
    small = X.iloc[::5].assign(row_id=np.arange(len(X.iloc[::5])))
    out = mv.run(ray.data.from_pandas(small).repartition(2), passthrough_columns=["row_id"],
                 compute=ComputeConfig(batch_size=16, min_actors=1, max_actors=1))
    got = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    local = mv.run(small.drop(columns=["row_id"]))
    assert got["row_id"].tolist() == small["row_id"].tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), local["score"].to_numpy())
    assert got["size"].tolist() == local["size"].tolist()
