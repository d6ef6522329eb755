"""Model handlers, one module per framework, behind the ``Handler`` interface in ``base``.

A handler's ``load`` returns a ``Predictor``, which the run path calls.
``handler_for(model)`` picks the handler for a model object by its type, without importing
any framework the model does not come from; ``handler_named(framework)`` finds the one that
saved a version. Adding a framework means adding a module and one line in ``_HANDLERS``.
"""

from __future__ import annotations

import importlib

from registry.errors import InvalidInput
from registry.handlers.base import Handler, Predictor

__all__ = ["Handler", "Predictor", "handler_for", "handler_named"]

# Checked in order: the first whose ``can_handle`` accepts the object wins. A CustomModel is
# never a framework object; xgboost's and LightGBM's sklearn wrappers are sklearn estimators
# too, so they come before sklearn.
_HANDLERS: tuple[tuple[str, str], ...] = (
    ("custom", "registry.handlers.custom:CustomHandler"),  # never a framework object
    ("xgboost", "registry.handlers.xgboost:XGBoostHandler"),
    ("lightgbm", "registry.handlers.lightgbm:LightGBMHandler"),
    ("transformers", "registry.handlers.transformers:TransformersHandler"),
    ("torch", "registry.handlers.torch:TorchHandler"),
    ("catboost", "registry.handlers.catboost:CatBoostHandler"),
    ("mlflow", "registry.handlers.mlflow:MlflowHandler"),  # an MLflow dir may end in .onnx
    ("onnx", "registry.handlers.onnx:OnnxHandler"),
    ("tensorflow", "registry.handlers.tensorflow:TensorFlowHandler"),
    ("sklearn", "registry.handlers.sklearn:SklearnHandler"),
)


def _load(path: str) -> type[Handler]:
    module, _, name = path.partition(":")
    cls: type[Handler] = getattr(importlib.import_module(module), name)
    return cls


def handler_for(model: object) -> Handler:
    for _, path in _HANDLERS:
        cls = _load(path)
        if cls.can_handle(model):
            return cls()
    supported = ", ".join(name for name, _ in _HANDLERS)
    raise InvalidInput(
        f"cannot log a {type(model).__module__}.{type(model).__qualname__}: no handler for it "
        f"(supported: {supported}); wrap it in a CustomModel"
    )


def handler_named(framework: str) -> Handler:
    for name, path in _HANDLERS:
        if name == framework:
            return _load(path)()
    raise InvalidInput(
        f"this version was saved by the {framework!r} handler, which this Floe does not have; "
        "upgrade Floe"
    )
