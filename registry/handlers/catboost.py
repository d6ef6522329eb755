"""CatBoost models (``CatBoost``, ``CatBoostClassifier``, ``CatBoostRegressor``,
``CatBoostRanker``), stored in CatBoost's own binary format (``.cbm``).

No pickle: loading instantiates the allow-listed class the manifest names and reads the
file with ``load_model``. The ``.cbm`` file holds everything prediction needs (the trees, the
loss function, a classifier's class labels, which features are categorical), so the manifest
holds only the class. Only the exact classes are handled: a subclass may override ``predict``,
so it is refused by this handler (wrap it in a CustomModel).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from registry.errors import IntegrityError, InvalidInput
from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch

__all__ = ["CatBoostHandler", "CatBoostPredictor"]

log = logging.getLogger(__name__)

_CLASSES = ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")
_FORMAT = "catboost-cbm"

# Loss function names as ``get_all_params()`` reports them, before any ``:param=value``.
_BINARY = {"Logloss", "CrossEntropy"}
_MULTICLASS = {"MultiClass", "MultiClassOneVsAll"}
_RANKING = {"YetiRank", "YetiRankPairwise", "PairLogit", "PairLogitPairwise", "QueryRMSE",
            "QuerySoftMax", "QueryCrossEntropy", "LambdaMart", "StochasticRank",
            "StochasticFilter", "GroupQuantile"}
_REGRESSION = {"RMSE", "MAE", "Quantile", "MultiQuantile", "MAPE", "Poisson", "Tweedie",
               "Huber", "Expectile", "LogLinQuantile", "Lq", "LogCosh", "RMSEWithUncertainty",
               "MultiRMSE", "SurvivalAft", "Cox", "Fair"}

#: What a CatBoost model is given: one numpy array (every feature is a number) or the
#: DataFrame (categorical, text or embedding features keep their column types).
_InputForm = Literal["numpy", "frame"]


@dataclass
class _ThreadCount:
    """The ``thread_count`` passed to every prediction call; -1: CatBoost's default (every
    core). Mutable, unlike the predictor: a fitted CatBoost model refuses ``set_params``, so
    the count is given per call."""

    count: int = -1


@dataclass(frozen=True, eq=False)
class CatBoostPredictor(Predictor):
    """A CatBoost model, the form of input it takes (``input_form``), and the thread count
    its calls run with."""

    input_form: _InputForm
    _threads: _ThreadCount = field(default_factory=_ThreadCount)

    def model_input(self, batch: Batch) -> np.ndarray | pd.DataFrame:
        return batch.numpy if self.input_form == "numpy" else batch.frame

    def _predict(self, method: str, batch: Batch) -> np.ndarray:
        call = getattr(self.model, method)
        return np.asarray(call(self.model_input(batch), thread_count=self._threads.count))

    def set_threads(self, count: int) -> None:
        """CatBoost's ``thread_count`` for every later call (its default: every core), and
        the process's OpenMP and BLAS pools."""
        super().set_threads(count)
        self._threads.count = count

    def threads(self) -> int | None:
        return self._threads.count if self._threads.count > 0 else None


class CatBoostHandler(Handler):
    framework: ClassVar[str] = "catboost"
    distributions: ClassVar[tuple[str, ...]] = ("catboost", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        return "catboost" in mro_modules(model) and _native_class(model) is not None

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        cls = _native_class(model)
        if cls is None:
            raise IntegrityError(f"cannot save {model_type_name(model)} in CatBoost's format")
        fitted: Any = model
        if not fitted.is_fitted():
            raise InvalidInput(f"cannot log an unfitted {cls}; call fit() first")
        dest.mkdir(parents=True, exist_ok=True)
        fitted.save_model(str(dest / "model.cbm"), format="cbm")
        return {"path": "model/model.cbm", "format": _FORMAT, "class": cls}

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        import catboost

        cls = spec.get("class")
        if spec.get("format") != _FORMAT or cls not in _CLASSES:
            raise IntegrityError(
                f"the manifest names an unknown CatBoost model {cls!r} in format "
                f"{spec.get('format')!r}; it was not written by this handler"
            )
        model = getattr(catboost, str(cls))()
        model.load_model(str(src / spec["path"]), format="cbm")
        return self.wrap(model)

    def wrap(self, model: object) -> CatBoostPredictor:
        fitted: Any = model
        special = (fitted.get_cat_feature_indices() or fitted.get_text_feature_indices()
                   or fitted.get_embedding_feature_indices())
        form: _InputForm = "frame" if special else "numpy"
        return CatBoostPredictor(model, tuple(self.target_methods(model)), input_form=form)

    def target_methods(self, model: object) -> list[str]:
        if type(model).__name__ == "CatBoostClassifier":
            return ["predict", "predict_proba"]
        return ["predict"]

    def infer_task(self, model: object) -> Task:
        fitted: Any = model
        loss = str(fitted.get_all_params().get("loss_function", "")).split(":")[0]
        if loss in _BINARY:
            return Task.TABULAR_BINARY_CLASSIFICATION
        if loss in _MULTICLASS:
            classes = getattr(fitted, "classes_", None)
            return (Task.TABULAR_BINARY_CLASSIFICATION if classes is not None and len(classes) == 2
                    else Task.TABULAR_MULTI_CLASSIFICATION)
        if loss in _RANKING:
            return Task.TABULAR_RANKING
        if loss in _REGRESSION:
            return Task.TABULAR_REGRESSION
        return Task.UNKNOWN

    def explainer(self, model: object, background: pd.DataFrame) -> object | None:
        import shap

        explainer: object = shap.TreeExplainer(model)
        return explainer


def _native_class(model: object) -> str | None:
    """The allow-listed CatBoost class ``model`` is exactly an instance of, or None."""
    cls = type(model)
    if cls.__module__.split(".")[0] != "catboost":
        return None
    return cls.__name__ if cls.__name__ in _CLASSES else None
