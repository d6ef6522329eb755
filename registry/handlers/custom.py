"""``CustomModel`` subclasses: the object pickled, its sub-models and artifacts saved apart.

Layout under ``model/``::

    model.pkl                      the CustomModel, cloudpickled; its context is a reference
    artifacts/<name>/<basename>    each artifact file (a folder is copied whole)
    models/<name>/...              each sub-model, saved by its own handler

The pickle holds *references* (pickle persistent ids) in place of the context, of every
sub-model object and of every artifact path string ``context.path`` handed out, wherever the
model keeps them. Loading loads each sub-model through its own handler, rebuilds the context
on the version's copies of the artifacts, then unpickles the model with the references bound
to those: ``__init__`` is not run again, so state the model built there (a parsed config, a
fitted scaler) comes back as it was, and no sub-model is pickled twice or bypasses its
handler's format. Nothing is unpickled but the loader's private copy, made while every file's
sha256 was checked against the manifest (``runtime.load``); classes from ``code_paths`` are
imported under the version's own scope (``runtime.code_scope``).

Every ``path`` in a spec is relative to the version's root: a sub-model's spec, written by a
handler that saves into ``model/``, is rebased onto ``model/models/<name>/``.
"""

from __future__ import annotations

import io
import pickle
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.artifacts.paths import safe_relpath
from registry.errors import IntegrityError, InvalidInput, ModelError
from registry.handlers import handler_for, handler_named
from registry.handlers.base import Handler, Predictor, model_type_name
from registry.packaging.custom_model import CustomModel, ModelContext, api_methods
from registry.runtime.model_input import Batch

__all__ = ["CustomHandler", "CustomPredictor"]

_PICKLE = "model.pkl"


@dataclass(frozen=True, eq=False)
class CustomPredictor(Predictor):
    """A ``CustomModel`` and its ``context``: once loaded, the version's copies of its
    artifacts and the sub-models their own handlers loaded."""

    context: ModelContext

    def _predict(self, method: str, batch: Batch) -> np.ndarray | pd.DataFrame:
        # A shallow copy: a method that adds or drops columns leaves the caller's frame alone.
        result = getattr(self.model, method)(batch.frame.copy(deep=False))
        if isinstance(result, pd.DataFrame | np.ndarray):
            return result
        if isinstance(result, pd.Series):
            return result.to_frame(method if result.name is None else str(result.name))
        if isinstance(result, Mapping):
            return pd.DataFrame(dict(result))
        raise ModelError(
            f"{type(self.model).__qualname__}.{method} returned a {type(result).__name__}; a "
            "custom model's function must return a pandas DataFrame whose columns name the "
            "outputs, one row per input row"
        )

    def set_threads(self, count: int) -> None:
        """The process's pools (the default), and each sub-model's own setting (an xgboost
        sub-model's ``nthread``, a LightGBM wrapper's ``n_jobs``) through its handler."""
        super().set_threads(count)
        for sub in self.context.model_refs.values():
            handler_for(sub).wrap(sub).set_threads(count)


