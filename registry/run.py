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
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.artifacts import ArtifactStore, safe_relpath, verify_files
from registry.batch import Batch, prepare_batch
from registry.environment import check_environment
from registry.errors import FloeError, InvalidInput, ModelError
from registry.explain import EXPLAIN_FUNCTION, Explainer, build_explainer, read_background
from registry.handlers import Handler, handler_named
from registry.signatures import ModelSignature
from registry.tasks import Task

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
    """A deserialised version: the model object, its handler and its functions."""

    version_id: str
    label: str
    model: object
    handler: Handler
    manifest: Mapping[str, Any]
    functions: dict[str, ModelFunctionInfo] = field(default_factory=dict)
    local_dir: Path | None = None
    _explainer: Explainer | None = field(default=None, repr=False)
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def explainer(self, background: pd.DataFrame | None = None) -> Explainer:
        """The version's SHAP explainer, built once (background: the stored sample)."""
        with self._explainer_lock:
            if self._explainer is None:
                spec = self.manifest.get("explain")
                if not spec:
                    raise InvalidInput(
                        f"{self.label} has no explain function; log it with a known task= and "
                        "sample_input_data= (and without enable_explainability=False)"
                    )
                if background is None:
                    assert self.local_dir is not None
                    background = read_background(self.local_dir)
                self._explainer = build_explainer(
                    self.handler, self.model, task=Task(self.manifest["task"]),
                    background=background, feature_names=list(spec["features"]),
                    predict_method=spec["explains"],
                )
            return self._explainer


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
        loaded = load_local(local, manifest, version_id=version_id, label=label, options=options)
        _cache[key] = loaded
        return loaded


def load_local(
    local: Path,
    manifest: Mapping[str, Any],
    *,
    version_id: str,
    label: str,
    options: Mapping[str, Any],
) -> LoadedModel:
    """Deserialise a version from a local directory whose every file was already verified."""
    handler = handler_named(manifest["framework"])
    _add_code_paths(local, manifest.get("code_paths", []))
    try:
        model = handler.load(local, manifest["model"], options)
    except FloeError:
        raise
    except Exception as exc:
        raise ModelError(f"{label} failed to load: {type(exc).__name__}: {exc}") from exc
    functions = {f["name"]: ModelFunctionInfo.from_dict(f) for f in manifest.get("functions", [])}
    return LoadedModel(version_id, label, model, handler, manifest, functions, local)


def read_payload(
    artifacts: ArtifactStore, *, version_id: str, manifest_sha256: str, label: str, force: bool
) -> dict[str, Any]:
    """A version as plain data (manifest and verified file bytes) for Ray's object store, so
    workers load it without access to the catalog or the artifact root."""
    manifest = artifacts.read_manifest(version_id, manifest_sha256)
    check_environment(manifest["env"], force=force, what=label)
    with tempfile.TemporaryDirectory(prefix="floe-payload-") as tmp:
        local = artifacts.materialize(version_id, manifest, Path(tmp))
        files = {rel: (local / rel).read_bytes() for rel in manifest["files"]}
    return {"version_id": version_id, "label": label, "manifest": manifest, "files": files}


def load_payload(payload: Mapping[str, Any], options: Mapping[str, Any]) -> LoadedModel:
    """Load a version shipped by ``read_payload``: files are written to a private directory
    and checked against the manifest again before anything is deserialised."""
    version_id, manifest = payload["version_id"], payload["manifest"]
    key = (version_id, bool(options.get("use_gpu", False)))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        local = Path(tempfile.mkdtemp(prefix=f"floe-{version_id}-"))
        for rel, data in payload["files"].items():
            path = local / safe_relpath(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        verify_files(local, manifest["files"], version_id, where=" (shipped to a worker)",
                     fix="re-run the job; the object store copy was corrupted")
        loaded = load_local(local, manifest, version_id=version_id, label=payload["label"],
                            options=options)
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
    partition_column: str | None = None,
    passthrough_columns: Sequence[str] = (),
) -> Frame:
    """Run one function on a whole table, as the input's table type.

    A row function returns the input columns followed by its output columns. A partitioned
    function is called once per distinct ``partition_column`` value with all of its rows, and
    returns what it produced for each (with the partition column), concatenated.
    ``passthrough_columns`` are carried to the output without being model input.
    """
    fn = resolve_function(loaded, function_name)
    if not isinstance(data, (pd.DataFrame, pa.Table)):
        raise InvalidInput(
            f"run takes a pandas DataFrame, a pyarrow Table or a ray.data.Dataset, not "
            f"{type(data).__name__}"
        )
    names = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else data.column_names
    carried = list(passthrough_columns)
    missing = [c for c in carried + ([partition_column] if partition_column else []) if c not in names]
    if missing:
        raise InvalidInput(f"the input has no column {', '.join(missing)}; its columns: "
                           f"{', '.join(names)}")
    if fn.is_partitioned:
        if partition_column is None:
            raise InvalidInput(f"{fn.name} of {loaded.label} is partitioned; pass "
                               "partition_column= to say which column splits the input")
        return _run_partitions(loaded, fn, data, partition_column, carried, strict)
    if partition_column is not None:
        raise InvalidInput(f"{fn.name} of {loaded.label} is not a partitioned function; "
                           "partition_column applies to @partitioned_api functions only")
    features = _without(data, carried)
    inputs = fn.signature.inputs if fn.signature is not None else None
    batch = prepare_batch(features, inputs, strict=strict, what=f"input to {fn.name}")
    outputs = call_function(loaded, fn, batch)
    return _append_columns(data, outputs)


