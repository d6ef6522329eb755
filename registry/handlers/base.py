"""The interface every model handler implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.packaging.tasks import Task
from registry.runtime.model_input import Batch

__all__ = ["Handler", "model_type_name", "mro_modules"]


def model_type_name(model: object) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def mro_modules(model: object) -> set[str]:
    """The top-level packages of every class in the model's type hierarchy (no imports)."""
    return {cls.__module__.split(".")[0] for cls in type(model).__mro__}


class Handler(ABC):
    """Saves, loads and calls one framework's models.

    ``save`` writes under ``dest`` (a fresh local directory) and returns the manifest's
    ``model`` section; ``load`` gets that section back with a private copy of the version's
    files, each checked against its sha256 as it was copied: read only from ``src``.
    """

    framework: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]]

    @classmethod
    @abstractmethod
    def can_handle(cls, model: object) -> bool: ...

    @abstractmethod
    def save(self, model: object, dest: Path) -> dict[str, Any]: ...

    @abstractmethod
    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> object: ...

    @abstractmethod
    def target_methods(self, model: object) -> list[str]:
        """The model's methods that become functions, default function first."""

    @abstractmethod
    def call(self, model: object, method: str, batch: Batch) -> np.ndarray | pd.DataFrame:
        """Run ``method`` on a validated batch (the signature's inputs, in order): an array
        with one row per input row, or a DataFrame whose columns name the outputs."""

    def distributions_for(self, model: object) -> tuple[str, ...]:
        """The distributions loading ``model`` needs, recorded and checked as its environment."""
        return self.distributions

    def partitioned_methods(self, model: object) -> list[str]:
        """The subset of ``target_methods`` called once per partition in batch inference."""
        return []

    def infer_task(self, model: object) -> Task:
        return Task.UNKNOWN

    def explainer(self, model: object, background: pd.DataFrame) -> object | None:
        """A SHAP explainer specific to this kind of model (TreeExplainer for tree ensembles,
        LinearExplainer for linear models), or None to use the model-agnostic one."""
        return None
