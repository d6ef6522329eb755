"""ONNX: graphs stored as model.onnx and run with onnxruntime; scikit-learn converted on request."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from registry import IntegrityError, InvalidInput, ModelVersion
from registry.handlers import handler_for
from registry.handlers.onnx import OnnxHandler
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType
from tests.models import iris
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process, run_script
from tests.registry.runtime.conftest import ONE_ACTOR

_ROWS = 150  # iris has 150 rows: the diabetes and two-input features take as many


def _to_onnx(model: Any, width: int, **options: Any) -> onnx.ModelProto:
    proto: onnx.ModelProto = convert_sklearn(
        model, initial_types=[("X", FloatTensorType([None, width]))], options=options or None
    )
    return proto


def _classifier() -> tuple[LogisticRegression, pd.DataFrame]:
    X, y = iris()
    return LogisticRegression(max_iter=500).fit(X, y), X


def _forest() -> tuple[RandomForestRegressor, pd.DataFrame]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.astype(np.float32).astype(np.float64)  # float32-exact: the graph's splits are float32
    forest = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, y)
    return forest, X.iloc[:_ROWS].reset_index(drop=True)  # as many rows as the other cases


def _two_inputs() -> onnx.ModelProto:
    """total = a + b (as float), next = b + 1: inputs a (float [N]) and b (int64 [N, 1])."""
    graph = helper.make_graph(
        [
            helper.make_node("Squeeze", ["b", "axis"], ["b_flat"]),
            helper.make_node("Cast", ["b_flat"], ["b_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a", "b_float"], ["total"]),
            helper.make_node("Add", ["b_flat", "one"], ["next"]),
        ],
        "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("b", TensorProto.INT64, ["N", 1])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("next", TensorProto.INT64, ["N"])],
        initializer=[helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("one", TensorProto.INT64, [], [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ab() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=_ROWS), "b": rng.integers(0, 100, size=_ROWS)})


def _manifest(reg: SqliteRegistry, mv: ModelVersion) -> dict[str, Any]:
    path = Path(reg.artifact_root) / "versions" / mv.id / "MANIFEST.yml"
    manifest: dict[str, Any] = yaml.safe_load(path.read_text())
    return manifest


def _signature(mv: ModelVersion) -> tuple[list[tuple[str, DataType]], list[tuple[str, DataType]]]:
    (fn,) = mv.show_functions()
    assert (fn.name, fn.target_method) == ("run", "run")
    assert fn.signature is not None
    return ([(f.name, f.dtype) for f in fn.signature.inputs],
            [(f.name, f.dtype) for f in fn.signature.outputs])


def _logged_classifier(tmp_path: Path) -> tuple[object, pd.DataFrame, np.ndarray]:
    clf, X = _classifier()
    return _to_onnx(clf, 4, zipmap=False), X, np.column_stack([clf.predict(X),
                                                                clf.predict_proba(X)])


def _logged_forest_file(tmp_path: Path) -> tuple[object, pd.DataFrame, np.ndarray]:
    forest, X = _forest()
    path = tmp_path / "forest.onnx"
    onnx.save(_to_onnx(forest, X.shape[1]), str(path))
    return str(path), X, forest.predict(X).reshape(-1, 1)


def _logged_two_inputs(tmp_path: Path) -> tuple[object, pd.DataFrame, np.ndarray]:
    X = _ab()
    return _two_inputs(), X, np.column_stack([X["a"].astype(np.float32) + X["b"], X["b"] + 1])


# name: (the model as logged, its features and the original's outputs; its signature)
_CASES: dict[str, tuple[Callable[[Path], tuple[object, pd.DataFrame, np.ndarray]],
                        list[tuple[str, DataType]], list[tuple[str, DataType]]]] = {
    "classifier": (
        _logged_classifier,
        [(c, DataType.DOUBLE) for c in iris()[0].columns],  # the sample's: run as float32
        [("label", DataType.INT64), *[(f"probabilities_{i}", DataType.FLOAT) for i in range(3)]],
    ),
    "forest_file": (
        _logged_forest_file,
        [(c, DataType.DOUBLE) for c in load_diabetes(as_frame=True).data.columns],
        [("output_feature_0", DataType.FLOAT)],  # one output: an array, as other handlers'
    ),
    "two_inputs": (
        _logged_two_inputs,
        [("a", DataType.DOUBLE), ("b", DataType.INT64)],
        [("total", DataType.FLOAT), ("next", DataType.INT64)],
    ),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_round_trip_in_a_fresh_process(tmp_path: Path, case: str) -> None:
    build, inputs, outputs = _CASES[case]
    model, X, expected = build(tmp_path)
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(model, model_name="m", version_name="v1",
                                sample_input_data=X[:20])

    assert _signature(mv) == (inputs, outputs)
    listed = reg.registry.list_artifacts("floe://model/m/versions/v1/model/")
    assert listed["name"].tolist() == ["versions/V1/model/model.onnx"]  # the graph, no pickle
    manifest = _manifest(reg, mv)
    assert (manifest["framework"], manifest["model"]["format"]) == ("onnx", "onnx")
    frameworks = manifest["env"]["frameworks"]
    assert frameworks["onnxruntime"] == version("onnxruntime")
    assert frameworks["onnx"] == version("onnx")

    X.to_parquet(reg.workdir / "X.parquet")
    report, ran = run_in_fresh_process(reg, {"m": ["run"]})
    assert report["modules"] == []  # the test module that built the model was never imported
    assert report["classes"] == {"m": "InferenceSession"}
    got = ran["m", "run"]
    assert got.shape == expected.shape
    for column, (_, dtype) in enumerate(outputs):
        if dtype == DataType.FLOAT:
            np.testing.assert_allclose(got[:, column], expected[:, column], rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got[:, column], expected[:, column])


def test_a_tampered_model_onnx_is_refused_before_it_is_read(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path)
    clf, X = _classifier()
    mv = reg.registry.log_model(_to_onnx(clf, 4, zipmap=False), model_name="clf",
                                version_name="v1", sample_input_data=X[:10])
    stored = Path(reg.artifact_root) / "versions" / mv.id / "model" / "model.onnx"
    stored.write_bytes(_two_inputs().SerializeToString())  # a valid graph, but another one

    with pytest.raises(IntegrityError, match=r"model/model.onnx \(sha256 differs\)"):
        mv.load()
    with pytest.raises(IntegrityError, match=r"model/model.onnx \(sha256 differs\)"):
        mv.run(X)


def test_a_bad_graph_is_refused_naming_the_problem(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path).registry
    bad = _two_inputs()
    bad.graph.node[2].op_type = "Plus"
    with pytest.raises(InvalidInput, match=r"the ONNX graph is invalid: .*Plus.*fix the graph"):
        reg.log_model(bad, model_name="bad", version_name="v1", sample_input_data=_ab())

    custom = _two_inputs()
    custom.graph.node[2].domain = "com.example"  # the checker leaves other domains' ops alone
    custom.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(InvalidInput, match=r"onnxruntime .* cannot run the ONNX graph .*"
                                           r"com\.example:Add.*export it with operators"):
        reg.log_model(custom, model_name="custom", version_name="v1", sample_input_data=_ab())

    clf, X = _classifier()
    with pytest.raises(InvalidInput, match=r"output_probability are not tensors.*'zipmap': False"):
        reg.log_model(_to_onnx(clf, 4), model_name="zipmap", version_name="v1",
                      sample_input_data=X)
    with pytest.raises(InvalidInput, match="there is no ONNX file at .*missing.onnx"):
        reg.log_model(tmp_path / "missing.onnx", model_name="missing", version_name="v1",
                      sample_input_data=X)
    (tmp_path / "text.onnx").write_text("not a graph")
    with pytest.raises(InvalidInput, match=r"text.onnx is not an ONNX model .*onnx.save"):
        reg.log_model(tmp_path / "text.onnx", model_name="text", version_name="v1",
                      sample_input_data=X)
    with pytest.raises(InvalidInput, match=r"the input has no column for its inputs b; name "
                                           "the columns after the graph's inputs"):
        reg.log_model(_two_inputs(), model_name="ab", version_name="v1",
                      sample_input_data=_ab()[["a"]])
    assert reg.show_models().empty


def test_threads_rebuild_the_session(tmp_path: Path) -> None:
    X = _ab()
    predictor = OnnxHandler().wrap(_two_inputs())
    assert predictor.threads() is None  # onnxruntime's default
    before = predictor.predict("run", Batch(frame=X))
    predictor.set_threads(1)
    assert predictor.threads() == 1
    predictor.set_threads(2)
    assert predictor.threads() == 2
    pd.testing.assert_frame_equal(predictor.predict("run", Batch(frame=X)), before)


def test_use_gpu_puts_cuda_first_or_is_refused_without_it(tmp_path: Path) -> None:
    import onnxruntime as ort

    clf, X = _classifier()
    mv = SqliteRegistry(tmp_path).registry.log_model(
        _to_onnx(clf, 4, zipmap=False), model_name="clf", version_name="v1",
        sample_input_data=X[:10],
    )
    assert mv.load().get_providers() == ["CPUExecutionProvider"]  # type: ignore[attr-defined]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(InvalidInput, match="use_gpu=True but this onnxruntime has no "
                           "CUDAExecutionProvider .*install onnxruntime-gpu"):
            mv.load(options={"use_gpu": True})
        return
    session: Any = mv.load(options={"use_gpu": True})
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    labels = session.run(None, {"X": X.to_numpy(np.float32)})[0]
    np.testing.assert_array_equal(labels, clf.predict(X))


@pytest.mark.usefixtures("ray_local")
def test_run_on_a_ray_dataset(tmp_path: Path) -> None:
    import ray

    from registry import ComputeConfig

    X = _ab().assign(row_id=np.arange(_ROWS))
    mv = SqliteRegistry(tmp_path).registry.log_model(
        _two_inputs(), model_name="ab", version_name="v1", sample_input_data=X[["a", "b"]]
    )
    out = mv.run(ray.data.from_pandas(X).repartition(3), passthrough_columns=["row_id"],
                 compute=ComputeConfig(batch_size=32, **ONE_ACTOR))
    got = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    local = mv.run(X.drop(columns=["row_id"]))
    assert list(got.columns) == ["a", "b", "row_id", "total", "next"]
    np.testing.assert_allclose(got["total"].to_numpy(), local["total"].to_numpy())
    np.testing.assert_array_equal(got["next"].to_numpy(), X["b"] + 1)


def test_convert_to_onnx_converts_and_checks(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path)
    clf, X = _classifier()
    mv = reg.registry.log_model(clf, model_name="clf", version_name="v1", sample_input_data=X,
                                options={"convert_to": "onnx"})
    manifest = _manifest(reg, mv)
    assert manifest["framework"] == "onnx" and manifest["model"]["producer"].startswith("skl2onnx")
    assert "scikit-learn" not in manifest["env"]["frameworks"]
    out = mv.run(X)
    np.testing.assert_array_equal(out["label"], clf.predict(X))
    np.testing.assert_allclose(out[[f"probabilities_{i}" for i in range(3)]],
                               clf.predict_proba(X), rtol=1e-4, atol=1e-5)


class _Doubler(BaseEstimator, RegressorMixin):  # type: ignore[misc]
    """An estimator skl2onnx has no converter for."""

    def fit(self, X: Any, y: Any) -> _Doubler:
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X)[:, 0] * 2


def test_convert_to_refuses_what_it_cannot_convert_faithfully(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path).registry
    # 1e8 + 0.25 * i: float32 (spacing 8 there) rounds the features the graph computes with
    X = pd.DataFrame({"x": 1e8 + 0.25 * np.arange(40)})
    linear = LinearRegression().fit(X, X["x"] - 1e8)
    with pytest.raises(InvalidInput, match=r"conversion of the sklearn\.linear_model\._base\."
                                           r"LinearRegression does not predict what it does: "
                                           r"predict differs on \d+ of 40 .*without convert_to"):
        reg.log_model(linear, model_name="linear", version_name="v1", sample_input_data=X,
                      options={"convert_to": "onnx"})
    with pytest.raises(InvalidInput, match=r"skl2onnx cannot convert the tests\.registry\.handlers"
                                           r"\.test_onnx\._Doubler .*without convert_to"):
        reg.log_model(_Doubler().fit(X, None), model_name="doubler", version_name="v1",
                      sample_input_data=X, options={"convert_to": "onnx"})
    with pytest.raises(InvalidInput, match=r"options\['convert_to'\] = 'tflite': Input should "
                                           "be 'onnx'"):
        reg.log_model(linear, model_name="linear", version_name="v1", sample_input_data=X,
                      options={"convert_to": "tflite"})
    with pytest.raises(InvalidInput, match="converts scikit-learn estimators with skl2onnx, not "
                                           "a onnx.onnx_ml_pb2.ModelProto"):
        reg.log_model(_two_inputs(), model_name="ab", version_name="v1",
                      sample_input_data=_ab(), options={"convert_to": "onnx"})
    with pytest.raises(InvalidInput, match="needs sample_input_data="):
        reg.log_model(linear, model_name="linear", version_name="v1",
                      options={"convert_to": "onnx"})
    with pytest.raises(InvalidInput, match="columns colour are not numbers; encode them first"):
        reg.log_model(linear, model_name="linear", version_name="v1",
                      sample_input_data=X.assign(colour="red"), options={"convert_to": "onnx"})
    assert reg.show_models().empty


def test_routing(tmp_path: Path) -> None:
    assert isinstance(handler_for(_two_inputs()), OnnxHandler)
    assert isinstance(handler_for("models/forest.ONNX"), OnnxHandler)
    assert isinstance(handler_for(tmp_path / "forest.onnx"), OnnxHandler)
    with pytest.raises(InvalidInput, match="no handler for it"):
        handler_for(str(tmp_path / "forest.pkl"))


def test_routing_does_not_import_onnx(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry, registry.handlers.onnx\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework, handler_for('m.onnx').framework,\n"
        "      *(name in sys.modules for name in ('onnx', 'onnxruntime', 'skl2onnx')))\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "onnx", "False", "False",
                                                          "False"]
