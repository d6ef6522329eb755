"""The one load path: every ``load``, every in-process ``run``, every batch and every request
loads a version through here.

``load_version`` reads the manifest (checked against the catalog's sha256), checks the
environment, verifies every file's sha256 and only then lets the handler deserialise. The
loaded model is cached per process by the version's immutable id.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from registry.artifacts.store import ArtifactStore, safe_relpath, verify_files
from registry.errors import FloeError, InvalidInput, ModelError
from registry.handlers import Handler, handler_named
from registry.packaging.environment import check_environment
from registry.packaging.manifest import Manifest
from registry.packaging.options import LoadOptions, parse_load_options
from registry.runtime.explain import Explainer, build_explainer, read_background
from registry.runtime.functions import ModelFunctionInfo

__all__ = ["LoadedModel", "load_payload", "load_version", "read_payload"]

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A deserialised version: the model object, its handler and its functions."""

    version_id: str
    label: str
    model: object
    handler: Handler
    manifest: Manifest | None  # None while staging, before the manifest exists
    functions: dict[str, ModelFunctionInfo] = field(default_factory=dict)
    local_dir: Path | None = None
    _explainer: Explainer | None = field(default=None, repr=False)
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
                    self.handler, self.model, task=self.manifest.task,
                    background=background, feature_names=list(spec.features),
                    predict_method=spec.explains,
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
    options: Mapping[str, object] | LoadOptions | None = None,
) -> LoadedModel:
    """The version's model, loaded once per process; hashes checked before deserialising."""
    opts = parse_load_options(options)
    key = (version_id, opts.use_gpu)
    cached = _cache.get(key)
    if cached is not None and cached.manifest is not None:
        check_environment(cached.manifest.env, force=force, what=label)
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached.manifest is not None:
            check_environment(cached.manifest.env, force=force, what=label)
            return cached
        manifest = artifacts.read_manifest(version_id, manifest_sha256)
        check_environment(manifest.env, force=force, what=label)
        local = artifacts.materialize(version_id, manifest, cache_dir)
        loaded = load_local(local, manifest, version_id=version_id, label=label, options=opts)
        _cache[key] = loaded
        return loaded


def load_local(
    local: Path,
    manifest: Manifest,
    *,
    version_id: str,
    label: str,
    options: LoadOptions,
) -> LoadedModel:
    """Deserialise a version from a local directory whose every file was already verified."""
    handler = handler_named(manifest.framework)
    _add_code_paths(local, list(manifest.code_paths))
    try:
        model = handler.load(local, manifest.model, options.model_dump())
    except FloeError:
        raise
    except Exception as exc:
        raise ModelError(f"{label} failed to load: {type(exc).__name__}: {exc}") from exc
    functions = {f.name: ModelFunctionInfo.from_manifest(f) for f in manifest.functions}
    return LoadedModel(version_id, label, model, handler, manifest, functions, local)


def read_payload(
    artifacts: ArtifactStore, *, version_id: str, manifest_sha256: str, label: str, force: bool
) -> dict[str, Any]:
    """A version as plain data (manifest and verified file bytes) for Ray's object store, so
    workers load it without access to the catalog or the artifact root."""
    manifest = artifacts.read_manifest(version_id, manifest_sha256)
    check_environment(manifest.env, force=force, what=label)
    with tempfile.TemporaryDirectory(prefix="floe-payload-") as tmp:
        local = artifacts.materialize(version_id, manifest, Path(tmp))
        files = {rel: (local / rel).read_bytes() for rel in manifest.files}
    return {"version_id": version_id, "label": label, "manifest": manifest, "files": files}


def load_payload(
    payload: Mapping[str, Any], options: Mapping[str, object] | LoadOptions
) -> LoadedModel:
    """Load a version shipped by ``read_payload``: files are written to a private directory
    and checked against the manifest again before anything is deserialised."""
    version_id, manifest = payload["version_id"], payload["manifest"]
    opts = parse_load_options(options)
    key = (version_id, opts.use_gpu)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        local = Path(tempfile.mkdtemp(prefix=f"floe-{version_id}-"))
        for rel, data in payload["files"].items():
            path = local / safe_relpath(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        verify_files(local, manifest.files, version_id, where=" (shipped to a worker)",
                     fix="re-run the job; the object store copy was corrupted")
        loaded = load_local(local, manifest, version_id=version_id, label=payload["label"],
                            options=opts)
        _cache[key] = loaded
        return loaded


def _add_code_paths(local: Path, code_paths: list[str]) -> None:
    """Make code shipped with ``code_paths`` importable, as it was where the model was logged."""
    for rel in code_paths:
        folder = str((local / rel).parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
