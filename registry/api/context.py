"""The checks of the metadata ``Registry``, ``Model`` and ``ModelVersion`` write, and
``Context``: what the local backend's operations share (the catalog, the artifact root, the
namespace the registry was opened on and the caller), with its authorization helpers.

Opening a namespace writes nothing: it may not exist yet. Reads of a namespace that does not
exist find nothing; the first write into it (a logged model, a rename into it) creates it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.access.authorize import (
    Caller,
    holds_privilege,
    listing_role,
    require_model,
    require_schema,
    unrestricted,
)
from registry.artifacts.store import ArtifactStore
from registry.catalog.base import check_field, model_label
from registry.catalog.store import CatalogStore
from registry.catalog.tables import MetricRow, ModelRow, VersionRow
from registry.errors import FloeError, InvalidInput, NotFound
from registry.identifiers import format_identifier, id_ref, parse_identifier

__all__ = [
    "MAX_JSON_DEPTH",
    "Context",
    "Namespace",
    "check_comment",
    "check_metric_name",
    "check_metrics",
    "missing_model",
    "to_json_value",
]

MAX_JSON_DEPTH = 64  # lists and dicts inside a metric value; both databases parse far deeper


@dataclass(frozen=True)
class Namespace:
    """``DATABASE.SCHEMA``, resolved (as stored)."""

    database_name: str
    schema_name: str

    def __str__(self) -> str:
        return f"{format_identifier(self.database_name)}.{format_identifier(self.schema_name)}"


@dataclass
class Context:
    store: CatalogStore
    artifacts: ArtifactStore
    namespace: Namespace
    cache_dir: Path
    # Who calls: every operation asks registry.access.authorize through ``require``.
    caller: Caller
    # The namespace's row id once it is known to exist (namespaces are never deleted).
    namespace_id: int | None = None

    def find_namespace_id(self) -> int | None:
        """The namespace's id, or None while it does not exist (a read never creates it)."""
        if self.namespace_id is None:
            row = self.store.find_namespace(
                self.namespace.database_name, self.namespace.schema_name
            )
            self.namespace_id = row.id if row is not None else None
        return self.namespace_id

    def ensure_namespace_id(self) -> int:
        """The namespace's id, created now if absent: for writes into it."""
        if self.namespace_id is None:
            row = self.store.ensure_namespace(
                self.namespace.database_name, self.namespace.schema_name
            )
            assert row.id is not None
            self.namespace_id = row.id
        return self.namespace_id

    def model_row(self, model_id: str) -> ModelRow:
        return self.store.get_model(model_id)

    def find_model_row(self, name: str) -> ModelRow:
        """The model called ``name`` (an identifier) in this registry's namespace, found with
        its namespace in one query, or the model ``@ID`` wherever it is; one the caller holds
        nothing on is not found."""
        model_id = id_ref(name)
        if model_id is not None:
            def missing() -> NotFound:
                return NotFound(f"no model has id {model_id}: it was deleted, or never "
                                "existed; list the models: floe models list")
            try:
                found = self.store.get_model(model_id)
            except NotFound:
                raise missing() from None
            self.require(model_id, "USAGE", "use", missing=missing)
            return found
        resolved = parse_identifier(name, "model")
        ns = self.namespace
        namespace_id, row = self.store.locate_model(ns.database_name, ns.schema_name, resolved)
        if namespace_id is not None:
            self.namespace_id = namespace_id
        if row is None:
            raise missing_model(ns, resolved, namespace_exists=namespace_id is not None)
        self.require(row.id, "USAGE", "use", missing=lambda: missing_model(ns, resolved))
        return row

    # -- the caller's privileges (registry.access.authorize decides) ----------------------------

    def require(
        self, model_id: str, privilege: str, action: str,
        missing: Callable[[], FloeError] | None = None,
    ) -> None:
        """Go on only if the caller holds ``privilege`` on the model (see authorize)."""
        require_model(
            self.store, self.caller, model_id, privilege, action=action,
            label=lambda: self._label_of(model_id),
            missing=missing or (lambda: self._missing(model_id)),
        )

    def has_privilege(self, model_id: str, privilege: str) -> bool:
        """Whether the caller holds ``privilege`` on the model: a question, not an attempt
        (nothing is refused, so nothing goes to the audit log)."""
        return holds_privilege(self.store, self.caller, model_id, privilege)

    def unrestricted(self) -> bool:
        """Whether the caller acts as ADMIN (its token, if any, still valid; see authorize)."""
        return unrestricted(self.store, self.caller)

    def require_schema(
        self, namespace_id: int | None, privilege: str, action: str,
        namespace: Namespace | None = None,
    ) -> None:
        require_schema(self.store, self.caller, namespace_id, privilege, action=action,
                       label=str(namespace or self.namespace))

    def visible_to(self) -> str | None:
        """The role whose models a listing shows (None: every model, for ADMIN)."""
        return listing_role(self.store, self.caller)

    def _label_of(self, model_id: str) -> str:
        model, ns = self.store.describe_model(model_id)
        return model_label(ns, model)

    def _missing(self, model_id: str) -> FloeError:
        model, ns = self.store.describe_model(model_id)
        return missing_model(Namespace(ns.database_name, ns.schema_name), model.name)


