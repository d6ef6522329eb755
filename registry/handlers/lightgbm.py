"""LightGBM ``Booster`` and its sklearn wrappers, stored in LightGBM's own text format.

No pickle. A Booster is written with ``save_model`` and read back with
``Booster(model_file=...)``. A wrapper (``LGBMClassifier``, ``LGBMRegressor``,
``LGBMRanker``) stores its booster the same way; its class (allow-listed), its JSON-safe
``get_params()``, and for a classifier its ``classes_`` go in the manifest, and loading
rebuilds the wrapper around the booster. Only the exact wrapper classes are handled: a
subclass may override ``predict``, so it goes to the sklearn handler, which pickles its code.
Params that are not JSON (a ``RandomState``, a callable metric) only matter for training and
are dropped, by name in the manifest's ``dropped_params``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from registry.errors import IntegrityError, InvalidInput, ModelError
from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch

__all__ = ["LightGBMHandler", "LightGBMPredictor"]

log = logging.getLogger(__name__)

_BOOSTER = "Booster"
_WRAPPERS = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker")
_FORMAT = "lightgbm-text"

# Canonical objective names as written in the model file (aliases are resolved by LightGBM).
_REGRESSION = {"regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape",
               "gamma", "tweedie"}
_BINARY = {"binary", "cross_entropy", "cross_entropy_lambda"}
_MULTICLASS = {"multiclass", "multiclassova"}
_RANKING = {"lambdarank", "rank_xendcg"}


#: What a LightGBM model is given: a DataFrame whose text columns become pandas categories
#: (it was trained on categories, which LightGBM maps by the frame's category columns), one
#: numpy array (a Booster), or the DataFrame (a wrapper given a frame skips sklearn's
#: feature-name check).
_InputForm = Literal["categories", "numpy", "frame"]


@dataclass(frozen=True, eq=False)
class LightGBMPredictor(Predictor):
    """A Booster or a wrapper, and the form of input it takes (``input_form``)."""

    input_form: _InputForm

    def _predict(self, method: str, batch: Batch) -> np.ndarray:
        data: Any
        if self.input_form == "categories":
            frame = batch.frame
            text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                    and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
            data = frame.astype(dict.fromkeys(text, "category")) if text else frame
        elif self.input_form == "numpy":
            data = batch.numpy
        else:
            data = batch.frame
        return np.asarray(getattr(self.model, method)(data))

    def set_threads(self, count: int) -> None:
        """LightGBM's own cap on its threads in this process (``LGBM_SetMaxThreads``), which
        a Booster's ``predict`` (no ``num_threads`` given) respects; a wrapper passes its
        ``n_jobs`` to every ``predict`` as ``num_threads`` (its default: every physical
        core), so it is set too."""
        import ctypes

        super().set_threads(count)
        _lib().LGBM_SetMaxThreads(ctypes.c_int(count))
        if not _is_booster(self.model):
            self.model.set_params(n_jobs=count)  # type: ignore[attr-defined]

    def threads(self) -> int | None:
        import ctypes

        if not _is_booster(self.model):
            n_jobs = self.model.get_params()["n_jobs"]  # type: ignore[attr-defined]
            return int(n_jobs) if n_jobs is not None and n_jobs > 0 else None
        cap = ctypes.c_int(0)
        _lib().LGBM_GetMaxThreads(ctypes.byref(cap))
        return cap.value if cap.value > 0 else super().threads()


class LightGBMHandler(Handler):
    framework: ClassVar[str] = "lightgbm"
    distributions: ClassVar[tuple[str, ...]] = ("lightgbm", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        return "lightgbm" in mro_modules(model) and _native_class(model) is not None

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        cls = _native_class(model)
        if cls is None:
            raise IntegrityError(f"cannot save {model_type_name(model)} in LightGBM's format")
        if cls != _BOOSTER and not model.__sklearn_is_fitted__():  # type: ignore[attr-defined]
            raise InvalidInput(f"cannot log an unfitted {cls}; call fit() first")
        dest.mkdir(parents=True, exist_ok=True)
        booster: Any = model if cls == _BOOSTER else model.booster_  # type: ignore[attr-defined]
        booster.save_model(str(dest / "model.txt"))
        spec: dict[str, Any] = {"path": "model/model.txt", "format": _FORMAT, "class": cls}
        if cls != _BOOSTER:
            spec.update(_wrapper_state(model))
        return spec

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        import lightgbm as lgb

        cls = spec.get("class")
        if spec.get("format") != _FORMAT or (cls != _BOOSTER and cls not in _WRAPPERS):
            raise IntegrityError(
                f"the manifest names an unknown LightGBM model {cls!r} in format "
                f"{spec.get('format')!r}; it was not written by this handler"
            )
        booster = lgb.Booster(model_file=str(src / spec["path"]))
        if cls == _BOOSTER:
            return self.wrap(booster)
        return self.wrap(_rebuild_wrapper(getattr(lgb, str(cls)), booster, spec))

    def wrap(self, model: object) -> LightGBMPredictor:
        booster: Any = model if _is_booster(model) else model.booster_  # type: ignore[attr-defined]
        form: _InputForm
        if booster.pandas_categorical:
            form = "categories"
        elif _is_booster(model):
            form = "numpy"
        else:
            form = "frame"
        return LightGBMPredictor(model, tuple(self.target_methods(model)), input_form=form)

    def target_methods(self, model: object) -> list[str]:
        if type(model).__name__ == "LGBMClassifier":
            return ["predict", "predict_proba"]
        return ["predict"]

    def infer_task(self, model: object) -> Task:
        booster: Any = model if _is_booster(model) else model.booster_  # type: ignore[attr-defined]
        objective, num_class = _objective(booster)
        if objective in _BINARY:
            return Task.TABULAR_BINARY_CLASSIFICATION
        if objective in _MULTICLASS:
            return (Task.TABULAR_BINARY_CLASSIFICATION if num_class == 2
                    else Task.TABULAR_MULTI_CLASSIFICATION)
        if objective in _RANKING:
            return Task.TABULAR_RANKING
        if objective in _REGRESSION:
            return Task.TABULAR_REGRESSION
        return Task.UNKNOWN

    def explainer(self, model: object, background: pd.DataFrame) -> object | None:
        import shap

        explainer: object = shap.TreeExplainer(model)
        return explainer


def _lib() -> Any:
    """LightGBM's C library (the thread cap has no Python wrapper)."""
    import lightgbm.basic

    return getattr(lightgbm.basic, "_LIB")  # noqa: B009  (private: not exported)


