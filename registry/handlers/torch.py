"""PyTorch ``nn.Module`` (pickled with cloudpickle) and TorchScript (its own format).

TorchScript modules (``torch.jit.script`` / ``torch.jit.trace``) hold their code, so they are
written with ``torch.jit.save`` and read with ``torch.jit.load``: no pickle.

A plain ``nn.Module`` has no code-free format: its ``forward`` is Python. It is written with
``torch.save(model, pickle_module=cloudpickle)``. ``torch.save`` alone pickles the model's class
by reference, so loading needs the training code importable; cloudpickle pickles classes
defined in ``__main__`` (a script, a notebook) by value, so those load anywhere. Classes from
an importable module are still pickled by reference: ship them with ``code_paths=`` or pickle
them by value with ``ext_modules=``. Tensors stay in ``torch.save``'s storage records, so
``map_location`` applies and a model logged on a GPU loads on a CPU. The file is only
unpickled from the loader's private copy, made while its sha256 was checked
(``runtime.load``).

``load(options={"use_gpu": True})`` puts the model on CUDA, and refuses where there is none.
The function is ``forward``. Floating input takes the model's floating dtype (integers and
bools keep theirs, for embeddings), on the model's device; both are decided once, when the
model is loaded (or wrapped at log time), and kept in its ``TorchPredictor``. How the batch
is passed depends on the signature:

* every feature a scalar (one value per row): one 2-D tensor ``(rows, features)``, the columns
  in signature order, as ever;
* any feature with a shape (``FeatureSpec.shape``: an image, a sequence): one tensor per
  feature, ``(rows, *shape)`` (a scalar feature among them: ``(rows,)``), passed to
  ``forward`` as keywords when every feature is named like one of ``forward``'s parameters
  (``inspect.signature``, read once when the model is wrapped), else positionally in
  signature order. A feature whose rows differ in shape (a -1 in its shape with rows of
  several lengths) is refused: a tensor needs them padded to one.

The batch's arrays are views of Arrow memory, which is read-only (Ray's object store maps it
so): each tensor is one copy of them, in torch's memory, so a model may write to its input.

``forward`` returns a tensor (a 1-D one: one output column; 2-D: a column per column,
``output_feature_<i>``; rank 3 and more: one column holding an array per row), or a tuple or
list of tensors (a column each, ``output_feature_<i>``), or a dict of them (a column each,
named by its keys, as a Hugging Face ``ModelOutput``); there, a 2-D tensor is one column of
arrays. bfloat16 comes out as float32 (numpy has no bfloat16).
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from registry.errors import IntegrityError, InvalidInput
from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.runtime.model_input import Batch

if TYPE_CHECKING:
    import torch

__all__ = ["TorchHandler", "TorchPredictor"]

log = logging.getLogger(__name__)

_PICKLE = "torch-cloudpickle"
_SCRIPT = "torchscript"
_MODULE = "torch.nn.modules.module.Module"
_NO_CUDA = (
    "use_gpu=True but no CUDA device is visible to this process (torch.cuda.is_available() is "
    "False); load without use_gpu or run on a GPU node"
)


@dataclass(frozen=True, eq=False)
class TorchPredictor(Predictor):
    """An ``nn.Module`` with the ``device`` and floating ``dtype`` its input is given, and the
    names of its ``forward``'s parameters (``parameters``, for keyword input)."""

    device: torch.device
    dtype: torch.dtype
    parameters: frozenset[str] = frozenset()

    def _predict(self, method: str, batch: Batch) -> np.ndarray | dict[str, np.ndarray]:
        import torch

        module: Any = self.model
        call = module if method == "forward" else getattr(module, method)
        args, kwargs = self._inputs(batch)
        # A model still in training mode (log time) is run in eval mode, then put back as it was.
        modes = [(m, m.training) for m in module.modules()] if module.training else []
        try:
            if modes:
                module.eval()
            with torch.inference_mode():
                out = call(*args, **kwargs)
        finally:
            for sub, training in modes:
                sub.training = training
        return _outputs(out, method)

    def _inputs(self, batch: Batch) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of ``forward``: one 2-D tensor, or a tensor per feature (keywords
        where every feature is one of its parameters); see the module."""
        if not batch.has_tensors:
            return [_to_tensor(batch.numpy, self.device, self.dtype)], {}
        tensors = {}
        for name, values in batch.tensors.items():
            if values.dtype == object and name in batch.shapes:
                raise InvalidInput(
                    f"feature {name} has rows of several shapes (its shape is "
                    f"{batch.shapes[name]}); the torch handler makes one tensor of a feature: "
                    "pad its rows to one length first"
                )
            tensors[name] = _to_tensor(values, self.device, self.dtype)
        if self.parameters and all(name in self.parameters for name in tensors):
            return [], tensors
        return list(tensors.values()), {}

    def set_threads(self, count: int) -> None:
        import torch

        super().set_threads(count)
        torch.set_num_threads(count)

    def threads(self) -> int | None:
        import torch

        return int(torch.get_num_threads())


class TorchHandler(Handler):
    framework: ClassVar[str] = "torch"
    distributions: ClassVar[tuple[str, ...]] = ("torch", "cloudpickle", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        return "torch" in mro_modules(model) and any(
            f"{c.__module__}.{c.__qualname__}" == _MODULE for c in type(model).__mro__
        )

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        import cloudpickle
        import torch

        if not isinstance(model, torch.nn.Module):
            raise InvalidInput(
                f"cannot log a {model_type_name(model)} with the torch handler; pass an "
                "nn.Module or a TorchScript module"
            )
        dest.mkdir(parents=True, exist_ok=True)
        if isinstance(model, torch.jit.ScriptModule):
            torch.jit.save(model, str(dest / "model.pt"))
            fmt = _SCRIPT
        else:
            torch.save(model, dest / "model.pt", pickle_module=cloudpickle)
            fmt = _PICKLE
        return {"path": "model/model.pt", "format": fmt, "class": model_type_name(model)}

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        import torch

        use_gpu = bool(options.get("use_gpu", False))
        if use_gpu and not torch.cuda.is_available():
            raise InvalidInput(_NO_CUDA)
        device = torch.device("cuda" if use_gpu else "cpu")
        path = src / spec["path"]
        fmt = spec.get("format")
        model: Any
        if fmt == _SCRIPT:
            model = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
        elif fmt == _PICKLE:
            # Arbitrary classes need the full unpickler; the file's hash was checked first.
            model = torch.load(path, map_location=device, weights_only=False)
        else:
            raise IntegrityError(
                f"the manifest names an unknown torch format {fmt!r}; it was not written by "
                "this handler"
            )
        model.to(device)
        model.eval()
        return self.wrap(model)

    def wrap(self, model: object) -> TorchPredictor:
        device, dtype = _placement(model)
        return TorchPredictor(model, tuple(self.target_methods(model)), device=device, dtype=dtype,
                              parameters=_parameters(model))

    def target_methods(self, model: object) -> list[str]:
        return ["forward"]


def _placement(module: Any) -> tuple[torch.device, torch.dtype]:
    """The device of the module's first tensor and its floating dtype (defaults: CPU, float32)."""
    import torch

    device = None
    dtype = None
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        device = device if device is not None else tensor.device
        if dtype is None and tensor.is_floating_point():
            dtype = tensor.dtype
        if device is not None and dtype is not None:
            break
    return device or torch.device("cpu"), dtype or torch.get_default_dtype()