def missing_model(ns: Namespace, name: str, *, namespace_exists: bool = True) -> NotFound:
    """What a model that does not exist raises, and a model the caller may not see."""
    missing = "" if namespace_exists else f" ({ns} does not exist yet)"
    return NotFound(
        f"{ns} has no model {format_identifier(name)}; list them: "
        f"floe models list --database {format_identifier(ns.database_name)} "
        f"--schema {format_identifier(ns.schema_name)}{missing}"
    )


# -- checks of the metadata the API writes ------------------------------------------------------


def check_comment(value: object, row_type: type[ModelRow] | type[VersionRow]) -> str | None:
    """A model's or version's comment is text (or None) that the catalog can store."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"a comment is a string, not {type(value).__name__}")
    check_field(row_type, "comment", value)
    return value


def check_metric_name(name: object) -> str:
    """A metric name is a non-empty string that fits its column, without NUL characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"a metric name is a non-empty string, not {name!r}")
    check_field(MetricRow, "name", name)
    return name


def check_metrics(metrics: object) -> dict[str, Any]:
    """``log_model(metrics=...)``: a mapping of metric names to JSON values, checked and
    converted (``to_json_value``) before anything is saved."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidInput(
            f"metrics must be a mapping of metric names to values, such as "
            f'{{"accuracy": 0.93}}, not {type(metrics).__name__}'
        )
    return {
        check_metric_name(name): to_json_value(value, what=f"metric {name!r}")
        for name, value in metrics.items()
    }


def to_json_value(value: Any, *, what: str = "metric") -> Any:
    """``value`` as plain JSON: numpy scalars become numbers, arrays nested lists.

    Refused (``InvalidInput``): non-finite floats, keys that are not strings, values that
    JSON cannot hold, nesting deeper than ``MAX_JSON_DEPTH`` and a list or dict that
    contains itself.
    """
    return _to_json(value, what, depth=0, path=set())


def _to_json(value: Any, what: str, *, depth: int, path: set[int]) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (dict, list, tuple)):
        if id(value) in path:
            raise InvalidInput(
                f"{what} value contains itself (a list or dict that refers to itself); "
                "store a copy without the cycle"
            )
        if depth >= MAX_JSON_DEPTH:
            raise InvalidInput(
                f"{what} value nests lists or dicts deeper than {MAX_JSON_DEPTH} levels; "
                "flatten it"
            )
        path.add(id(value))
        try:
            if isinstance(value, dict):
                out = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise InvalidInput(
                            f"{what} keys must be strings, not {type(key).__name__}"
                        )
                    out[key] = _to_json(item, what, depth=depth + 1, path=path)
                return out
            return [_to_json(item, what, depth=depth + 1, path=path) for item in value]
        finally:
            path.discard(id(value))
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{what} value {value} is not valid JSON; store finite numbers or None")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} value of type {type(value).__name__} is not JSON-serialisable; pass "
            "numbers, strings, lists, dicts or numpy values"
        ) from exc
    return value
