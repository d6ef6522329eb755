"""scikit-learn estimators and Pipelines, pickled with cloudpickle.

The pickle is only ever unpickled from the loader's private copy, made while its sha256 was
checked against the manifest (``runtime.load``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch

__all__ = ["SklearnHandler", "SklearnPredictor"]

_TREE_ENSEMBLES = frozenset(
    f"{kind}{target}"
    for kind in ("RandomForest", "ExtraTrees", "GradientBoosting", "DecisionTree", "ExtraTree")
    for target in ("Classifier", "Regressor")
)
_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")


@dataclass(frozen=True, eq=False)
class SklearnPredictor(Predictor):
    """An estimator; ``takes_frame``: it was fitted on a DataFrame and checks feature names,
    so it gets one (else one numpy array)."""

    takes_frame: bool

    def _predict(self, method: str, batch: Batch) -> np.ndarray:
        data: Any = batch.frame if self.takes_frame else batch.numpy
        return np.asarray(getattr(self.model, method)(data))

    def set_threads(self, count: int) -> None:
        """The OpenMP and BLAS pools (the default), and every ``n_jobs`` of the estimator and
        the estimators inside it (a forest predicts its trees on ``n_jobs`` joblib threads;
        None means one, which would leave reserved CPUs idle)."""
        super().set_threads(count)
        params = self._n_jobs_params()
        if params:
            self.model.set_params(**dict.fromkeys(params, count))  # type: ignore[attr-defined]

    def threads(self) -> int | None:
        """The estimator's ``n_jobs`` where it has one set, else the OpenMP pool's."""
        model: Any = self.model
        values = {model.get_params()[p] for p in self._n_jobs_params()} - {None}
        if len(values) == 1 and (value := values.pop()) > 0:
            return int(value)
        return super().threads()

    def _n_jobs_params(self) -> list[str]:
        get_params = getattr(self.model, "get_params", None)
        if get_params is None:
            return []
        return [p for p in get_params(deep=True) if p == "n_jobs" or p.endswith("__n_jobs")]


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

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        import cloudpickle

        with open(src / spec["path"], "rb") as handle:
            return self.wrap(cloudpickle.load(handle))

    def wrap(self, model: object) -> SklearnPredictor:
        return SklearnPredictor(
            model, tuple(self.target_methods(model)),
            takes_frame=hasattr(model, "feature_names_in_"),
        )

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
