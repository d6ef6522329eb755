"""``PreparedModel``: a version loaded once into this process, for callers that run it many
times (a serving replica), through the same run path as ``ModelVersion.run``."""

from __future__ import annotations

from typing import TypeVar

import pandas as pd
import pyarrow as pa

from registry.runtime.functions import ModelFunctionInfo, resolve_function
from registry.runtime.invoke import run_function
from registry.runtime.load import LoadedModel

__all__ = ["PreparedModel"]

Frame = TypeVar("Frame", pd.DataFrame, pa.Table)


class PreparedModel:
    """Made by ``ModelVersion.prepare()``: the model is deserialised (hashes checked first) and
    its environment checked once, when it is prepared; every ``run`` then reuses it.

    ``run`` is ``ModelVersion.run`` on a DataFrame or an Arrow Table: the same function
    resolution, input validation and errors.
    """

    def __init__(self, loaded: LoadedModel, *, model_name: str, version_name: str) -> None:
        self._loaded = loaded
        self.model_name = model_name
        self.version_name = version_name

    def __repr__(self) -> str:
        return f"PreparedModel({self._loaded.label})"

    @property
    def label(self) -> str:
        """How messages name the version: ``ML.REGISTRY.IRIS version V1``."""
        return self._loaded.label

    @property
    def version_id(self) -> str:
        return self._loaded.version_id

    def show_functions(self) -> list[ModelFunctionInfo]:
        """Every function of the version (``explain`` included where added)."""
        return list(self._loaded.functions.values())

    def get_function(
        self, name: str | None = None, *, argument: str = "function_name="
    ) -> ModelFunctionInfo:
        """The function ``run(X, function_name=name)`` runs (see ``ModelVersion.get_function``)."""
        return resolve_function(
            self._loaded.functions.values(), name, label=self._loaded.label, argument=argument
        )

    def run(
        self,
        X: Frame,
        *,
        function_name: str | None = None,
        partition_column: str | None = None,
        strict_input_validation: bool = False,
    ) -> Frame:
        """Run a function on a DataFrame or an Arrow Table; the same kind of table comes back:
        the input's columns, then the function's outputs."""
        return run_function(
            self._loaded, X, function_name, strict=strict_input_validation,
            partition_column=partition_column,
        )
