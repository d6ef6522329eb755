"""xgboost ``Booster`` and its sklearn wrappers, stored in xgboost's own UBJSON format.

No pickle: loading rebuilds the object from an allow-listed class and ``load_model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.errors import IntegrityError
from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch

__all__ = ["XGBoostHandler", "XGBoostPredictor"]

_CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier",
            "XGBRFRegressor")


@dataclass(frozen=True, eq=False)
class XGBoostPredictor(Predictor):
    """A ``Booster`` (``is_booster``: run with ``inplace_predict`` on one numpy array) or an
    sklearn wrapper (its method, on the DataFrame)."""

    is_booster: bool

    def _predict(self, method: str, batch: Batch) -> np.ndarray:
        model: Any = self.model
        if self.is_booster:
            return np.asarray(model.inplace_predict(batch.numpy))
        return np.asarray(getattr(model, method)(batch.frame))

    def set_threads(self, count: int) -> None:
        super().set_threads(count)
        booster = self._booster()
        booster.set_param({"nthread": count})
        if not self.is_booster:  # the wrapper passes its n_jobs on to the booster it calls
            self.model.set_params(n_jobs=count)  # type: ignore[attr-defined]

    def threads(self) -> int | None:
        import json

        config = json.loads(self._booster().save_config())
        return int(config["learner"]["generic_param"]["nthread"]) or None

    def _booster(self) -> Any:
        model: Any = self.model
        return model if self.is_booster else model.get_booster()


class XGBoostHandler(Handler):
    framework: ClassVar[str] = "xgboost"
    distributions: ClassVar[tuple[str, ...]] = ("xgboost", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        return "xgboost" in mro_modules(model)

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        import xgboost as xgb

        dest.mkdir(parents=True, exist_ok=True)
        cls = next(
            (name for name in _CLASSES if isinstance(model, getattr(xgb, name))), None
        )
        if cls is None:
            raise IntegrityError(f"cannot save {model_type_name(model)} in xgboost's format")
        model.save_model(str(dest / "model.ubj"))  # type: ignore[attr-defined]
        return {"path": "model/model.ubj", "format": "xgboost-ubj", "class": cls}

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        import xgboost as xgb

        cls = spec.get("class")
        if cls not in _CLASSES:
            raise IntegrityError(f"the manifest names an unknown xgboost class {cls!r}")
        model = getattr(xgb, cls)()
        model.load_model(str(src / spec["path"]))
        return self.wrap(model)

    def wrap(self, model: object) -> XGBoostPredictor:
        return XGBoostPredictor(
            model, tuple(self.target_methods(model)), is_booster=_is_booster(model)
        )

    def target_methods(self, model: object) -> list[str]:
        methods = ["predict"]
        if hasattr(model, "predict_proba") and not _is_booster(model):
            methods.append("predict_proba")
        return methods

    def infer_task(self, model: object) -> Task:
        import json

        booster: Any = model if _is_booster(model) else model.get_booster()  # type: ignore[attr-defined]
        learner = json.loads(booster.save_config())["learner"]
        objective = str(learner["objective"]["name"])
        num_class = int(learner["learner_model_param"].get("num_class", "0"))
        if objective.startswith("rank:"):
            return Task.TABULAR_RANKING
        if objective.startswith(("binary:",)):
            return Task.TABULAR_BINARY_CLASSIFICATION
        if objective.startswith("multi:"):
            return Task.TABULAR_MULTI_CLASSIFICATION if num_class != 2 else Task.TABULAR_BINARY_CLASSIFICATION
        if objective.startswith(("reg:", "count:", "survival:")):
            return Task.TABULAR_REGRESSION
        return Task.UNKNOWN


    def explainer(self, model: object, background: pd.DataFrame) -> object | None:
        import shap

        explainer: object = shap.TreeExplainer(model)
        return explainer


def _is_booster(model: object) -> bool:
    return type(model).__name__ == "Booster"
