"""TensorFlow: Keras 3 models in the native ``.keras`` format, and ``tf.Module`` / SavedModel
with serving signatures. Neither is pickled.

A ``keras.Model`` (Sequential or functional, from Keras's own layers) is written with
``model.save`` as ``model.keras`` (a zip of the architecture as JSON config and the weights
as HDF5) and read with ``keras.saving.load_model(path, safe_mode=True, compile=False)``: only
the config is interpreted, and safe mode refuses what would run code or read other files (a
``Lambda`` layer's marshalled Python bytecode, a Python ``lambda`` as an activation, a
``TFSMLayer``'s SavedModel path, a lookup vocabulary read from a file). Keras's safe mode
yields to ``keras.config.enable_unsafe_deserialization()`` anywhere in the process, so the
load runs in Keras's scope that forces it back on, and the config is first scanned for
those layers here: refused either way. The same scan runs at log time, with a trial load of
the written file: a model that would not load in a fresh process (a Lambda layer, a layer or
model class of the user's own, registered or not: the file stores only its name) is refused
then, naming what to change, rather than stored. The optimizer is not loaded
(``compile=False``): Floe only predicts. The function is ``predict``, one call of
``predict_on_batch`` on the whole batch. Keras must run on its TensorFlow backend.

A ``tf.Module`` is written with ``tf.saved_model.save(module, path)`` exactly as TensorFlow
does by default: its one ``@tf.function(input_signature=...)`` becomes ``serving_default``.
Any other SavedModel (several signatures, a ``keras.Model.export``) is logged as the path of
its directory, copied whole. Each serving signature is a function, ``serving_default`` first.
A SavedModel is a TensorFlow program: loading it runs its graph's ops with this process's
rights (TensorFlow's SECURITY.md); Floe guarantees the bytes are the ones logged, it does not
sandbox them. A graph calling back into Python (``tf.py_function``, ``tf.numpy_function``)
cannot load elsewhere and is refused at log time. At log time the module is run as saved:
written to a private folder and loaded back, so the signatures inferred are the ones a
fresh process runs.

Inputs: a model with one input takes every feature as one matrix of the input's dtype (one
column for an input of shape ``[N]``); several inputs take one column each, matched by name
(Keras input names, or a dict input's keys; a signature's argument names). Where a feature
has a shape (``FeatureSpec.shape``: an image, a sequence), each input takes the feature of
its name from ``Batch.tensors``, ``(rows, *shape)``, and a feature of rows of several shapes
is refused (pad it). A float given to a float32 input is rounded to float32; an integer or
bool input refuses values its dtype cannot hold exactly. Outputs: one array gives
``output_feature_<i>`` as other handlers' (rank 3 and up: one column of an array per row); a
dict (every signature's, a Keras dict output) or a Keras list output gives a column per
output, in key order (list outputs by ``output_names``), a 2-D output ``p`` of ``k`` columns
giving ``p_0`` ... ``p_<k-1>`` (as the ONNX handler names them), one of rank 3 and up one
column of arrays.

Loading places the model on the CPU; ``load(options={"use_gpu": True})`` places it on the
first GPU and is refused where TensorFlow sees none (tensorflow-cpu never does). Threads:
TensorFlow fixes its thread pools when its runtime starts, which creating any variable (so
loading any model) does; ``set_threads`` sets them where it still can, and ``threads()``
reports the pools' configured size, never the count asked for.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from registry.errors import IntegrityError, InvalidInput, ModelError
from registry.handlers._keras_safety import (
    first_cause,
    keras_config,
    load_keras,
    refuse_unsafe,
)
from registry.handlers._tf_feeds import ModelInput, as_numpy, batch_feeds, model_input
from registry.handlers.base import (
    Handler,
    Predictor,
    directory_holding,
    model_type_name,
    mro_modules,
)
from registry.packaging.environment import distribution_version
from registry.runtime.model_input import Batch

__all__ = ["TensorFlowHandler", "TensorFlowPredictor"]

log = logging.getLogger(__name__)

_KERAS, _SAVED = "keras-v3", "tf-saved-model"
_KERAS_FILE, _SAVED_DIR = "model.keras", "saved_model"
_KERAS_MODEL = "keras.src.models.model.Model"
_TF_MODULE = "tensorflow.python.module.module.Module"
_PREDICT, _DEFAULT = "predict", "serving_default"
_PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
# The distributions that install the ``tensorflow`` package, the CPU build first: Floe's extra
# installs it, and a GPU node adds ``tensorflow[and-cuda]`` beside it (one is recorded).
_TF_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-macos", "tensorflow-intel")
_NO_GPU = (
    "use_gpu=True but TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty; "
    "the tensorflow-cpu build never has one); load without use_gpu, or install "
    "tensorflow[and-cuda] and run on a GPU node"
)


@dataclass(frozen=True, eq=False)
class TensorFlowPredictor(Predictor):
    """A Keras model or a loaded SavedModel, each function's inputs (``inputs``), whether a
    Keras model takes a dict (``as_dict``), its list outputs' names, and the device it runs on."""

    kind: Literal["keras", "saved_model"]
    inputs: Mapping[str, tuple[ModelInput, ...]]
    as_dict: bool
    output_names: tuple[str, ...]
    device: str

    def _predict(self, method: str, batch: Batch) -> np.ndarray | dict[str, np.ndarray]:
        import tensorflow as tf

        feeds = batch_feeds(self.inputs[method], batch)
        model: Any = self.model
        with tf.device(self.device):
            if self.kind == "keras":
                out = model.predict_on_batch(feeds if self.as_dict else next(iter(feeds.values())))
            else:
                out = model.signatures[method](**{k: tf.constant(v) for k, v in feeds.items()})
        if isinstance(out, list | tuple):
            out = dict(zip(self.output_names, out, strict=True))
        if not isinstance(out, Mapping):
            return as_numpy(out)
        columns: dict[str, np.ndarray] = {}
        for name in sorted(out):
            array = as_numpy(out[name])
            if array.ndim == 0 or array.shape[0] != len(batch):
                raise ModelError(f"the model's output {name!r} has shape {array.shape} for "
                                 f"{len(batch)} rows; each output must have a row per input row")
            if array.ndim > 2:  # an array per row: one tensor column
                columns[str(name)] = array
            elif array.ndim == 1 or array.shape[1] == 1:
                columns[str(name)] = array.reshape(-1)
            else:
                columns.update({f"{name}_{i}": array[:, i] for i in range(array.shape[1])})
        return columns

    def set_threads(self, count: int) -> None:
        """TensorFlow's intra- and inter-op pools, where its runtime has not started: once it
        has (loading the model started it, in this process), TensorFlow refuses any change,
        so the pools keep their size (logged; ``threads()`` says which). Set them before
        TensorFlow starts (``tf.config.threading``, or ``TF_NUM_INTRAOP_THREADS`` and
        ``TF_NUM_INTEROP_THREADS`` in the environment) to bound them."""
        import tensorflow as tf

        super().set_threads(count)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(count)
            tf.config.threading.set_inter_op_parallelism_threads(count)
        except RuntimeError:
            if self.threads() != count:
                log.warning("TensorFlow's runtime has started: its thread pools keep %s threads, "
                            "not %d; set TF_NUM_INTRAOP_THREADS before TensorFlow starts",
                            self.threads() or "its default of one per core", count)

    def threads(self) -> int | None:
        """The intra-op pool's configured size; None: TensorFlow's default (one per core,
        unless ``TF_NUM_INTRAOP_THREADS`` was set when it started)."""
        import tensorflow as tf

        return int(tf.config.threading.get_intra_op_parallelism_threads()) or None


