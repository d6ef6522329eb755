"""ONNX graphs, stored as ``model.onnx`` (the graph's own protobuf, no pickle) and run with
onnxruntime.

``log_model`` takes an ``onnx.ModelProto`` or the path of a ``.onnx`` file (a ``str`` or
``os.PathLike`` ending in ``.onnx``; ``onnx.load`` reads it, with any external data beside it,
and the graph is stored as one file). The graph is checked with
``onnx.checker.check_model(full_check=True)`` before anything is written: a bad graph is
refused naming the checker's complaint, and so is an output that is not a tensor (the
``ZipMap`` that skl2onnx puts after a classifier's probabilities by default). A scikit-learn
estimator is converted with skl2onnx by ``log_model(..., options={"convert_to": "onnx"})``
(``convert_to_onnx``): the converted graph must predict what the estimator does on the sample,
or it is refused.

Loading builds an ``onnxruntime.InferenceSession`` from the verified bytes (what
``ModelVersion.load`` returns) on the CPU provider; ``load(options={"use_gpu": True})`` puts
``CUDAExecutionProvider`` first, and is refused where onnxruntime has no CUDA (the CPU-only
wheel, no device), as torch's is.

The one function is ``run``. How a batch feeds the graph is decided once, from the graph's
inputs: a graph with a single 2-D input (skl2onnx's ``[None, n_features]``) gets every feature
as one matrix of the input's type; otherwise each input is the column of its name. A graph
with one output returns it as an array (``output_feature_<i>``, as other handlers'); with
several, one column per output, named by the graph (a 2-D output ``p`` of ``k`` columns gives
``p_0`` ... ``p_<k-1>``). The input signature comes from ``sample_input_data`` (a float64
DataFrame stays accepted by a float32 graph: the batch is cast to the graph's types), the
output signature from the graph's outputs and their types.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.errors import FloeError, IntegrityError, InvalidInput, ModelError
from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.runtime.model_input import Batch
from registry.runtime.samples import to_arrow

__all__ = ["OnnxHandler", "OnnxPredictor", "convert_to_onnx"]

_FORMAT = "onnx"
_FILE = "model.onnx"
_FUNCTION = "run"
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
_SAMPLE_ROWS = 100

# onnxruntime's tensor types, as numpy holds them (strings: object arrays of str)
_NUMPY: dict[str, np.dtype[Any]] = {
    f"tensor({name})": np.dtype(dtype)
    for name, dtype in [
        ("float", np.float32), ("double", np.float64), ("float16", np.float16),
        ("int8", np.int8), ("int16", np.int16), ("int32", np.int32), ("int64", np.int64),
        ("uint8", np.uint8), ("uint16", np.uint16), ("uint32", np.uint32),
        ("uint64", np.uint64), ("bool", np.bool_), ("string", np.object_),
    ]
}


@dataclass(frozen=True)
class _Input:
    """One input of the graph: its name, the numpy type it takes, its rank and the size of its
    last dimension (None: not declared, or dynamic)."""

    name: str
    dtype: np.dtype[Any]
    rank: int | None
    width: int | None


@dataclass(eq=False)
class _Running:
    """The session that runs: the one loaded until ``set_threads`` builds another."""

    session: Any


@dataclass(frozen=True, eq=False)
class OnnxPredictor(Predictor):
    """An ``InferenceSession`` (``model``), the graph's inputs and outputs, whether the batch
    is fed as one matrix (``is_matrix``), the providers it runs on, and the graph's bytes
    (``graph``), from which ``set_threads`` builds a session with another thread count."""

    inputs: tuple[_Input, ...]
    outputs: tuple[str, ...]
    is_matrix: bool
    providers: tuple[str, ...]
    graph: bytes = field(repr=False)
    running: _Running = field(repr=False)

    def _predict(self, method: str, batch: Batch) -> np.ndarray | pd.DataFrame:
        feeds = self._feeds(batch)
        values = self.running.session.run(None, feeds)
        if len(values) == 1:
            return np.asarray(values[0])
        columns: dict[str, np.ndarray] = {}
        for name, value in zip(self.outputs, values, strict=True):
            array = np.asarray(value)
            if array.ndim == 0 or array.shape[0] != len(batch) or array.ndim > 2:
                raise ModelError(
                    f"the graph's output {name!r} has shape {array.shape} for {len(batch)} "
                    "rows; each output must have one row per input row (1-D or 2-D)"
                )
            if array.ndim == 1:
                columns[name] = array
            elif array.shape[1] == 1:
                columns[name] = array[:, 0]
            else:
                columns.update({f"{name}_{i}": array[:, i] for i in range(array.shape[1])})
        return pd.DataFrame(columns, copy=False)

    def _feeds(self, batch: Batch) -> dict[str, np.ndarray]:
        if self.is_matrix:
            (only,) = self.inputs
            return {only.name: np.ascontiguousarray(batch.numpy, dtype=only.dtype)}
        names = [i.name for i in self.inputs]
        missing = [name for name in names if name not in batch.columns]
        extra = [name for name in batch.columns if name not in names]
        if missing or extra:
            problems = [f"no column for its inputs {', '.join(missing)}"] if missing else []
            problems += [f"columns {', '.join(extra)} that are none of its inputs"] if extra else []
            raise InvalidInput(
                f"the ONNX graph takes one column per input ({', '.join(names)}) and the input "
                f"has {' and '.join(problems)}; name the columns after the graph's inputs"
            )
        frame = batch.frame
        feeds = {}
        for spec in self.inputs:
            column = frame[spec.name].to_numpy(dtype=spec.dtype)
            feeds[spec.name] = column.reshape(-1, 1) if spec.rank == 2 else column
        return feeds

    def set_threads(self, count: int) -> None:
        """onnxruntime's intra-op thread pool (its own, not OpenMP): a session is built with
        its count, so a session of ``count`` threads is built from the graph and runs from
        then on (the one ``load`` returned stays as it was, and in memory)."""
        super().set_threads(count)
        if self.threads() != count:
            self.running.session = _session(self.graph, self.providers, threads=count)

    def threads(self) -> int | None:
        """The running session's ``intra_op_num_threads``; None: onnxruntime's default (a
        thread per physical core)."""
        count = int(self.running.session.get_session_options().intra_op_num_threads)
        return count or None


class OnnxHandler(Handler):
    framework: ClassVar[str] = "onnx"
    distributions: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnx", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        """An ``onnx.ModelProto`` (by its type's module, without importing onnx) or the path
        of a ``.onnx`` file."""
        if isinstance(model, str | os.PathLike):
            return os.fspath(model).lower().endswith(".onnx")
        return "onnx" in mro_modules(model) and type(model).__name__ == "ModelProto"

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        proto = _as_proto(model)
        _check_graph(proto)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / _FILE).write_bytes(proto.SerializeToString())
        return {
            "path": f"model/{_FILE}",
            "format": _FORMAT,
            "ir_version": int(proto.ir_version),
            "opsets": {op.domain or "ai.onnx": int(op.version) for op in proto.opset_import},
            "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        }

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        if spec.get("format") != _FORMAT:
            raise IntegrityError(
                f"the manifest names an unknown ONNX format {spec.get('format')!r}; it was not "
                "written by this handler"
            )
        graph = (src / spec["path"]).read_bytes()
        return self._predictor(graph, _providers(bool(options.get("use_gpu", False))))

    def wrap(self, model: object) -> OnnxPredictor:
        graph = _as_proto(model).SerializeToString()
        try:
            return self._predictor(graph, (_CPU,))
        except FloeError:
            raise
        except Exception as exc:  # onnxruntime's errors (Fail, InvalidGraph, ...) share no base
            import onnxruntime as ort

            problem = " ".join(str(exc).split())
            raise InvalidInput(
                f"onnxruntime {ort.__version__} cannot run the ONNX graph ({problem}); export it "
                "with operators and an opset this onnxruntime has"
            ) from exc

    def target_methods(self, model: object) -> list[str]:
        return [_FUNCTION]

    def _predictor(self, graph: bytes, providers: tuple[str, ...]) -> OnnxPredictor:
        session = _session(graph, providers, threads=None)
        inputs = tuple(_graph_input(i) for i in session.get_inputs())
        is_matrix = len(inputs) == 1 and inputs[0].rank in (2, None)
        wide = [] if is_matrix else [i for i in inputs if not _takes_one_column(i)]
        if wide:
            raise InvalidInput(
                f"the ONNX graph's inputs {', '.join(i.name for i in wide)} are not one column "
                "each; a graph with several inputs takes a column per input (of shape [N] or "
                "[N, 1]): export it so, or with a single [N, n_features] input"
            )
        ran_on = tuple(session.get_providers())
        if _CUDA in providers and _CUDA not in ran_on:  # it has CUDA but no device took it
            raise InvalidInput(
                f"use_gpu=True but onnxruntime runs this model on {', '.join(ran_on)}: no CUDA "
                "device is visible to this process; load without use_gpu or run on a GPU node")
        return OnnxPredictor(
            session, (_FUNCTION,), inputs=inputs,
            outputs=tuple(o.name for o in session.get_outputs()), is_matrix=is_matrix,
            providers=ran_on, graph=graph, running=_Running(session),
        )


def _providers(use_gpu: bool) -> tuple[str, ...]:
    """CUDA first where asked for, then the CPU; asked for where onnxruntime has no CUDA, the
    load is refused, as torch's is: a run that asked for a GPU does not go on without one."""
    import onnxruntime as ort

    if not use_gpu:
        return (_CPU,)
    available = ort.get_available_providers()
    if _CUDA not in available:
        raise InvalidInput(
            f"use_gpu=True but this onnxruntime has no {_CUDA} (it has "
            f"{', '.join(available)}); load without use_gpu, or install onnxruntime-gpu and "
            "run where CUDA is visible"
        )
    return (_CUDA, _CPU)


def _session(graph: bytes, providers: tuple[str, ...], *, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(graph, sess_options=options, providers=list(providers))


def _takes_one_column(spec: _Input) -> bool:
    return spec.rank == 1 or (spec.rank == 2 and spec.width in (1, None))


def _graph_input(node: Any) -> _Input:
    dtype = _NUMPY.get(str(node.type))
    if dtype is None:
        raise InvalidInput(
            f"the ONNX graph's input {node.name!r} is a {node.type}; the ONNX handler feeds "
            f"tensors of numbers, bools or strings: {', '.join(_NUMPY)}"
        )
    shape = node.shape if isinstance(node.shape, list) else None
    width = shape[-1] if shape and isinstance(shape[-1], int) else None
    return _Input(str(node.name), dtype, len(shape) if shape is not None else None, width)


def _as_proto(model: object) -> Any:
    """The ``ModelProto`` itself, or the one a ``.onnx`` path holds."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if not isinstance(model, str | os.PathLike):
        raise InvalidInput(
            f"cannot log a {model_type_name(model)} with the ONNX handler; pass an "
            "onnx.ModelProto or the path of a .onnx file"
        )
    path = Path(os.fspath(model)).expanduser()
    if not path.is_file():
        raise InvalidInput(f"there is no ONNX file at {path}; pass the path of a .onnx file")
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(str(path))
    except (DecodeError, OSError, ValueError) as exc:  # not a protobuf; external data missing
        raise InvalidInput(
            f"{path} is not an ONNX model ({type(exc).__name__}: {exc}); pass a .onnx file "
            "saved with onnx.save"
        ) from exc


def _check_graph(proto: Any) -> None:
    """``onnx.checker``'s full check, and outputs that are tensors."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        problem = " ".join(str(exc).split())  # one line: the checker's ends in a context block
        raise InvalidInput(
            f"the ONNX graph is invalid: {problem}; fix the graph (onnx.checker.check_model(model, "
            "full_check=True) shows the same) and log it again"
        ) from exc
    others = [o.name for o in proto.graph.output if o.type.WhichOneof("value") != "tensor_type"]
    if others:
        raise InvalidInput(
            f"the ONNX graph's outputs {', '.join(others)} are not tensors (a sequence or a "
            "map, such as skl2onnx's ZipMap of class probabilities); export tensors (skl2onnx: "
            "options={'zipmap': False}, as log_model's convert_to='onnx' does)"
        )


def convert_to_onnx(model: object, sample_input_data: object | None) -> object:
    """A scikit-learn estimator converted to ONNX with skl2onnx, for ``log_model``'s
    ``convert_to="onnx"``: the sample gives the input (one float matrix of its columns), and
    the converted graph must predict what the estimator does on it (labels equal, numbers
    within float32's rounding), else it is refused."""
    name = model_type_name(model)
    keep = "log it without convert_to (Floe stores the estimator itself)"
    if not ("sklearn" in mro_modules(model) and hasattr(model, "get_params")):
        raise InvalidInput(
            f"convert_to='onnx' converts scikit-learn estimators with skl2onnx, not a {name}; "
            "log it without convert_to"
        )
    if sample_input_data is None:
        raise InvalidInput(
            f"convert_to='onnx' needs sample_input_data= to give the {name}'s ONNX graph its "
            "input (a few rows of the training features)"
        )
    sample = to_arrow(sample_input_data).slice(0, _SAMPLE_ROWS).to_pandas()
    text = [str(c) for c in sample.columns if not pd.api.types.is_numeric_dtype(sample[c])]
    if text:
        raise InvalidInput(
            f"convert_to='onnx' feeds the {name} one float matrix, and columns {', '.join(text)} "
            f"are not numbers; encode them first, or {keep}"
        )
    converted = _convert(model, sample.shape[1], name, keep)
    _check_same_predictions(model, converted, sample_input_data, sample, name, keep)
    return converted


def _convert(model: object, width: int, name: str, keep: str) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    # a classifier's probabilities as one tensor, not skl2onnx's default ZipMap of dicts
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        return convert_sklearn(
            model, initial_types=[("X", FloatTensorType([None, width]))], options=options,
            name=type(model).__name__,
        )
    except Exception as exc:  # skl2onnx raises RuntimeError, NameError, TypeError, ... by converter
        first = (str(exc).strip().splitlines() or [""])[0]  # the rest is skl2onnx's advice
        raise InvalidInput(
            f"skl2onnx cannot convert the {name} ({type(exc).__name__}: {first}); {keep}, or "
            "register a skl2onnx converter for it"
        ) from exc


def _check_same_predictions(
    model: Any, converted: Any, given: object, sample: pd.DataFrame, name: str, keep: str
) -> None:
    """The estimator's ``predict`` (a transformer's ``transform``), and a classifier's
    ``predict_proba``, on the sample as it was given, against the graph's outputs in order on
    the same rows as float32."""
    original = given[:_SAMPLE_ROWS] if isinstance(given, pd.DataFrame | np.ndarray) else sample
    session = _session(converted.SerializeToString(), (_CPU,), threads=None)
    outputs = session.run(None, {"X": sample.to_numpy(dtype=np.float32)})
    methods = ["predict" if hasattr(model, "predict") else "transform"]
    if len(outputs) > 1 and hasattr(model, "predict_proba"):
        methods.append("predict_proba")
    problems = []
    for method, got in zip(methods, outputs, strict=False):
        problem = _difference(np.asarray(getattr(model, method)(original)), np.asarray(got))
        if problem:
            problems.append(f"{method} {problem}")
    if problems:
        raise InvalidInput(
            f"the ONNX conversion of the {name} does not predict what it does: "
            f"{'; '.join(problems)} (the graph computes in float32); {keep}"
        )


def _difference(want: np.ndarray, got: np.ndarray) -> str | None:
    """How ``got`` differs from ``want``: labels exactly, numbers beyond float32 rounding."""
    if got.size == want.size:
        got = got.reshape(want.shape)  # a regressor's [N, 1] output is its predict's [N]
    if got.shape != want.shape:
        return f"gives shape {want.shape}, the graph {got.shape}"
    if want.dtype.kind in "fc":
        close = np.isclose(got, want, rtol=1e-4, atol=1e-5)
        if close.all():
            return None
        worst = float(np.max(np.abs(got.astype(np.float64) - want)))
        return f"differs on {int((~close).sum())} of {want.size} values (by up to {worst:.3g})"
    differs = got.astype(want.dtype) != want
    return f"differs on {int(differs.sum())} of {want.size} values" if differs.any() else None