class CustomHandler(Handler):
    framework: ClassVar[str] = "custom"
    distributions: ClassVar[tuple[str, ...]] = ("cloudpickle", "pandas", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        return isinstance(model, CustomModel)

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        assert isinstance(model, CustomModel)
        self.target_methods(model)  # refuse a model without functions before writing anything
        context = _context_of(model)
        dest.mkdir(parents=True, exist_ok=True)
        artifacts = {
            name: {"path": _copy_artifact(Path(path), dest / "artifacts" / name)}
            for name, path in context.artifacts.items()
        }
        models = {}
        for name, sub in context.model_refs.items():
            handler = handler_for(sub)
            spec = handler.save(sub, dest / "models" / name)
            models[name] = {
                "framework": handler.framework,
                "class": model_type_name(sub),
                "spec": _rebase(spec, f"model/models/{name}"),
            }
        with open(dest / _PICKLE, "wb") as handle:
            _dump(model, handle, context)
        return {
            "path": f"model/{_PICKLE}",
            "format": "floe-custom",  # cloudpickle with references: plain cloudpickle cannot load it
            "class": model_type_name(model),
            "artifacts": artifacts,
            "models": models,
        }

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        models = {
            name: handler_named(str(sub["framework"])).load(src, sub["spec"], options).model
            for name, sub in dict(spec.get("models", {})).items()
        }
        artifacts = {
            name: str(src / safe_relpath(str(entry["path"])))
            for name, entry in dict(spec.get("artifacts", {})).items()
        }
        context = ModelContext(artifacts=artifacts, models=models)
        with open(src / safe_relpath(str(spec["path"])), "rb") as handle:
            try:
                model = _ReferenceUnpickler(handle, context).load()
            except ModuleNotFoundError as exc:
                raise ModelError(
                    f"the custom model {spec.get('class')} needs module {exc.name!r}, which is "
                    "not importable here; log it with code_paths=[<its package folder>] or "
                    "ext_modules=[<its module>] so its code ships with the model"
                ) from exc
        if not isinstance(model, CustomModel):
            raise IntegrityError(
                f"{spec['path']} holds a {model_type_name(model)}, not a CustomModel; the "
                "version is corrupt: delete it and log the model again"
            )
        return CustomPredictor(model, tuple(self.target_methods(model)), context=context)

    def wrap(self, model: object) -> CustomPredictor:
        return CustomPredictor(
            model, tuple(self.target_methods(model)), context=_context_of(model)
        )

    def target_methods(self, model: object) -> list[str]:
        methods = list(api_methods(type(model)))
        if not methods:
            raise InvalidInput(
                f"{model_type_name(model)} has no function: decorate the methods to expose with "
                "@inference_api (or @partitioned_api), from registry import inference_api"
            )
        return methods

    def partitioned_methods(self, model: object) -> list[str]:
        return [name for name, kind in api_methods(type(model)).items() if kind == "partitioned"]

    def distributions_for(self, model: object) -> tuple[str, ...]:
        """This handler's distributions and those of every sub-model's handler, so the
        environment records (and checks at load) the frameworks the sub-models need."""
        out = dict.fromkeys(self.distributions)
        for sub in _context_of(model).model_refs.values():
            out.update(dict.fromkeys(handler_for(sub).distributions_for(sub)))
        return tuple(out)


def _context_of(model: object) -> ModelContext:
    context = getattr(model, "context", None)
    if context is None:
        return ModelContext()
    if not isinstance(context, ModelContext):
        raise InvalidInput(
            f"{model_type_name(model)}.context is a {type(context).__name__}, not a "
            "ModelContext; call super().__init__(context) in your __init__"
        )
    return context


def _copy_artifact(src: Path, dest: Path) -> str:
    """Copy a file or folder to ``dest/<its name>``; return that path relative to the root."""
    if not src.exists():
        raise InvalidInput(f"artifact {src} no longer exists; log the model while it does")
    dest.mkdir(parents=True)
    target = dest / src.name
    if src.is_dir():
        shutil.copytree(src, target)  # symlinks inside are copied as the files they point to
    else:
        shutil.copy2(src, target)
    return f"model/{target.relative_to(dest.parent.parent).as_posix()}"


def _rebase(spec: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A sub-model's spec with every ``path`` (``model/...``, as a handler writes it for the
    version's ``model/`` folder) moved under ``prefix``."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, Mapping):
            out[key] = _rebase(value, prefix)
        elif key == "path" and isinstance(value, str):
            if not value.startswith("model/"):
                raise IntegrityError(
                    f"a sub-model's handler wrote path {value!r} outside model/; it cannot be "
                    "nested in a CustomModel"
                )
            out[key] = f"{prefix}/{value.removeprefix('model/')}"
        else:
            out[key] = value
    return out


def _dump(model: CustomModel, handle: io.BufferedWriter, context: ModelContext) -> None:
    """cloudpickle ``model``, writing the context, its sub-models and its artifact path strings
    as persistent references (matched by identity, wherever the model holds them)."""
    import cloudpickle

    refs: dict[int, tuple[str, ...]] = {id(context): ("context",)}
    refs.update({id(m): ("model", name) for name, m in context.model_refs.items()})
    refs.update({id(p): ("artifact", name) for name, p in context.artifacts.items()})

    class Pickler(cloudpickle.Pickler):  # type: ignore[misc]
        def persistent_id(self, obj: object) -> tuple[str, ...] | None:
            return refs.get(id(obj))

    Pickler(handle, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(model)


class _ReferenceUnpickler(pickle.Unpickler):
    """Binds the references ``_dump`` wrote to the loaded context."""

    def __init__(self, handle: io.BufferedReader, context: ModelContext) -> None:
        super().__init__(handle)
        self._context = context

    def persistent_load(self, pid: object) -> object:
        match pid:
            case ("context",):
                return self._context
            case ("model", str(name)):
                return self._context.model_ref(name)
            case ("artifact", str(name)):
                return self._context.path(name)
        raise IntegrityError(f"the model pickle refers to {pid!r}, which its context lacks")
