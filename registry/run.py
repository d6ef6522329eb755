"""The one load path and the one run path: every ``load``, every in-process ``run``, every
batch and every request goes through here.

``load_version`` reads the manifest (checked against the catalog's sha256), checks the
environment, verifies every file's sha256 and only then lets the handler deserialise. The
loaded model is cached per process by the version's immutable id.
``run_function`` validates the input against the function's signature, calls the model once
on the whole batch and appends the output columns.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.artifacts import ArtifactStore
from registry.environment import check_environment
from registry.errors import FloeError, InvalidInput, ModelError
from registry.handlers import Handler, handler_named
from registry.signatures import ModelSignature, to_arrow, validate_input

__all__ = ["LoadedModel", "ModelFunctionInfo", "load_version", "run_function"]

log = logging.getLogger(__name__)
Frame = TypeVar("Frame", pd.DataFrame, pa.Table)


@dataclass(frozen=True)
class ModelFunctionInfo:
    """A function a version exposes: ``name`` is what ``run`` takes, ``target_method`` the
    model's method it calls."""

    name: str
    target_method: str
    signature: ModelSignature | None
    is_partitioned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target_method": self.target_method,
            "is_partitioned": self.is_partitioned,
            "signature": self.signature.to_dict() if self.signature is not None else None,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelFunctionInfo:
        sig = doc.get("signature")
        return cls(
            name=str(doc["name"]),
            target_method=str(doc["target_method"]),
            signature=ModelSignature.from_dict(sig) if sig else None,
            is_partitioned=bool(doc.get("is_partitioned", False)),
        )


@dataclass
class LoadedModel:
    version_id: str
    label: str
    model: object
    handler: Handler
    manifest: Mapping[str, Any]
    functions: dict[str, ModelFunctionInfo] = field(default_factory=dict)


_cache: dict[tuple[str, bool], LoadedModel] = {}
_cache_lock = threading.Lock()


def load_version(
    artifacts: ArtifactStore,
    *,
    version_id: str,
    manifest_sha256: str,
    label: str,
    cache_dir: Path,
    force: bool = False,
    options: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """The version's model, loaded once per process; hashes checked before deserialising."""
    options = dict(options or {})
    use_gpu = bool(options.get("use_gpu", False))
    key = (version_id, use_gpu)
    cached = _cache.get(key)
    if cached is not None:
        check_environment(cached.manifest["env"], force=force, what=label)
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            check_environment(cached.manifest["env"], force=force, what=label)
            return cached
        manifest = artifacts.read_manifest(version_id, manifest_sha256)
        check_environment(manifest["env"], force=force, what=label)
        local = artifacts.materialize(version_id, manifest, cache_dir)
        handler = handler_named(manifest["framework"])
        _add_code_paths(local, manifest.get("code_paths", []))
        try:
            model = handler.load(local, manifest["model"], options)
        except FloeError:
            raise
        except Exception as exc:
            raise ModelError(f"{label} failed to load: {exc}") from exc
        functions = {
            f["name"]: ModelFunctionInfo.from_dict(f) for f in manifest.get("functions", [])
        }
        loaded = LoadedModel(version_id, label, model, handler, manifest, functions)
        _cache[key] = loaded
        return loaded


def _add_code_paths(local: Path, code_paths: list[str]) -> None:
    """Make code shipped with ``code_paths`` importable, as it was where the model was logged."""
    for rel in code_paths:
        folder = str((local / rel).parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)


def resolve_function(loaded: LoadedModel, function_name: str | None) -> ModelFunctionInfo:
    names = sorted(loaded.functions)
    if function_name is None:
        if len(names) == 1:
            return loaded.functions[names[0]]
        raise InvalidInput(
            f"{loaded.label} has {len(names)} functions ({', '.join(names)}); pass "
            "function_name= to pick one"
        )
    fn = loaded.functions.get(function_name) or loaded.functions.get(function_name.lower())
    if fn is None:
        raise InvalidInput(
            f"{loaded.label} has no function {function_name!r}; its functions are: "
            f"{', '.join(names)}"
        )
    return fn


def run_function(
    loaded: LoadedModel,
    data: Frame,
    function_name: str | None = None,
    *,
    strict: bool = False,
) -> Frame:
    """Input columns followed by the function's output columns, as the input's table type."""
    fn = resolve_function(loaded, function_name)
    if not isinstance(data, (pd.DataFrame, pa.Table)):
        raise InvalidInput(
            f"run takes a pandas DataFrame or a pyarrow Table, not {type(data).__name__}"
        )
    table = to_arrow(data)
    if fn.signature is not None:
        table = validate_input(table, fn.signature.inputs, strict=strict, what=f"input to {fn.name}")
    features = table.to_pandas()
    try:
        result = loaded.handler.call(loaded.model, fn.target_method, features)
    except FloeError:
        raise
    except Exception as exc:
        raise ModelError(f"{loaded.label} function {fn.name} raised: {exc}") from exc
    outputs = _output_columns(fn, result, table.num_rows, loaded.label)
    if isinstance(data, pd.DataFrame):
        out = data.copy(deep=False)
        for name, values in outputs.items():
            out[name] = values
        return out
    for name, values in outputs.items():
        data = data.append_column(name, pa.array(values))
    return data


def output_names(count: int) -> list[str]:
    return [f"output_feature_{i}" for i in range(count)]


def _output_columns(
    fn: ModelFunctionInfo, result: np.ndarray, num_rows: int, label: str
) -> dict[str, np.ndarray]:
    matrix = result.reshape(-1, 1) if result.ndim == 1 else result
    if matrix.ndim != 2 or matrix.shape[0] != num_rows:
        raise ModelError(
            f"{label} function {fn.name} returned shape {result.shape} for {num_rows} rows; "
            "a function must return one row per input row"
        )
    names = [f.name for f in fn.signature.outputs] if fn.signature is not None else []
    if not names:
        names = output_names(matrix.shape[1])
    if len(names) != matrix.shape[1]:
        raise ModelError(
            f"{label} function {fn.name} returned {matrix.shape[1]} columns, its signature "
            f"names {len(names)}: {', '.join(names)}"
        )
    return {name: matrix[:, i] for i, name in enumerate(names)}
