"""TensorFlow: Keras 3 models in the .keras format (safe mode) and tf.Module / SavedModel
signatures, loaded without pickle.

Every model takes the same two iris features (petal length and width), so one fresh process
loads and runs them all: importing TensorFlow costs seconds per process.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tensorflow as tf
import yaml

from registry import ComputeConfig, IntegrityError, InvalidInput, ModelVersion
from registry.handlers import handler_for
from registry.handlers.tensorflow import TensorFlowHandler
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType
from registry.runtime.tensors import tensor_array, tensor_values
from tests.models import iris
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process, run_script
from tests.registry.runtime.conftest import ONE_ACTOR

_FEATURES = ["petal_length", "petal_width"]
_TF = "tensorflow-cpu"  # the build this environment installs (pyproject's tensorflow extra)

# Keras converts TensorFlow's tensors with np.array, which numpy 2 warns about for them
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:keras"
)


def _petals() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The features, the species (0-2) and the sepal length: a classifier's and a
    regressor's targets."""
    X, y = iris()
    full = X.reset_index(drop=True)
    return full[_FEATURES], y.to_numpy(), full["sepal_length"].to_numpy(np.float32)


def _fit(model: keras.Model, loss: Any, X: Any, y: Any) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss)
    model.fit(X, y, epochs=3, batch_size=32, verbose=0)
    return model


def _classifier() -> keras.Model:
    X, species, _ = _petals()
    net = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(3, activation="softmax")])
    return _fit(net, "sparse_categorical_crossentropy", X.to_numpy(np.float32), species)


def _regressor() -> keras.Model:
    X, _, sepal = _petals()
    net = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    return _fit(net, "mse", X.to_numpy(np.float32), sepal)  # built by fit, no keras.Input


def _two_inputs() -> keras.Model:
    """Inputs named after the columns, a dict of outputs: the species and the sepal length."""
    length = keras.Input(shape=(1,), name="petal_length")
    width = keras.Input(shape=(1,), name="petal_width")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([length, width]))
    net = keras.Model(inputs=[length, width], outputs={
        "species": keras.layers.Dense(3, activation="softmax", name="species")(hidden),
        "sepal_length": keras.layers.Dense(1, name="sepal_length")(hidden)})
    X, species, sepal = _petals()
    return _fit(net, {"species": "sparse_categorical_crossentropy", "sepal_length": "mse"},
                {c: X[[c]].to_numpy(np.float32) for c in _FEATURES},
                {"species": species, "sepal_length": sepal})


class _Scaler(tf.Module):
    """Its one input-signature function is the default signature: a dict of two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable([0.5, -2.0])
        self.b = tf.Variable([1.0, 0.25])

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def __call__(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        scaled = x * self.w + self.b
        return {"scaled": scaled, "total": tf.reduce_sum(scaled, axis=1)}


def _saved_path(folder: Path) -> tuple[str, _Scaler]:
    """A SavedModel with two signatures, saved by hand and logged as its directory; and the
    module it was saved from."""
    module = _Scaler()
    squares = tf.function(lambda x: tf.reduce_sum(module(x)["scaled"] ** 2, axis=1),
                          input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / "two_signatures"),
                        signatures={"serving_default": module.__call__, "squares": squares})
    return str(folder / "two_signatures"), module


def _keras_outputs(model: keras.Model, X: pd.DataFrame) -> np.ndarray:
    out = model.predict({c: X[[c]].to_numpy(np.float32) for c in _FEATURES}
                        if len(model.inputs) > 1 else X.to_numpy(np.float32), verbose=0)
    if isinstance(out, dict):
        out = {k: np.asarray(v).reshape(len(X), -1) for k, v in out.items()}
        return np.column_stack([out[k] for k in sorted(out)])
    return np.asarray(out).reshape(len(X), -1)


def _module_outputs(module: _Scaler, X: pd.DataFrame, function: str) -> np.ndarray:
    """What a signature of ``_saved_path`` returns, computed by the module, in key order."""
    out = module(tf.constant(X.to_numpy(np.float32)))
    if function == "squares":  # a tensor: the signature's one output, output_0
        out = {"output_0": tf.reduce_sum(out["scaled"] ** 2, axis=1)}
    columns = {k: np.asarray(v).reshape(len(X), -1) for k, v in out.items()}
    return np.column_stack([columns[k] for k in sorted(columns)])


_FLOATS = DataType.FLOAT
# model: its functions and each one's output columns
_OUTPUTS: dict[str, dict[str, list[str]]] = {
    "classifier": {"predict": [f"output_feature_{i}" for i in range(3)]},
    "regressor": {"predict": ["output_feature_0"]},
    "two_inputs": {"predict": ["sepal_length", "species_0", "species_1", "species_2"]},
    "module": {"serving_default": ["scaled_0", "scaled_1", "total"]},
    "saved_path": {"serving_default": ["scaled_0", "scaled_1", "total"],
                   "squares": ["output_0"]},
}
_CLASSES = {"classifier": "Sequential", "regressor": "Sequential", "two_inputs": "Functional",
            "module": "_UserObject", "saved_path": "_UserObject"}


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[SqliteRegistry, dict[str, ModelVersion], dict[tuple[str, str], np.ndarray]]]:
    """Every model logged once (version v1), and its original's outputs on the features."""
    tmp = tmp_path_factory.mktemp("tensorflow")
    reg = SqliteRegistry(tmp)
    X, _, _ = _petals()
    path, saved_from = _saved_path(tmp)
    models: dict[str, Any] = {"classifier": _classifier(), "regressor": _regressor(),
                              "two_inputs": _two_inputs(), "module": _Scaler(),
                              "saved_path": path}
    versions, expected = {}, {}
    for name, model in models.items():
        versions[name] = reg.registry.log_model(model, model_name=name, version_name="v1",
                                                sample_input_data=X[:20])
        for function in _OUTPUTS[name]:
            expected[name, function] = (
                _keras_outputs(model, X) if isinstance(model, keras.Model)
                else _module_outputs(saved_from if name == "saved_path" else model, X, function))
    yield reg, versions, expected


