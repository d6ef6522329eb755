"""SHAP explanations: the ``explain`` function Floe adds to tabular models with a known task.

The explainer is chosen by the model's handler where a fast, exact one exists
(``TreeExplainer`` for xgboost, LightGBM and sklearn tree ensembles, ``LinearExplainer`` for
linear models); any other model gets a model-agnostic permutation explainer whose background
data is ``sample_input_data``, stored with the version. Output columns are
``<feature>_explanation`` per feature, or ``<feature>_<class>_explanation`` where the model
has several outputs. Tree explainers explain the raw margin (log-odds), linear explainers
the decision function, the agnostic one ``predict_proba`` (classifiers) or ``predict``.
``options={"enable_explainability": False}`` turns it off. The manifest records what was
built as an ``ExplainSpec``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from registry.errors import InvalidInput, ModelError
from registry.handlers import Handler, Predictor
from registry.packaging.manifest import ExplainerKind
from registry.packaging.options import LogOptions
from registry.packaging.tasks import Task
from registry.runtime.functions import EXPLAIN_FUNCTION
from registry.runtime.model_input import Batch

__all__ = [
    "BACKGROUND_PATH",
    "EXPLAIN_FUNCTION",
    "Explainer",
    "build_explainer",
    "is_explainable",
    "write_background",
]

log = logging.getLogger(__name__)

BACKGROUND_PATH = "explain/background.parquet"
_BACKGROUND_ROWS = 100
_AGNOSTIC_BACKGROUND_ROWS = 50


def is_explainable(task: Task, options: LogOptions) -> bool:
    return options.enable_explainability and task != Task.UNKNOWN


def write_background(sample: pa.Table, root: Path) -> str:
    """Store the first rows of ``sample_input_data`` as the explainer's background data."""
    path = root / BACKGROUND_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(sample.slice(0, _BACKGROUND_ROWS), path)
    return BACKGROUND_PATH


def read_background(local_dir: Path) -> pd.DataFrame:
    return pq.read_table(local_dir / BACKGROUND_PATH).to_pandas()


@dataclass
class Explainer:
    """A SHAP explainer bound to one model, with the names of its output columns."""

    shap_explainer: Any
    feature_names: list[str]
    class_labels: list[str]
    kind: ExplainerKind
    predictor: Predictor  # a model-specific explainer is given what the model is given

    @property
    def expected_value(self) -> np.ndarray:
        if self.kind == "permutation":
            raise InvalidInput("a permutation explainer has a base value per row, not one")
        return np.atleast_1d(np.asarray(self.shap_explainer.expected_value, dtype=float))

    def explain(self, batch: Batch) -> dict[str, np.ndarray]:
        try:
            if self.kind == "permutation":
                values = np.asarray(self.shap_explainer(batch.numpy).values)
            else:
                values = self.shap_explainer.shap_values(self.predictor.model_input(batch))
                values = np.stack(values, axis=-1) if isinstance(values, list) else values
        except Exception as exc:
            raise ModelError(f"explaining the batch failed: {type(exc).__name__}: {exc}") from exc
        values = np.asarray(values, dtype=float)
        if values.ndim == 2:
            return {f"{f}_explanation": values[:, i] for i, f in enumerate(self.feature_names)}
        labels = self.class_labels
        if len(labels) != values.shape[2]:
            labels = [str(k) for k in range(values.shape[2])]
        return {
            f"{feature}_{label}_explanation": values[:, i, k]
            for i, feature in enumerate(self.feature_names)
            for k, label in enumerate(labels)
        }


def build_explainer(
    handler: Handler,
    predictor: Predictor,
    *,
    task: Task,
    background: pd.DataFrame,
    feature_names: Sequence[str],
    predict_method: str,
) -> Explainer:
    """The handler's own explainer where it has one, else a permutation explainer."""
    import shap

    model = predictor.model
    labels = [str(c) for c in getattr(model, "classes_", [])]
    specific = handler.explainer(model, background)
    if specific is not None:
        kind: ExplainerKind = "linear" if isinstance(specific, shap.LinearExplainer) else "tree"
        return Explainer(specific, list(feature_names), labels, kind, predictor)
    columns = list(feature_names)
    dtypes = background.dtypes

    def predict(x: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(x, columns=columns).astype(dtypes)
        result = predictor.predict(predict_method, Batch(frame=frame))
        return np.asarray(result, dtype=float)

    background_rows = background.iloc[:_AGNOSTIC_BACKGROUND_ROWS].to_numpy()
    masker = shap.maskers.Independent(background_rows, max_samples=len(background_rows))
    permutation = shap.explainers.Permutation(predict, masker, feature_names=columns)
    return Explainer(permutation, columns, labels, "permutation", predictor)


def predict_method_for(task: Task, functions: Sequence[str]) -> str:
    """What an agnostic explainer explains: class probabilities, else the prediction."""
    is_classifier = task in (Task.TABULAR_BINARY_CLASSIFICATION, Task.TABULAR_MULTI_CLASSIFICATION)
    if is_classifier and "predict_proba" in functions:
        return "predict_proba"
    for name in ("predict", "forward"):
        if name in functions:
            return name
    return functions[0]
