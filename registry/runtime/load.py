"""The one load path: every ``load``, every in-process ``run``, every batch and every request
loads a version through here.

A load reads the manifest (its bytes checked against the catalog's sha256, and parsed from
those same bytes) and checks the environment (``force=True`` goes ahead with an
``EnvironmentWarning``). The handler then gets a *private verified copy* of the version
(``ArtifactStore.materialize``: each file copied into a new 0700 directory while it is hashed,
refused whole on any mismatch), so what is deserialised is exactly what was hashed; a file
swapped in the artifact root afterwards is never read. The version's ``code/`` is imported
under a scope of its own (``code_scope``), never from ``sys.path``. On a Ray worker
(``load_payload``) the same holds: the shipped manifest and file bytes are checked in memory,
the environment is checked (``force`` travels with the job), and only then are the bytes
written to a private directory and loaded.

``load_fresh`` deserialises anew at every call (``ModelVersion.load``: each call verifies the
stored files again and returns an object the caller owns). The run path (``load_version``,
``load_payload``) keeps one model per version and GPU option per process, private to it;
``clear_loaded_models`` forgets them. A private copy lives as long as the model loaded from it
(a custom model reads its artifacts there) and is removed after.
"""

from __future__ import annotations

import atexit
import collections
import logging
import shutil
import threading
import types
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import pandas as pd

from registry.artifacts.paths import safe_relpath
from registry.artifacts.store import ArtifactStore
from registry.artifacts.verified import check_bytes, parse_manifest, private_dir
from registry.errors import FloeError, InvalidInput, ModelError
from registry.handlers import Handler, Predictor, handler_named
from registry.packaging.environment import check_environment
from registry.packaging.manifest import Manifest
from registry.packaging.options import LoadOptions, parse_load_options
from registry.runtime.code_scope import LOAD_LOCK, VersionCode, import_scope
from registry.runtime.explain import Explainer, build_explainer, read_background
from registry.runtime.functions import ModelFunctionInfo

__all__ = [
    "LoadedModel",
    "VersionPayload",
    "cached_run_model",
    "clear_loaded_models",
    "load_counts",
    "load_fresh",
    "load_payload",
    "load_version",
    "read_payload",
]

log = logging.getLogger(__name__)

_SHIPPED = " (shipped to a worker)"
_RESHIP = "re-run the job; the object store copy was corrupted"


@dataclass
class LoadedModel:
    """A deserialised version: its predictor (the model object and what its handler decided
    when loading it), its handler and its functions; ``local_dir`` is the private verified
    copy it was loaded from, ``modules`` the version's own modules that its code imported
    (see ``code_scope``)."""

    version_id: str
    label: str
    predictor: Predictor
    handler: Handler
    manifest: Manifest | None  # None while staging, before the manifest exists
    functions: dict[str, ModelFunctionInfo] = field(default_factory=dict)
    local_dir: Path | None = None
    modules: dict[str, types.ModuleType] = field(default_factory=dict, repr=False)
    threads: int | None = None  # what a Ray worker set (``Predictor.set_threads``); None: default
    _explainer: Explainer | None = field(default=None, repr=False)
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model(self) -> object:
        """The model object, as its handler loaded it."""
        return self.predictor.model

    def explainer(self, background: pd.DataFrame | None = None) -> Explainer:
        """The version's SHAP explainer, built once (background: the stored sample)."""
        with self._explainer_lock:
            if self._explainer is None:
                spec = self.manifest.explain if self.manifest is not None else None
                if spec is None or self.manifest is None:
                    raise InvalidInput(
                        f"{self.label} has no explain function; log it with a known task= and "
                        "sample_input_data= (and without enable_explainability=False)"
                    )
                if background is None:
                    assert self.local_dir is not None
                    background = read_background(self.local_dir)
                self._explainer = build_explainer(
                    self.handler, self.predictor, task=self.manifest.task,
                    background=background, feature_names=list(spec.features),
                    predict_method=spec.explains,
                )
            return self._explainer


# The run path's models: one per (version id, use_gpu) per process. ``load`` never sees them.
_run_cache: dict[tuple[str, bool], LoadedModel] = {}
_run_cache_lock = threading.Lock()
# How many times this process deserialised each version (every path): see ``load_counts``.
_load_counts: collections.Counter[str] = collections.Counter()


class VersionPayload(TypedDict):
    """A version as plain data for Ray's object store: workers need no catalog or root."""

    version_id: str
    label: str
    manifest: Manifest  # parsed, for the driver's checks; workers re-parse the bytes
    manifest_sha256: str  # the catalog's
    manifest_bytes: bytes
    files: dict[str, bytes]


def clear_loaded_models() -> None:
    """Forget every model the run path keeps in this process: the next ``run`` of a version
    reads, verifies and deserialises it again (as a new process would)."""
    with _run_cache_lock:
        _run_cache.clear()


def load_counts() -> dict[str, int]:
    """How many times this process deserialised each version, by version id, on every path
    (``load``, ``run``, Ray workers): a worker that scores many batches of a version shows 1.
    For tests and diagnostics."""
    return dict(_load_counts)


def cached_run_model(
    version_id: str, options: Mapping[str, object] | LoadOptions | None, *, force: bool,
    label: str,
) -> LoadedModel | None:
    """The run path's model of the version if this process holds it (its environment checked
    again, so ``force`` applies to each run), else None: a Ray task asks this before it
    fetches the version's bytes."""
    return _cached_run_model((version_id, parse_load_options(options).use_gpu), force=force,
                             label=label)


