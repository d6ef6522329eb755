"""The task a model solves, inferred best-effort from the model or given with ``task=``."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Task"]


class Task(StrEnum):
    TABULAR_BINARY_CLASSIFICATION = "TABULAR_BINARY_CLASSIFICATION"
    TABULAR_MULTI_CLASSIFICATION = "TABULAR_MULTI_CLASSIFICATION"
    TABULAR_REGRESSION = "TABULAR_REGRESSION"
    TABULAR_RANKING = "TABULAR_RANKING"
    UNKNOWN = "UNKNOWN"