def _manifest(reg: SqliteRegistry, mv: ModelVersion) -> dict[str, Any]:
    path = Path(reg.artifact_root) / "versions" / mv.id / "MANIFEST.yml"
    manifest: dict[str, Any] = yaml.safe_load(path.read_text())
    return manifest


def test_round_trip_in_a_fresh_process(logged: Any) -> None:
    reg, versions, expected = logged
    X, _, _ = _petals()
    for name, mv in versions.items():
        shown = {f.name: f for f in mv.show_functions()}
        assert list(shown) == list(_OUTPUTS[name])  # the default function first
        for function, outputs in _OUTPUTS[name].items():
            signature = shown[function].signature
            assert signature is not None
            assert [(f.name, f.dtype) for f in signature.inputs] == [
                (c, DataType.DOUBLE) for c in _FEATURES]  # the sample's: fed as float32
            assert [(f.name, f.dtype) for f in signature.outputs] == [
                (c, _FLOATS) for c in outputs]
        manifest = _manifest(reg, mv)
        listed = reg.registry.list_artifacts(f"floe://model/{name}/versions/v1/model/")
        files = sorted(n.split("/model/", 1)[1] for n in listed["name"])
        frameworks = manifest["env"]["frameworks"]
        assert frameworks[_TF] == version(_TF)
        assert f"{_TF}=={version(_TF)}" in (
            Path(reg.artifact_root) / "versions" / mv.id / "env" / "requirements.txt"
        ).read_text().splitlines()
        if name in ("classifier", "regressor", "two_inputs"):
            assert files == ["model.keras"]  # config and weights, no pickle
            assert manifest["model"]["format"] == "keras-v3"
            assert frameworks["keras"] == keras.__version__
        else:
            assert "saved_model/saved_model.pb" in files
            assert not any(f.endswith(".pkl") for f in files)
            assert manifest["model"]["signatures"] == list(_OUTPUTS[name])
            assert "keras" not in frameworks  # a SavedModel needs TensorFlow alone

    X.to_parquet(reg.workdir / "X.parquet")
    report, ran = run_in_fresh_process(reg, {name: list(fns) for name, fns in _OUTPUTS.items()})
    assert report["modules"] == []  # the test module that built the models: never imported
    assert report["classes"] == _CLASSES
    for key, want in expected.items():
        np.testing.assert_allclose(ran[key], want, rtol=1e-5, atol=1e-6, err_msg=str(key))


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("name", "stored"), [("classifier", "model/model.keras"),
                                              ("module", "model/saved_model/saved_model.pb")])