def load_version(
    artifacts: ArtifactStore,
    *,
    version_id: str,
    manifest_sha256: str,
    label: str,
    cache_dir: Path,
    force: bool = False,
    options: Mapping[str, object] | LoadOptions | None = None,
) -> LoadedModel:
    """The run path's model: loaded once per process (see ``load_fresh``), the environment
    checked again at every call, so ``force`` applies to each run."""
    opts = parse_load_options(options)
    key = (version_id, opts.use_gpu)
    cached = _cached_run_model(key, force=force, label=label)  # no lock: another may be loading
    if cached is not None:
        return cached
    with _run_cache_lock:
        cached = _cached_run_model(key, force=force, label=label)
        if cached is not None:
            return cached
        loaded = load_fresh(
            artifacts, version_id=version_id, manifest_sha256=manifest_sha256, label=label,
            cache_dir=cache_dir, force=force, options=opts,
        )
        _run_cache[key] = loaded
        return loaded


def _cached_run_model(key: tuple[str, bool], *, force: bool, label: str) -> LoadedModel | None:
    """The run path's model for ``key`` if this process has it, its environment checked again
    (so ``force`` applies to each run)."""
    cached = _run_cache.get(key)
    if cached is not None and cached.manifest is not None:  # cached models have a manifest
        check_environment(cached.manifest.env, force=force, what=label)
        return cached
    return None


def load_fresh(
    artifacts: ArtifactStore,
    *,
    version_id: str,
    manifest_sha256: str,
    label: str,
    cache_dir: Path,
    force: bool = False,
    options: Mapping[str, object] | LoadOptions | None = None,
) -> LoadedModel:
    """A new deserialisation of the version, from a private copy verified as it was made."""
    manifest = artifacts.read_manifest(version_id, manifest_sha256)
    check_environment(manifest.env, force=force, what=label)
    local = artifacts.materialize(version_id, manifest, cache_dir)
    return _deserialise(local, manifest, version_id=version_id, label=label,
                        options=parse_load_options(options))


def read_payload(
    artifacts: ArtifactStore, *, version_id: str, manifest_sha256: str, label: str, force: bool
) -> VersionPayload:
    """The version as verified bytes in memory (manifest and files), for Ray's object store."""
    data = artifacts.read_manifest_bytes(version_id)
    manifest = parse_manifest(data, version_id, manifest_sha256)
    check_environment(manifest.env, force=force, what=label)
    return VersionPayload(
        version_id=version_id, label=label, manifest=manifest, manifest_sha256=manifest_sha256,
        manifest_bytes=data, files=artifacts.read_files(version_id, manifest),
    )


def load_payload(
    payload: VersionPayload, options: Mapping[str, object] | LoadOptions, *, force: bool = False
) -> LoadedModel:
    """Load a version shipped by ``read_payload`` (on a worker: once per process). The manifest
    and every file are checked in memory and the environment here is checked (``force`` goes
    ahead with a warning) before the bytes are written to a private directory and loaded."""
    version_id, label = payload["version_id"], payload["label"]
    manifest = parse_manifest(
        payload["manifest_bytes"], version_id, payload["manifest_sha256"], where=_SHIPPED
    )
    check_environment(manifest.env, force=force, what=label)
    opts = parse_load_options(options)
    key = (version_id, opts.use_gpu)
    with _run_cache_lock:
        cached = _run_cache.get(key)
        if cached is not None:
            return cached
        check_bytes(payload["files"], manifest.files, version_id, where=_SHIPPED, fix=_RESHIP)
        local = private_dir(f"floe-{version_id}-")
        try:
            _write_files(payload["files"], local)
        except BaseException:
            shutil.rmtree(local, ignore_errors=True)
            raise
        loaded = _deserialise(local, manifest, version_id=version_id, label=label,
                              options=opts)
        _run_cache[key] = loaded
        return loaded


def _write_files(data: Mapping[str, bytes], dest: Path) -> None:
    """Write checked file contents under ``dest`` (a private directory); never through
    anything already there."""
    for rel, body in data.items():
        path = dest / safe_relpath(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:
            out.write(body)


def _deserialise(
    local: Path,
    manifest: Manifest,
    *,
    version_id: str,
    label: str,
    options: LoadOptions,
) -> LoadedModel:
    """Deserialise a version from ``local``, a private copy whose every file was verified as
    it was written there; ``local`` is removed on failure, else once the model is gone."""
    try:
        handler = handler_named(manifest.framework)
        code = VersionCode.from_files(version_id, local, manifest.files)
        with LOAD_LOCK, import_scope(code) as modules:
            try:
                predictor = handler.load(local, manifest.model, options.model_dump())
            except FloeError:
                raise
            except Exception as exc:
                raise ModelError(f"{label} failed to load: {type(exc).__name__}: {exc}") from exc
    except BaseException:
        shutil.rmtree(local, ignore_errors=True)
        raise
    _load_counts[version_id] += 1
    _remove_with(predictor.model, local, modules)
    functions = {f.name: ModelFunctionInfo.from_manifest(f) for f in manifest.functions}
    return LoadedModel(version_id, label, predictor, handler, manifest, functions, local, modules)


def _remove_with(model: object, local: Path, modules: dict[str, types.ModuleType]) -> None:
    """Remove ``local`` when ``model`` is garbage (keeping the version's modules alive until
    then), or at exit for an object that takes no weak reference."""
    try:
        weakref.finalize(model, _remove, str(local), modules)
    except TypeError:
        atexit.register(_remove, str(local), modules)


def _remove(local: str, modules: dict[str, types.ModuleType]) -> None:
    shutil.rmtree(local, ignore_errors=True)