def _native_class(model: object) -> str | None:
    """The allow-listed LightGBM class ``model`` is exactly an instance of, or None."""
    cls = type(model)
    if cls.__module__.split(".")[0] != "lightgbm":
        return None
    name = cls.__name__
    return name if name == _BOOSTER or name in _WRAPPERS else None


def _is_booster(model: object) -> bool:
    return type(model).__name__ == _BOOSTER


def _objective(booster: Any) -> tuple[str | None, int]:
    """The objective's canonical name and ``num_class`` from the model file's header."""
    objective: str | None = None
    num_class = 1
    # One iteration is enough: the header precedes the trees.
    for line in booster.model_to_string(num_iteration=1).splitlines():
        if line.startswith("objective="):
            objective = line.partition("=")[2].split(" ")[0]
        elif line.startswith("num_class="):
            num_class = int(line.partition("=")[2])
        elif line.startswith("Tree="):
            break
    return objective, num_class


def _is_json(value: object) -> bool:
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False


def _wrapper_state(model: Any) -> dict[str, Any]:
    """What a wrapper needs besides its booster, as JSON."""
    params = model.get_params(deep=False)
    kept = {k: v for k, v in params.items() if _is_json(v)}
    dropped = sorted(set(params) - set(kept))
    if dropped:
        log.info("%s: params %s are not JSON and only matter for training; not saved",
                 type(model).__name__, ", ".join(dropped))
    state: dict[str, Any] = {
        "params": kept,
        "dropped_params": dropped,
        "objective": None if callable(model.objective_) else str(model.objective_),
        "n_features_in": int(model.n_features_in_),
        "fitted_with_feature_names": bool(getattr(model, "_fitted_with_feature_names", False)),
        "best_iteration": int(model.best_iteration_),
    }
    if type(model).__name__ == "LGBMClassifier":
        classes = np.asarray(model.classes_)
        values = classes.tolist()
        if not _is_json(values):
            raise IntegrityError(
                f"the classifier's classes ({classes.dtype}) cannot be stored as JSON; fit it on "
                "integer, float, bool or string labels"
            )
        state["classes"] = values
        state["classes_dtype"] = classes.dtype.str if classes.dtype.kind != "O" else None
    return state


def _rebuild_wrapper(cls: type, booster: Any, spec: Mapping[str, Any]) -> object:
    """A fitted wrapper around ``booster``, with the attributes ``predict`` reads."""
    model: Any = cls()
    model.set_params(**dict(spec.get("params", {})))
    model._Booster = booster
    model._n_features = booster.num_feature()
    model._n_features_in = int(spec["n_features_in"])
    model._fitted_with_feature_names = bool(spec.get("fitted_with_feature_names", False))
    model._best_iteration = int(spec.get("best_iteration", -1))
    objective = spec.get("objective")
    model._objective = objective if objective is not None else _custom_objective_not_saved
    if "classes" in spec:
        from lightgbm.compat import _LGBMLabelEncoder

        dtype = spec.get("classes_dtype")
        classes = np.asarray(spec["classes"], dtype=np.dtype(dtype) if dtype else None)
        model._le = _LGBMLabelEncoder().fit(classes)
        model._classes = model._le.classes_
        model._n_classes = len(classes)
        model._class_map = dict(zip(classes.tolist(), range(len(classes)), strict=True))
    model.fitted_ = True
    return model


def _custom_objective_not_saved(*args: object) -> None:
    """Stands in for a custom objective: predictions are raw scores, as they were when logged."""
    raise ModelError(
        "this LightGBM model was trained with a custom objective, which is not saved (it is only "
        "needed for training); refit with the original objective function to train further"
    )