def test_a_tampered_file_is_refused_before_it_is_read(
        tmp_path: Path, name: str, stored: str) -> None:
    reg = SqliteRegistry(tmp_path)
    X, _, _ = _petals()
    model = _classifier() if name == "classifier" else _Scaler()
    mv = reg.registry.log_model(model, model_name=name, version_name="v1",
                                sample_input_data=X[:10])
    _flip_a_byte(Path(reg.artifact_root) / "versions" / mv.id / stored)
    with pytest.raises(IntegrityError, match=rf"{stored} \(sha256 differs\)"):
        mv.load()
    with pytest.raises(IntegrityError, match=rf"{stored} \(sha256 differs\)"):
        mv.run(X)


def _with_lambda() -> keras.Model:
    return keras.Sequential([keras.Input(shape=(2,)), keras.layers.Lambda(lambda x: x * 2.0),
                             keras.layers.Dense(1)])


@keras.saving.register_keras_serializable(package="floe_test")
class _Doubler(keras.layers.Layer):  # type: ignore[misc]
    """Registered in this process only: a fresh process cannot build it from its name."""

    def call(self, x: Any) -> Any:
        return x * 2.0


def _own_activation(x: Any) -> Any:
    return keras.ops.relu(x) * 2.0


@pytest.mark.parametrize(("build", "match"), [
    (_with_lambda, r"holds a Lambda layer 'lambda(_\d+)?', which Keras's safe_mode refuses to "
                   "load: they hold Python bytecode"),
    (lambda: keras.Sequential([keras.Input(shape=(2,)), _Doubler(), keras.layers.Dense(1)]),
     r"classes Keras does not own \(floe_test>_Doubler\).*wrap it in a CustomModel"),
    (lambda: keras.Sequential([keras.Input(shape=(2,)),
                               keras.layers.Dense(1, activation=_own_activation)]),
     r"does not load back from its \.keras file \(TypeError: Could not locate function "
     r"'_own_activation'\); build it from Keras's own layers"),
], ids=["lambda", "registered_layer", "own_activation"])
def test_a_model_that_would_not_load_safely_is_refused_at_log_time(
        tmp_path: Path, build: Callable[[], keras.Model], match: str) -> None:
    reg = SqliteRegistry(tmp_path).registry
    with pytest.raises(InvalidInput, match=match):
        reg.log_model(build(), model_name="m", version_name="v1",
                      sample_input_data=_petals()[0][:10])
    assert reg.show_models().empty


def _outside_vocabulary(path: Path, vocabulary: Path) -> None:
    """A .keras file whose lookup layer reads its vocabulary from a file outside the archive
    (Keras writes the vocabulary into the archive: the config is edited to name the file)."""
    vocabulary.write_text("3\n5\n7\n")
    keras.Sequential([keras.Input(shape=(1,), dtype="int64"),
                      keras.layers.IntegerLookup(vocabulary=[3, 5, 7])]).save(str(path))
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["vocabulary"] = str(vocabulary)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_the_loader_keeps_safe_mode_on_even_where_the_process_turned_it_off(
        tmp_path: Path) -> None:
    """Files Floe never writes (it refuses them at log time), refused at load also where
    the process called keras.config.enable_unsafe_deserialization() for its own models: a
    Lambda layer's bytecode (by the handler's scan) and a vocabulary read from outside the
    archive (by Keras's safe mode, which the loader forces on)."""
    from keras.src.saving.serialization_lib import SafeModeScope

    (tmp_path / "model").mkdir()
    stored = tmp_path / "model" / "model.keras"
    spec = {"path": "model/model.keras", "format": "keras-v3", "class": "Sequential"}
    _with_lambda().save(str(stored))
    with pytest.raises(InvalidInput, match="safe_mode refuses to load: they hold Python bytecode"):
        TensorFlowHandler().load(tmp_path, spec, {})
    with SafeModeScope(False):  # what keras.config.enable_unsafe_deserialization() sets
        with pytest.raises(InvalidInput, match="safe_mode refuses to load"):
            TensorFlowHandler().load(tmp_path, spec, {})
        _outside_vocabulary(stored, tmp_path / "vocabulary.txt")
        assert keras.saving.load_model(str(stored), compile=False) is not None  # unsafe: loads
        with pytest.raises(InvalidInput, match=r"Keras's safe_mode refuses model\.keras "
                                               r"\(ValueError: Requested the loading of a "
                                               "vocabulary file outside of the model archive"):
            TensorFlowHandler().load(tmp_path, spec, {})
    with pytest.raises(IntegrityError, match="unknown TensorFlow format 'pickle'"):
        TensorFlowHandler().load(tmp_path, {**spec, "format": "pickle"}, {})