def _parameters(module: Any) -> frozenset[str]:
    """The names ``forward`` takes by keyword (a TorchScript method's too); none where its
    signature cannot be read."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return frozenset()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in signature.parameters.values() if p.kind in kinds)


def _outputs(out: Any, method: str) -> np.ndarray | dict[str, np.ndarray]:
    """A tensor as one array; a tuple, list or dict of tensors as one array per output."""
    import torch

    if isinstance(out, torch.Tensor):
        return _to_numpy(out)
    items: list[tuple[str, Any]] = []
    if isinstance(out, tuple | list):
        items = [(f"output_feature_{i}", t) for i, t in enumerate(out)]
    elif isinstance(out, Mapping):
        items = [(str(k), t) for k, t in out.items()]
    others = [f"{name} ({type(t).__name__})" for name, t in items if not isinstance(t, torch.Tensor)]
    if not items or others:
        shown = f" ({', '.join(others)})" if others else ""
        raise TypeError(
            f"{method} returned a {type(out).__name__}{shown}; it must return a tensor, or a "
            "tuple, list or dict of tensors, each with a row per input row"
        )
    return {name: _to_numpy(t) for name, t in items}


def _to_numpy(tensor: Any) -> np.ndarray:
    import torch

    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()  # numpy has no bfloat16
    return np.asarray(tensor.detach().cpu().numpy())


def _to_tensor(array: np.ndarray, device: Any, dtype: Any) -> Any:
    """One tensor on ``device``: floats as ``dtype``, integers and bools as they are."""
    import torch

    if array.dtype.kind == "f":
        as_numpy = {torch.float16: np.float16, torch.float64: np.float64}.get(dtype, np.float32)
        array = np.ascontiguousarray(array, dtype=as_numpy)
    elif array.dtype.kind in "iub":
        array = np.ascontiguousarray(array)
    else:
        raise InvalidInput(
            f"the torch handler runs on numeric columns, not a {array.dtype} batch; pass "
            "numbers or bools of one kind (all floats, or all integers)"
        )
    if not array.flags.writeable:
        array = array.copy()  # torch.from_numpy warns about read-only arrays (pandas views)
    return torch.from_numpy(array).to(device=device, dtype=dtype if array.dtype.kind == "f" else None)
