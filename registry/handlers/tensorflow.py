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

import json
import logging
import os
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from registry.errors import IntegrityError, InvalidInput, ModelError
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
# Config classes that safe mode refuses (code, or files read from elsewhere); ``__lambda__``
# is a Python lambda serialised as a function (an activation, say).
_UNSAFE = {"Lambda", "TFSMLayer", "__lambda__"}
_PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
# The distributions that install the ``tensorflow`` package, the CPU build first: Floe's extra
# installs it, and a GPU node adds ``tensorflow[and-cuda]`` beside it (one is recorded).
_TF_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-macos", "tensorflow-intel")
_NO_GPU = (
    "use_gpu=True but TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty; "
    "the tensorflow-cpu build never has one); load without use_gpu, or install "
    "tensorflow[and-cuda] and run on a GPU node"
)


@dataclass(frozen=True)
class _Input:
    """One model input: the name it is fed by, its numpy dtype, and its shape without the
    batch dimension (None: unknown rank)."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...] | None


@dataclass(frozen=True, eq=False)
class TensorFlowPredictor(Predictor):
    """A Keras model or a loaded SavedModel, each function's inputs (``inputs``), whether a
    Keras model takes a dict (``as_dict``), its list outputs' names, and the device it runs on."""

    kind: Literal["keras", "saved_model"]
    inputs: Mapping[str, tuple[_Input, ...]]
    as_dict: bool
    output_names: tuple[str, ...]
    device: str

    def _predict(self, method: str, batch: Batch) -> np.ndarray | dict[str, np.ndarray]:
        import tensorflow as tf

        feeds = _feeds(self.inputs[method], batch)
        model: Any = self.model
        with tf.device(self.device):
            if self.kind == "keras":
                out = model.predict_on_batch(feeds if self.as_dict else next(iter(feeds.values())))
            else:
                out = model.signatures[method](**{k: tf.constant(v) for k, v in feeds.items()})
        if isinstance(out, list | tuple):
            out = dict(zip(self.output_names, out, strict=True))
        if not isinstance(out, Mapping):
            return _numpy(out)
        columns: dict[str, np.ndarray] = {}
        for name in sorted(out):
            array = _numpy(out[name])
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
            _refuse_unsafe(_keras_config(dest / _KERAS_FILE), model_type_name(model))
            try:  # the loader a fresh process uses: what it cannot load is not stored
                _load_keras(dest / _KERAS_FILE, "/CPU:0")
            except InvalidInput:
                raise
            except Exception as exc:
                raise InvalidInput(f"the {model_type_name(model)} does not load back from its "
                                   f".keras file ({_first_cause(exc)}); build it from Keras's own "
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
            _refuse_unsafe(_keras_config(path), str(spec.get("class")))
            return self._keras(_load_keras(path, device), device)
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
        inputs = tuple(_input(str(name), t.dtype, tuple(t.shape)[1:]) for name, t in tensors)
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
                _input(str(key), spec.dtype.as_numpy_dtype,
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


def _keras_config(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IntegrityError(f"{path.name} is not a Keras 3 .keras archive ({exc}); it was not "
                             "written by this handler") from exc


def _configs(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every serialised object in a Keras config (a dict with a ``class_name``), nested ones
    included but those inside an unsafe one (a Lambda layer's function)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("class_name"), str):
            yield node
            if node["class_name"] in _UNSAFE:
                return
        for value in node.values():
            yield from _configs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _configs(value)


def _refuse_unsafe(config: Any, what: str) -> None:
    """Refuse the layers safe mode refuses, and objects whose class Keras does not own: the
    file holds only their name, so loading them needs their code (the Keras registry)."""
    unsafe, custom = set(), set()
    for obj in _configs(config):
        name, module = obj["class_name"], obj.get("module")
        registered = str(obj.get("registered_name") or "")
        if name in _UNSAFE:
            layer = obj.get("config")
            named = layer.get("name") if isinstance(layer, Mapping) else None
            unsafe.add(f"a {name} layer {named!r}" if named else "a Python lambda")
        elif name.startswith("__"):
            continue  # a tensor, a type spec, a tuple: data, not a class
        elif ">" in registered or not (module == "builtins" or str(module).split(".")[0] == "keras"):
            custom.add(registered or f"{module}.{name}")
    if unsafe:
        raise InvalidInput(
            f"the {what} holds {', '.join(sorted(unsafe))}, which Keras's safe_mode refuses to "
            "load: they hold Python bytecode (a Lambda layer's function, a lambda) or read files "
            "from elsewhere (TFSMLayer), and Floe loads .keras files with safe_mode=True; write "
            "the computation as a Keras layer (keras.ops), or wrap the model in a CustomModel")
    if custom:
        raise InvalidInput(
            f"the {what} holds objects of classes Keras does not own ({', '.join(sorted(custom))});"
            " a .keras file stores only their name and loading needs their code registered in "
            "the process: build it from Keras's own layers, or wrap it in a CustomModel")


def _first_cause(exc: BaseException) -> str:
    """The innermost error's first sentence: Keras wraps the one that names the object (say
    "Could not locate function 'f'") in one per enclosing layer."""
    exc = _innermost(exc)
    return f"{type(exc).__name__}: {str(exc).strip().split('. ')[0].splitlines()[0]}"


def _innermost(exc: BaseException) -> BaseException:
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def _safe_mode() -> AbstractContextManager[Any]:
    """Keras's scope that forces safe mode for a load: without it, a process that called
    ``keras.config.enable_unsafe_deserialization()`` for its own models would load every
    version unsafely, whatever ``safe_mode=True`` says. Keras exports no name for it; where
    it moves, ``_refuse_unsafe`` still refuses the layers known to run code."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - another Keras layout
        log.warning("keras has no SafeModeScope here: relying on safe_mode=True and the scan")
        return nullcontext()
    scope: AbstractContextManager[Any] = SafeModeScope(True)
    return scope


def _load_keras(path: Path, device: str) -> Any:
    import keras
    import tensorflow as tf

    with _safe_mode(), tf.device(device):
        try:
            return keras.saving.load_model(str(path), compile=False, safe_mode=True)
        except (TypeError, ValueError) as exc:  # Keras wraps the refusal in a TypeError a layer
            if "safe_mode=False" not in str(_innermost(exc)):
                raise
            raise InvalidInput(f"Keras's safe_mode refuses {path.name} ({_first_cause(exc)}); "
                               "Floe loads .keras files in safe mode only: log the model "
                               "without what it names") from exc


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


def _input(name: str, dtype: Any, shape: tuple[int | None, ...] | None) -> _Input:
    try:
        numpy_dtype = np.dtype(dtype)
    except TypeError:  # bfloat16 in Keras's name for it
        numpy_dtype = None
    if numpy_dtype is None or numpy_dtype.kind not in "biuf" or numpy_dtype.name == "bfloat16":
        raise InvalidInput(f"the model's input {name!r} is {dtype}; the TensorFlow handler feeds "
                           "numbers and bools of numpy's types (encode text before the model, "
                           "or wrap it in a CustomModel)")
    return _Input(name, numpy_dtype, shape)


def _feeds(inputs: tuple[_Input, ...], batch: Batch) -> dict[str, np.ndarray]:
    """One array per model input: the batch as one matrix for a model of one input, else a
    column per input by name; where a feature holds an array per row, ``Batch.tensors``."""
    if batch.has_tensors:
        return _tensor_feeds(inputs, batch)
    wide = [i for i in inputs if (i.shape is not None and len(i.shape) > 1)
            or (len(inputs) > 1 and (i.shape is None or i.shape not in ((), (1,), (None,))))]
    if wide:
        raise InvalidInput(
            f"the model's inputs {', '.join(f'{i.name} {i.shape}' for i in wide)} take more than "
            "a value per row and the input's features are scalars; give each such input one "
            "feature holding an array per row (a column of arrays or a tensor column; in "
            "sample_input_data, a numpy array of rank 3 or more or a dict of arrays)")
    if len(inputs) == 1:
        (only,) = inputs
        matrix = batch.numpy
        width = None if only.shape is None else (only.shape[0] if only.shape else 1)
        if width is not None and matrix.shape[1] != width:
            raise InvalidInput(f"the model's input {only.name!r} takes {width} features and the "
                               f"input has {matrix.shape[1]} ({', '.join(batch.columns)}); pass "
                               "the features it was trained on")
        return {only.name: _cast(matrix[:, 0] if only.shape == () else matrix, only)}
    _refuse_names(inputs, batch.columns)
    frame = batch.frame
    return {i.name: _cast(frame[i.name].to_numpy(), i).reshape((-1, 1) if i.shape else (-1,))
            for i in inputs}


def _tensor_feeds(inputs: tuple[_Input, ...], batch: Batch) -> dict[str, np.ndarray]:
    """Each input from the feature of its name (a model of one input: the one feature),
    ``(rows, *shape)``; a scalar feature given to an input of shape ``[N, 1]`` as a column."""
    arrays = batch.tensors
    if len(inputs) == 1 and len(arrays) == 1:
        arrays = {inputs[0].name: next(iter(arrays.values()))}
    elif len(inputs) == 1:
        raise InvalidInput(f"the model has one input ({inputs[0].name} {inputs[0].shape}) and the "
                           f"input has features {', '.join(arrays)}, some holding an array per "
                           "row; pass the one feature it takes")
    _refuse_names(inputs, list(arrays))
    feeds = {}
    for spec in inputs:
        values = arrays[spec.name]
        if values.dtype == object:
            raise InvalidInput(f"feature {spec.name} has rows of several shapes; the model takes "
                               "one array of them: pad its rows to one shape first")
        if values.ndim == 1 and spec.shape == (1,):
            values = values.reshape(-1, 1)
        if spec.shape is not None and (len(spec.shape) != values.ndim - 1 or any(
                want not in (None, got) for want, got in zip(spec.shape, values.shape[1:],
                                                             strict=False))):
            raise InvalidInput(f"the model's input {spec.name!r} takes {spec.shape} per row and "
                               f"the feature holds {values.shape[1:]}; pass rows of its shape")
        feeds[spec.name] = _cast(values, spec)
    return feeds


def _refuse_names(inputs: tuple[_Input, ...], columns: list[str]) -> None:
    names = [i.name for i in inputs]
    missing = [n for n in names if n not in columns]
    extra = [n for n in columns if n not in names]
    if missing or extra:
        problems = [f"no column for its inputs {', '.join(missing)}"] if missing else []
        problems += [f"columns {', '.join(extra)} that are none of its inputs"] if extra else []
        raise InvalidInput(f"the model takes one column per input ({', '.join(names)}) and the "
                           f"input has {' and '.join(problems)}; name the columns after the "
                           "model's inputs")


def _cast(values: np.ndarray, spec: _Input) -> np.ndarray:
    """``values`` as the input's dtype: floats rounded to a float input, else exactly (an
    integer or bool input refuses values it cannot hold: a fraction, a NaN, an overflow)."""
    if values.dtype == spec.dtype or spec.dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=spec.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # what fails the check below
        out = np.ascontiguousarray(values, dtype=spec.dtype)
        exact = np.array_equal(out.astype(values.dtype), values)
    if not exact:
        raise InvalidInput(f"the model's input {spec.name!r} is {spec.dtype} and the input "
                           f"holds {values.dtype} values that it cannot hold exactly; pass "
                           f"values of {spec.dtype}'s range")
    return out


def _numpy(value: Any) -> np.ndarray:
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array  # no Arrow type