class _Unsigned(tf.Module):
    @tf.function
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return x * 2.0


class _CallsPython(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.numpy_function(lambda v: v * 2.0, [x], tf.float32)


def test_a_module_without_a_signature_or_with_python_is_refused(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path).registry
    X = _petals()[0][:10]
    with pytest.raises(InvalidInput, match=r"no serving signature; give the tf\.Module exactly "
                                           r"one @tf\.function\(input_signature"):
        reg.log_model(_Unsigned(), model_name="unsigned", version_name="v1", sample_input_data=X)
    with pytest.raises(InvalidInput, match=r"calls back into Python \(PyFunc: tf\.py_function"):
        reg.log_model(_CallsPython(), model_name="python", version_name="v1",
                      sample_input_data=X)
    assert reg.show_models().empty


def test_inputs_by_name_are_cast_exactly() -> None:
    """An int32 input takes int64 columns it can hold and refuses the rest; a wrong column
    name is refused naming the model's inputs; a list of outputs is a column each."""
    a = keras.Input(shape=(1,), name="a")
    b = keras.Input(shape=(), name="b", dtype="int32")
    codes = keras.layers.Flatten()(keras.layers.Embedding(100, 2)(b))
    net = keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(keras.layers.Concatenate()([a, codes])))
    predictor = TensorFlowHandler().wrap(net)
    X = pd.DataFrame({"a": [0.5, 1.5, 2.5], "b": np.array([3, 7, 99], dtype=np.int64)})
    got = predictor.predict("predict", Batch(frame=X))
    want = net.predict({"a": X[["a"]].to_numpy(np.float32), "b": X["b"].to_numpy(np.int32)},
                       verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(InvalidInput, match="input 'b' is int32 and the input holds int64 values"):
        predictor.predict("predict", Batch(frame=X.assign(b=[3, 2**40, 5])))
    with pytest.raises(InvalidInput, match="input 'b' is int32 and the input holds float64"):
        predictor.predict("predict", Batch(frame=X.assign(b=[3.0, 4.5, 5.0])))
    with pytest.raises(InvalidInput, match=r"one column per input \(a, b\) and the input has no "
                                           "column for its inputs b and columns c"):
        predictor.predict("predict", Batch(frame=X.rename(columns={"b": "c"})))

    # a list of outputs: a column each by the model's output names, 2-D ones split
    joined = keras.layers.Concatenate()([a, codes])
    listed = keras.Model({"a": a, "b": b}, [keras.layers.Dense(1, name="first")(joined),
                                            keras.layers.Dense(2, name="second")(joined)])
    out = TensorFlowHandler().wrap(listed).predict("predict", Batch(frame=X))
    assert isinstance(out, dict) and list(out) == ["first", "second_0", "second_1"]
    first, second = listed.predict({"a": X[["a"]].to_numpy(np.float32),
                                    "b": X["b"].to_numpy(np.int32)}, verbose=0)
    np.testing.assert_allclose(np.column_stack(list(out.values())),
                               np.column_stack([first, second]), rtol=1e-6)


def test_inputs_with_a_shape_take_tensor_features(tmp_path: Path) -> None:
    """Images (a feature of shape (4, 4, 1)) beside a scalar, from a dict sample: the run
    takes an Arrow tensor column or a DataFrame column of arrays; an output of an array per
    row is one column of them. Scalar columns for an image input are refused."""
    rng = np.random.default_rng(0)
    images = rng.random((12, 4, 4, 1), dtype=np.float32)
    scale = rng.random(12)
    image, factor = keras.Input(shape=(4, 4, 1), name="image"), keras.Input(shape=(1,), name="scale")
    maps = keras.layers.Conv2D(2, 3)(image)  # (rows, 2, 2, 2)
    net = keras.Model([image, factor], {"maps": maps, "score": keras.layers.Dense(1)(
        keras.layers.Concatenate()([keras.layers.Flatten()(maps), factor]))})
    mv = SqliteRegistry(tmp_path).registry.log_model(
        net, model_name="images", version_name="v1",
        sample_input_data={"image": images[:4], "scale": scale[:4]})
    signature = mv.get_function("predict").signature
    assert signature is not None
    assert [(f.name, f.dtype, f.shape) for f in signature.inputs] == [
        ("image", DataType.FLOAT, (4, 4, 1)), ("scale", DataType.DOUBLE, None)]
    assert [(f.name, f.shape) for f in signature.outputs] == [("maps", (2, 2, 2)),
                                                              ("score", None)]
    want = net.predict({"image": images, "scale": scale.reshape(-1, 1)}, verbose=0)
    table = mv.run(pa.table({"image": tensor_array(images), "scale": scale}))
    np.testing.assert_allclose(tensor_values(table.column("maps")), want["maps"], rtol=1e-5)
    frame = mv.run(pd.DataFrame({"image": list(images), "scale": scale}))
    np.testing.assert_allclose(frame["score"], want["score"][:, 0], rtol=1e-5)
    np.testing.assert_allclose(np.stack(frame["maps"].to_list()), want["maps"], rtol=1e-5)

    single = keras.Model(image, keras.layers.Dense(3)(keras.layers.Flatten()(image)))
    with pytest.raises(InvalidInput, match=r"inputs image \(4, 4, 1\) take more than a value "
                                           "per row and the input's features are scalars"):
        TensorFlowHandler().wrap(single).predict(
            "predict", Batch(frame=pd.DataFrame(images.reshape(12, 16))))


def test_use_gpu_is_refused_without_a_gpu(logged: Any) -> None:
    _, versions, _ = logged
    for name in ("classifier", "module"):
        mv = versions[name]
        if tf.config.list_physical_devices("GPU"):
            model: Any = mv.load(options={"use_gpu": True})
            assert model is not None
            continue
        with pytest.raises(InvalidInput, match=r"use_gpu=True but TensorFlow sees no GPU .*"
                                               r"install tensorflow\[and-cuda\]"):
            mv.load(options={"use_gpu": True})


def test_threads_report_what_tensorflow_runs_with(caplog: pytest.LogCaptureFixture) -> None:
    """TensorFlow's pools are fixed once its runtime started (building the model did):
    set_threads cannot change them, and threads() keeps saying what they are."""
    X, _, _ = _petals()
    predictor = TensorFlowHandler().wrap(_Scaler())
    before = predictor.threads()
    assert before == (tf.config.threading.get_intra_op_parallelism_threads() or None)
    wanted = (before or 0) + 1
    with caplog.at_level(logging.WARNING, logger="registry.handlers.tensorflow"):
        predictor.set_threads(wanted)
    assert predictor.threads() == before
    assert f"not {wanted}; set TF_NUM_INTRAOP_THREADS" in caplog.text
    np.testing.assert_allclose(predictor.predict("serving_default", Batch(frame=X))["total"],
                               _module_outputs(_Scaler(), X, "serving_default")[:, 2], rtol=1e-6)


@pytest.mark.usefixtures("ray_local")
def test_a_ray_dataset_runs_as_in_process(logged: Any) -> None:
    import ray

    _, versions, _ = logged
    mv = versions["two_inputs"]
    X, _, _ = _petals()
    small = X.iloc[::5].assign(row_id=np.arange(len(X.iloc[::5])))
    out = mv.run(ray.data.from_pandas(small).repartition(2), passthrough_columns=["row_id"],
                 compute=ComputeConfig(batch_size=16, **ONE_ACTOR))
    got = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    local = mv.run(small.drop(columns=["row_id"]))
    outputs = _OUTPUTS["two_inputs"]["predict"]
    assert got["row_id"].tolist() == small["row_id"].tolist()
    np.testing.assert_allclose(got[outputs].to_numpy(float), local[outputs].to_numpy(float),
                               rtol=1e-6)


def test_routing(tmp_path: Path) -> None:
    assert isinstance(handler_for(_regressor()), TensorFlowHandler)
    assert isinstance(handler_for(_Scaler()), TensorFlowHandler)
    assert isinstance(handler_for(_saved_path(tmp_path)[0]), TensorFlowHandler)
    with pytest.raises(InvalidInput, match="no handler for it"):
        handler_for(str(tmp_path))  # a folder without saved_model.pb


def test_routing_does_not_import_tensorflow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry.handlers.tensorflow\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework,\n"
        "      *(name in sys.modules for name in ('tensorflow', 'keras')))\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "False", "False"]
