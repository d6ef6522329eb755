"""scikit-learn estimators and Pipelines, pickled with cloudpickle.

The pickle is only ever unpickled from the loader's private copy, made while its sha256 was
checked against the manifest (``runtime.load``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.handlers.base import Handler, model_type_name, mro_modules
from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch

__all__ = ["SklearnHandler"]

_TREE_ENSEMBLES = frozenset(
    f"{kind}{target}"
    for kind in ("RandomForest", "ExtraTrees", "GradientBoosting", "DecisionTree", "ExtraTree")
    for target in ("Classifier", "Regressor")
)
_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")


class SklearnHandler(Handler):
    framework: ClassVar[str] = "sklearn"
    distributions: ClassVar[tuple[str, ...]] = ("scikit-learn", "cloudpickle", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        return "sklearn" in mro_modules(model) and hasattr(model, "get_params")

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        import cloudpickle

        dest.mkdir(parents=True, exist_ok=True)
        with open(dest / "model.pkl", "wb") as handle:
            cloudpickle.dump(model, handle)
        return {"path": "model/model.pkl", "format": "cloudpickle", "class": model_type_name(model)}

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> object:
        import cloudpickle

        with open(src / spec["path"], "rb") as handle:
            return cloudpickle.load(handle)

    def target_methods(self, model: object) -> list[str]:
        out = []
        for name in _METHODS:
            try:
                # Pipelines expose methods their last step lacks only through available_if,
                # which raises AttributeError on access.
                if callable(getattr(model, name, None)):
                    out.append(name)
            except AttributeError:
                continue
        return out

    def call(self, model: object, method: str, batch: Batch) -> np.ndarray:
        # An estimator fitted on a DataFrame checks feature names, so it gets one.
        data: Any = batch.frame if hasattr(model, "feature_names_in_") else batch.numpy
        return np.asarray(getattr(model, method)(data))

    def infer_task(self, model: object) -> Task:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            classes = getattr(model, "classes_", None)
            if classes is not None and len(classes) == 2:
                return Task.TABULAR_BINARY_CLASSIFICATION
            return Task.TABULAR_MULTI_CLASSIFICATION
        if is_regressor(model):
            return Task.TABULAR_REGRESSION
        return Task.UNKNOWN

    def explainer(self, model: object, background: pd.DataFrame) -> object | None:
        import shap

        module = type(model).__module__
        explainer: object | None = None
        if type(model).__name__ in _TREE_ENSEMBLES:
            explainer = shap.TreeExplainer(model)
        elif module.startswith("sklearn.linear_model") and hasattr(model, "coef_"):
            explainer = shap.LinearExplainer(model, background.to_numpy())
        return explainer
