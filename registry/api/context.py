"""What ``Registry``, ``Model`` and ``ModelVersion`` share: the catalog, the artifact root and
the namespace the registry was opened on."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.artifacts.store import ArtifactStore
from registry.catalog.store import CatalogStore
from registry.catalog.tables import ModelRow, NamespaceRow
from registry.errors import InvalidInput, NotFound
from registry.identifiers import format_identifier, parse_identifier

__all__ = ["Context", "to_json_value"]


@dataclass
class Context:
    store: CatalogStore
    artifacts: ArtifactStore
    namespace: NamespaceRow
    cache_dir: Path

    @property
    def namespace_label(self) -> str:
        return (
            f"{format_identifier(self.namespace.database_name)}."
            f"{format_identifier(self.namespace.schema_name)}"
        )

    def model_row(self, model_id: str) -> ModelRow:
        return self.store.get_model(model_id)

    def model_label(self, model: ModelRow) -> str:
        with self.store.read() as s:
            return self.store.model_label(s, model)

    def find_model(self, name: str) -> ModelRow:
        """The model called ``name`` (an identifier, resolved) in this registry's namespace."""
        resolved = parse_identifier(name, "model")
        assert self.namespace.id is not None
        with self.store.read() as s:
            row = self.store.find_model(s, self.namespace.id, resolved)
        if row is None:
            raise NotFound(
                f"{self.namespace_label} has no model {format_identifier(resolved)}; list them: "
                f"floe models list --database {format_identifier(self.namespace.database_name)} "
                f"--schema {format_identifier(self.namespace.schema_name)}"
            )
        return row


def to_json_value(value: Any, *, what: str = "metric") -> Any:
    """``value`` as plain JSON: numpy scalars become numbers, arrays nested lists."""
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), what=what)
    if isinstance(value, np.generic):
        return to_json_value(value.item(), what=what)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{what} keys must be strings, not {type(key).__name__}")
            out[key] = to_json_value(item, what=what)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, what=what) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{what} value {value} is not valid JSON; store finite numbers or None")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        json.dumps(value)
    except TypeError as exc:
        raise InvalidInput(
            f"{what} value of type {type(value).__name__} is not JSON-serialisable; pass "
            "numbers, strings, lists, dicts or numpy values"
        ) from exc
    return value
