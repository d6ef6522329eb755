"""The interface every model handler implements, and the ``Predictor`` its ``load`` returns.

A ``Handler`` saves a framework's models and loads them back; what it loads is a
``Predictor``: the model object (``model``, what ``ModelVersion.load`` returns), the methods it
runs (``methods``) and whatever the handler decided when it loaded it (a torch model's
device, whether an xgboost model is a bare booster, a custom model's context). The run path
calls ``predictor.predict(method, batch)`` and never asks the handler again.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, final

import numpy as np
import pandas as pd

from registry.errors import NotFound
from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch
from registry.runtime.signatures import ModelSignature

__all__ = ["Handler", "Predictor", "directory_holding", "model_type_name", "mro_modules"]


def model_type_name(model: object) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def directory_holding(model: object, name: str) -> bool:
    """Whether ``model`` is the path (a ``str`` or ``os.PathLike``) of a directory holding the
    file ``name``: how a handler recognises a saved model's folder (a SavedModel, an MLflow
    model). Any other object, or text that cannot be a path (too long, a NUL), is not."""
    if not isinstance(model, str | os.PathLike):
        return False
    try:
        return (Path(os.fspath(model)).expanduser() / name).is_file()
    except (OSError, ValueError):
        return False


def mro_modules(model: object) -> set[str]:
    """The top-level packages of every class in the model's type hierarchy (no imports)."""
    return {cls.__module__.split(".")[0] for cls in type(model).__mro__}


@dataclass(frozen=True, eq=False)
class Predictor(ABC):
    """A model ready to run: the object, the methods it runs, and its handler's load-time
    decisions (each handler's subclass adds those as fields; frozen, so they stay decided).

    ``predict`` runs one of ``methods`` on a validated batch and refuses any other method;
    subclasses implement ``_predict``.
    """

    model: object
    methods: tuple[str, ...]

    @final
    def predict(
        self, method: str, batch: Batch
    ) -> np.ndarray | pd.DataFrame | Mapping[str, np.ndarray]:
        """Run ``method`` on a validated batch (the signature's inputs, in order): an array
        with one row per input row, or a DataFrame or a mapping of arrays whose names are the
        outputs' (``invoke.output_columns``)."""
        if method not in self.methods:
            raise NotFound(
                f"{model_type_name(self.model)} has no method {method!r} to predict with; call "
                f"one of its methods: {', '.join(self.methods) or 'none'}"
            )
        return self._predict(method, batch)

    @abstractmethod
    def _predict(
        self, method: str, batch: Batch
    ) -> np.ndarray | pd.DataFrame | Mapping[str, np.ndarray]:
        """``predict`` once ``method`` is known to be one of ``methods``."""

    def model_input(self, batch: Batch) -> np.ndarray | pd.DataFrame:
        """The batch as the model object itself is given it, which SHAP's model-specific
        explainers are given too: one array of numbers, or the DataFrame where a column is
        not a number (categories, text). A handler whose model wants otherwise overrides it."""
        numeric = all(pd.api.types.is_numeric_dtype(t) for t in batch.frame.dtypes)
        return batch.numpy if numeric else batch.frame

    def set_threads(self, count: int) -> None:
        """Run the model with ``count`` threads from now on, in this process (a Ray worker's
        share of the CPUs: the Ray run path calls this; in-process runs never do, so they keep
        the framework's default). The default limits the OpenMP and BLAS thread pools of the process
        (threadpoolctl), which LightGBM, scikit-learn and NumPy use; frameworks with a setting
        of their own (xgboost's ``nthread``, torch's ``set_num_threads``) set it too."""
        import threadpoolctl

        threadpoolctl.threadpool_limits(limits=count)

    def threads(self) -> int | None:
        """The thread count the model runs with now, as its framework reports it (None where
        it cannot say): the OpenMP pool's, by default."""
        import threadpoolctl

        pools = [p["num_threads"] for p in threadpoolctl.threadpool_info()
                 if p.get("user_api") == "openmp"]
        return max(pools) if pools else None


class Handler(ABC):
    """Saves and loads one framework's models.

    ``save`` writes under ``dest`` (a fresh local directory) and returns the manifest's
    ``model`` section; ``load`` gets that section back with a private copy of the version's
    files, each checked against its sha256 as it was copied: read only from ``src``. It
    returns the model's ``Predictor``; ``wrap`` makes the one of a model in memory (the object
    ``log_model`` was given, run on the sample to infer its signatures).
    """

    framework: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]]

    @classmethod
    @abstractmethod
    def can_handle(cls, model: object) -> bool: ...

    @abstractmethod
    def save(self, model: object, dest: Path) -> dict[str, Any]: ...

    @abstractmethod
    def load(
        self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]
    ) -> Predictor: ...

    @abstractmethod
    def wrap(self, model: object) -> Predictor:
        """The predictor of a model object in memory, its state read from the object."""

    @abstractmethod
    def target_methods(self, model: object) -> list[str]:
        """The model's methods that become functions, default function first."""

    def distributions_for(self, model: object) -> tuple[str, ...]:
        """The distributions loading ``model`` needs, recorded and checked as its environment."""
        return self.distributions

    def declared_signatures(self, predictor: Predictor) -> Mapping[str, ModelSignature]:
        """The signatures the model declares itself, by method (an MLflow model's MLmodel):
        ``log_model`` uses them for the methods it is given no ``signatures=`` for, instead
        of inferring them from ``sample_input_data``. None by default."""
        return {}

    def partitioned_methods(self, model: object) -> list[str]:
        """The subset of ``target_methods`` called once per partition in batch inference."""
        return []

    def infer_task(self, model: object) -> Task:
        return Task.UNKNOWN

    def explainer(self, model: object, background: pd.DataFrame) -> object | None:
        """A SHAP explainer specific to this kind of model (TreeExplainer for tree ensembles,
        LinearExplainer for linear models), or None to use the model-agnostic one."""
        return None