class TensorFlowHandler(Handler):
    framework: ClassVar[str] = "tensorflow"
    # every distribution it may record; ``distributions_for`` picks the model's
    distributions: ClassVar[tuple[str, ...]] = (*_TF_DISTRIBUTIONS, "keras", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        """A ``keras.Model``, a ``tf.Module`` (by their classes' modules, without importing
        either), or the path of a SavedModel directory (one holding ``saved_model.pb``)."""
        if isinstance(model, str | os.PathLike):
            return directory_holding(model, "saved_model.pb")
        return _kind(model) is not None

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        kind = _kind(model)
        dest.mkdir(parents=True, exist_ok=True)
        if kind == "keras":
            _check_keras_backend()
            fitted: Any = model
            if not fitted.built:
                raise InvalidInput(f"cannot log the {model_type_name(model)}: it is not built; "
                                   "give it a keras.Input, or call or fit it first")
            fitted.save(str(dest / _KERAS_FILE))
            refuse_unsafe(keras_config(dest / _KERAS_FILE), model_type_name(model))
            try:  # the loader a fresh process uses: what it cannot load is not stored
                load_keras(dest / _KERAS_FILE, "/CPU:0")
            except InvalidInput:
                raise
            except Exception as exc:
                raise InvalidInput(f"the {model_type_name(model)} does not load back from its "
                                   f".keras file ({first_cause(exc)}); build it from Keras's own "
                                   "layers and functions, or wrap it in a CustomModel") from exc
            return {"path": f"model/{_KERAS_FILE}", "format": _KERAS,
                    "class": model_type_name(model), "keras_backend": "tensorflow"}
        names = _write_saved_model(model, dest / _SAVED_DIR)
        return {"path": f"model/{_SAVED_DIR}", "format": _SAVED, "signatures": names}

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        fmt = spec.get("format")
        if fmt not in (_KERAS, _SAVED):
            raise IntegrityError(f"the manifest names an unknown TensorFlow format {fmt!r}; it "
                                 "was not written by this handler")
        device = _device(bool(options.get("use_gpu", False)))
        path = src / spec["path"]
        if fmt == _KERAS:
            _check_keras_backend()
            refuse_unsafe(keras_config(path), str(spec.get("class")))
            return self._keras(load_keras(path, device), device)
        import tensorflow as tf

        with tf.device(device):
            return self._saved_model(tf.saved_model.load(str(path)), device)

    def wrap(self, model: object) -> TensorFlowPredictor:
        kind = _kind(model)
        if kind == "keras":
            return self._keras(model, "/CPU:0")
        import tensorflow as tf

        if isinstance(model, str | os.PathLike):  # a SavedModel directory, where it is
            path = Path(os.fspath(model)).expanduser()
            return self._saved_model(tf.saved_model.load(str(path)), "/CPU:0")
        folder = Path(tempfile.mkdtemp(prefix="floe-tf-"))
        try:
            _write_saved_model(model, folder / _SAVED_DIR)
            loaded = tf.saved_model.load(str(folder / _SAVED_DIR))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        weakref.finalize(loaded, shutil.rmtree, str(folder), True)  # its assets live there
        return self._saved_model(loaded, "/CPU:0")

    def target_methods(self, model: object) -> list[str]:
        return [_PREDICT] if _kind(model) == "keras" else list(self.wrap(model).methods)

    def distributions_for(self, model: object) -> tuple[str, ...]:
        """The installed TensorFlow build (one of ``_TF_DISTRIBUTIONS``), Keras for a Keras
        model, and numpy."""
        tf_dist = next((d for d in _TF_DISTRIBUTIONS if distribution_version(d)), "tensorflow")
        keras = ("keras",) if _kind(model) == "keras" else ()
        return (*keras, tf_dist, "numpy")

    def _keras(self, model: Any, device: str) -> TensorFlowPredictor:
        try:
            struct = model.input  # a functional model's structure: a dict names its inputs
        except (AttributeError, ValueError):
            struct = None
        as_dict = isinstance(struct, Mapping)
        tensors = list(struct.items()) if as_dict else [(t.name, t) for t in model.inputs]
        inputs = tuple(model_input(str(name), t.dtype, tuple(t.shape)[1:]) for name, t in tensors)
        names = tuple(str(n) for n in getattr(model, "output_names", None) or ())
        return TensorFlowPredictor(model, (_PREDICT,), kind="keras", inputs={_PREDICT: inputs},
                                   as_dict=as_dict or len(inputs) > 1, output_names=names,
                                   device=device)

    def _saved_model(self, loaded: Any, device: str) -> TensorFlowPredictor:
        names = sorted(loaded.signatures, key=lambda n: (n != _DEFAULT, n))
        if not names:
            raise InvalidInput(_NO_SIGNATURE)
        inputs = {}
        for name in names:
            _, specs = loaded.signatures[name].structured_input_signature
            inputs[name] = tuple(
                model_input(str(key), spec.dtype.as_numpy_dtype,
                       None if spec.shape.rank is None else tuple(spec.shape.as_list()[1:]))
                for key, spec in sorted(specs.items()))
        return TensorFlowPredictor(loaded, tuple(names), kind="saved_model", inputs=inputs,
                                   as_dict=True, output_names=(), device=device)


_NO_SIGNATURE = (
    "the SavedModel has no serving signature; give the tf.Module exactly one "
    "@tf.function(input_signature=[...]) method (TensorFlow's default serving_default), or save "
    "it with tf.saved_model.save(module, path, signatures={...}) and log the path"
)


def _kind(model: object) -> Literal["keras", "module"] | None:
    modules = mro_modules(model)
    if not modules & {"keras", "tensorflow"}:
        return None
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(model).__mro__}
    if "keras" in modules and _KERAS_MODEL in names:
        return "keras"
    return "module" if _TF_MODULE in names else None


