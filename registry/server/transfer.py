"""What the registry server does with a version's bytes, on its ``LocalBackend``: send one
file of a version to a client that will run, load or export it (the privilege that needs is
checked first), and receive a new version from a client's ``log_model``.

A received version is bytes and a manifest: the server parses the manifest (YAML, checked
field by field) and never deserialises or imports anything else. Every file is hashed as it
arrives and again before the commit; the catalog row, made from the manifest, commits last,
as the caller that opened the upload, so a version is visible only once all of it arrived
and verified.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from registry.api.artifacts import version_hashes
from registry.api.backend import VersionInfo
from registry.api.context import Namespace
from registry.api.local import LocalBackend
from registry.artifacts import uploads
from registry.artifacts.uploads import Receiver
from registry.errors import IntegrityError, InvalidInput, PermissionDenied
from registry.packaging.manifest import parse_manifest

__all__ = ["begin_upload", "commit_upload", "open_version_file", "receive_file"]


def open_version_file(backend: LocalBackend, model_id: str, version: str, purpose: str,
                      rel: str) -> tuple[int, str, Iterator[bytes]]:
    """One file of a version (``MANIFEST.yml`` included) for ``purpose`` (run: USAGE; load,
    export: OWNERSHIP): its size, its sha256 and its bytes, checked as they are read."""
    info = backend.resolve_version(model_id, version)
    artifacts = backend.version_files(model_id, info, purpose)
    hashes = version_hashes(artifacts, info)
    if rel not in hashes:
        raise InvalidInput(f"{rel!r} is not a file of this version; its manifest lists them")
    size = artifacts.file_infos(info.id)[rel].size
    return int(size or 0), hashes[rel], artifacts.stream_file(info.id, rel, hashes[rel])


def begin_upload(backend: LocalBackend, *, model: str, version: str | None,
                 comment: str | None, metrics: dict[str, Any], manifest: str) -> str:
    """Open the upload of a new version of ``model`` (resolved names) whose manifest is
    ``manifest``; its version id, which names the upload. Refused as ``log_model`` is, before
    any byte is stored."""
    backend.check_log(model, version)
    data = manifest.encode()
    parsed = _parse(data)
    if not parsed.version_id.isalnum() or len(parsed.version_id) != 32:
        raise InvalidInput(f"version id {parsed.version_id!r} is not 32 hex digits; log the "
                           "model with Floe's client")
    state = {"model": model, "version": version, "comment": comment, "metrics": metrics,
             "database": backend.namespace.database_name,
             "schema": backend.namespace.schema_name,
             "user": backend.caller.user, "role": backend.caller.role, "manifest": manifest}
    version_id: str = parsed.version_id
    uploads.begin_upload(backend.artifacts, version_id, json.dumps(state).encode())
    return version_id


def receive_file(backend: LocalBackend, version_id: str, rel: str) -> tuple[Receiver, str, int]:
    """Where file ``rel`` of an open upload is written, with the sha256 and size it must have."""
    state = _state(backend, version_id)
    entry = _parse(state["manifest"].encode()).files.get(rel)
    if entry is None:
        raise InvalidInput(f"{rel!r} is not in the manifest of upload {version_id}; send only "
                           "the files it lists")
    return uploads.receiver(backend.artifacts, version_id, rel), entry.sha256, entry.size


def commit_upload(backend: LocalBackend, version_id: str) -> tuple[str, VersionInfo]:
    """Check every file of an open upload, write its manifest and commit its catalog rows as
    the caller that opened it; the model's id and the version. A failure removes the files."""
    state = _state(backend, version_id)
    data = state["manifest"].encode()
    manifest = _parse(data)
    ns_backend = dataclasses.replace(
        backend, namespace=Namespace(state["database"], state["schema"]), namespace_id=None)
    # Asked again: a privilege revoked since the upload opened counts.
    ns_backend.check_log(state["model"], state["version"])
    sha = uploads.finish_upload(backend.artifacts, version_id, manifest, data)
    try:
        return ns_backend.commit_version(state["model"], state["version"], manifest, sha,
                                         comment=state["comment"], metrics=state["metrics"])
    except BaseException:
        backend.artifacts.delete_version(version_id)
        raise


def _state(backend: LocalBackend, version_id: str) -> dict[str, Any]:
    """An open upload's state, for the caller that opened it only."""
    if not version_id.isalnum():
        raise InvalidInput(f"invalid upload id {version_id!r}")
    state: dict[str, Any] = json.loads(uploads.upload_state(backend.artifacts, version_id))
    if (state["user"], state["role"]) != (backend.caller.user, backend.caller.role):
        raise PermissionDenied(f"upload {version_id} was opened by another user or role; "
                               "only its opener may send its files or commit it")
    return state


def _parse(data: bytes) -> Any:
    try:
        return parse_manifest(data, version_id="being uploaded")
    except IntegrityError as exc:
        raise InvalidInput(f"the upload's manifest is not valid: {exc.message}") from None