def _without(data: Frame, columns: Sequence[str]) -> Frame:
    if not columns:
        return data
    if isinstance(data, pd.DataFrame):
        return data.drop(columns=list(columns))
    return data.drop_columns(list(columns))


def _append_columns(data: Frame, outputs: Mapping[str, np.ndarray]) -> Frame:
    if isinstance(data, pd.DataFrame):
        out = data.copy(deep=False)
        for name, values in outputs.items():
            out[name] = values
        return out
    for name, values in outputs.items():
        data = data.append_column(name, pa.array(values))
    return data


def _run_partitions(
    loaded: LoadedModel,
    fn: ModelFunctionInfo,
    data: Frame,
    partition_column: str,
    carried: list[str],
    strict: bool,
) -> Frame:
    frame = data if isinstance(data, pd.DataFrame) else data.to_pandas()
    inputs = fn.signature.inputs if fn.signature is not None else None
    in_signature = inputs is not None and partition_column in {f.name for f in inputs}
    drop = carried + ([] if in_signature or inputs is None else [partition_column])
    parts = []
    for key, group in frame.groupby(partition_column, sort=True, dropna=False):
        batch = prepare_batch(group.drop(columns=drop), inputs, strict=strict,
                              what=f"partition {partition_column}={key!r} of {fn.name}")
        result = _call(loaded, fn, batch)
        out = result if isinstance(result, pd.DataFrame) else pd.DataFrame(
            output_columns(result, len(batch), None, f"{loaded.label} function {fn.name}"))
        if partition_column not in out.columns:
            out.insert(0, partition_column, key)
        parts.append(out.reset_index(drop=True))
    combined = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return combined if isinstance(data, pd.DataFrame) else pa.Table.from_pandas(
        combined, preserve_index=False)


def _call(loaded: LoadedModel, fn: ModelFunctionInfo, batch: Batch) -> np.ndarray | pd.DataFrame:
    try:
        return loaded.handler.call(loaded.model, fn.target_method, batch)
    except FloeError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{loaded.label} function {fn.name} raised {type(exc).__name__}: {exc}"
        ) from exc


def call_function(loaded: LoadedModel, fn: ModelFunctionInfo, batch: Batch) -> dict[str, np.ndarray]:
    """Call the model once on the whole batch; return its output columns by name."""
    if fn.name == EXPLAIN_FUNCTION and loaded.manifest.get("explain"):
        return loaded.explainer().explain(batch)
    result = _call(loaded, fn, batch)
    label = loaded.label
    expected = [f.name for f in fn.signature.outputs] if fn.signature is not None else None
    rows = None if fn.is_partitioned else len(batch)  # a partition may yield any row count
    return output_columns(result, rows, expected, f"{label} function {fn.name}")


def output_names(count: int) -> list[str]:
    return [f"output_feature_{i}" for i in range(count)]


def output_columns(
    result: np.ndarray | pd.DataFrame, num_rows: int | None, names: list[str] | None, what: str
) -> dict[str, np.ndarray]:
    """Name a function's result: a DataFrame's own columns, or ``output_feature_<i>``.
    ``num_rows`` (when not None) is the row count the result must have."""
    if isinstance(result, pd.DataFrame):
        if num_rows is not None and len(result) != num_rows:
            raise ModelError(f"{what} returned {len(result)} rows for {num_rows}; a function "
                             "must return one row per input row")
        columns = {str(c): result[c].to_numpy() for c in result.columns}
        if names and list(columns) != names:
            raise ModelError(f"{what} returned columns {list(columns)}; its signature names "
                             f"{names}")
        return columns
    result = np.asarray(result)
    matrix = result.reshape(-1, 1) if result.ndim == 1 else result
    if matrix.ndim != 2 or (num_rows is not None and matrix.shape[0] != num_rows):
        raise ModelError(
            f"{what} returned shape {result.shape} for {num_rows} rows; a function must return "
            "one row per input row"
        )
    names = names or output_names(matrix.shape[1])
    if len(names) != matrix.shape[1]:
        raise ModelError(
            f"{what} returned {matrix.shape[1]} columns, its signature names {len(names)}: "
            f"{', '.join(names)}"
        )
    return {name: matrix[:, i] for i, name in enumerate(names)}