def _check_keras_backend() -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        raise InvalidInput(f"Keras runs on its {keras.backend.backend()!r} backend here; the "
                           "TensorFlow handler runs Keras on TensorFlow: set "
                           "KERAS_BACKEND=tensorflow before Keras is imported")


def _device(use_gpu: bool) -> str:
    import tensorflow as tf

    if use_gpu and not tf.config.list_physical_devices("GPU"):
        raise InvalidInput(_NO_GPU)
    return "/GPU:0" if use_gpu else "/CPU:0"


def _write_saved_model(model: object, dest: Path) -> list[str]:
    """A tf.Module as ``tf.saved_model.save`` writes it by default, or a SavedModel directory
    copied whole; refused without signatures or with Python callbacks in its graph."""
    if isinstance(model, str | os.PathLike):
        shutil.copytree(Path(os.fspath(model)).expanduser(), dest)
    else:
        import tensorflow as tf

        tf.saved_model.save(model, str(dest))
    return _signature_names(dest)


def _signature_names(path: Path) -> list[str]:
    """The serving signatures in ``saved_model.pb`` (the ``serve`` graph), default first;
    refused without any, or where a function calls back into Python."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except (DecodeError, OSError) as exc:
        raise InvalidInput(f"{path} holds no readable saved_model.pb ({exc}); pass a SavedModel "
                           "directory written by tf.saved_model.save") from exc
    graphs = [g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags] or saved.meta_graphs
    if not graphs:
        raise InvalidInput(f"{path}/saved_model.pb holds no graph; save it with "
                           "tf.saved_model.save")
    graph = graphs[0]
    nodes = [*graph.graph_def.node, *(n for f in graph.graph_def.library.function
                                      for n in f.node_def)]
    python = sorted({n.op for n in nodes} & _PYTHON_OPS)
    if python:
        raise InvalidInput(f"the SavedModel's graph calls back into Python ({', '.join(python)}: "
                           "tf.py_function or tf.numpy_function), which a SavedModel does not "
                           "store; write those steps with TensorFlow ops")
    names = sorted((n for n in graph.signature_def if not n.startswith("__")),
                   key=lambda n: (n != _DEFAULT, n))
    if not names:
        raise InvalidInput(_NO_SIGNATURE)
    return names


