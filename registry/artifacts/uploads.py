"""A version arriving at a registry server, file by file: the server never deserialises it,
only stores bytes and checks them.

``begin_upload`` opens ``versions/<id>/`` with ``UPLOADING.json`` (the upload's state) in
it; each file is written as it arrives through a ``Receiver``, hashed on the way, and deleted
at once if its size or sha256 differs from the manifest's; ``finish_upload`` reads every file
back, checks it again, and writes ``MANIFEST.yml`` last. Until the catalog row commits the
version is invisible; an upload that never finishes is a version directory no catalog row
references, which ``floe gc`` removes like any other.
"""

from __future__ import annotations

import contextlib
import hashlib

import pyarrow.fs as pafs

from registry.artifacts.paths import safe_relpath
from registry.artifacts.store import MANIFEST, UPLOADING, ArtifactStore
from registry.errors import AlreadyExists, InvalidInput, NotFound
from registry.packaging.manifest import Manifest

__all__ = ["Receiver", "begin_upload", "finish_upload", "receiver", "upload_state"]


def begin_upload(store: ArtifactStore, version_id: str, state: bytes) -> None:
    """Open an upload of a new version: ``state`` is kept until ``finish_upload``. An id
    with anything stored under it is refused."""
    store.ownership.claim()
    if store.file_infos(version_id):
        raise AlreadyExists(f"version id {version_id} is taken; log the model again "
                            "(each log_model makes a new id)")
    dest = store.version_dir(version_id)
    with store.os_errors(dest, "check that the artifact root is writable"):
        if store.has_dirs:
            store.fs.create_dir(dest, recursive=True)
        with store.fs.open_output_stream(f"{dest}/{UPLOADING}") as out:
            out.write(state)


def upload_state(store: ArtifactStore, version_id: str) -> bytes:
    """The state ``begin_upload`` kept; ``NotFound`` when no such upload is open."""
    path = f"{store.version_dir(version_id)}/{UPLOADING}"
    try:
        with store.os_errors(path, "check that the artifact root is readable"), \
                store.fs.open_input_stream(path) as handle:
            return bytes(handle.read())
    except FileNotFoundError:
        raise NotFound(f"no upload {version_id} is open (it was committed, or collected "
                       "by gc); log the model again") from None


def receiver(store: ArtifactStore, version_id: str, rel: str) -> Receiver:
    """Where one file of an open upload is written, as it arrives."""
    clean = safe_relpath(rel)
    if clean in (MANIFEST, UPLOADING):
        raise InvalidInput(f"{clean} is written by the server, not uploaded")
    dest = f"{store.version_dir(version_id)}/{clean}"
    with store.os_errors(dest, "check that the artifact root is writable"):
        if store.has_dirs:
            store.fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
        return Receiver(store, dest, clean, store.fs.open_output_stream(dest))


def finish_upload(
    store: ArtifactStore, version_id: str, manifest: Manifest, manifest_bytes: bytes
) -> str:
    """Check every file the manifest lists against its size and sha256, read back from
    the root, then write the manifest (last) and close the upload; its sha256."""
    files = {rel: entry.sha256 for rel, entry in manifest.files.items()}
    infos = store.file_infos(version_id)
    missing = sorted(set(files) - set(infos))
    if missing:
        raise InvalidInput(f"the upload of version {version_id} lacks {', '.join(missing)}; "
                           "send every file the manifest lists, then commit")
    bad = [rel for rel, sha in files.items() if store.digest(version_id, rel).sha256 != sha]
    if bad:
        raise InvalidInput(f"{', '.join(sorted(bad))} of version {version_id} do not match "
                           "the manifest's sha256; send them again")
    dest = store.version_dir(version_id)
    with store.os_errors(dest, "check that the artifact root is writable"):
        with store.fs.open_output_stream(f"{dest}/{MANIFEST}") as out:
            out.write(manifest_bytes)
        store.fs.delete_file(f"{dest}/{UPLOADING}")
    return hashlib.sha256(manifest_bytes).hexdigest()


class Receiver:
    """One uploaded file being written: ``write`` each chunk as it arrives, then ``finish``
    with the size and sha256 the manifest records. A file that does not match is deleted and
    refused, so nothing unverified stays."""

    def __init__(self, store: ArtifactStore, dest: str, rel: str, out: pafs.NativeFile) -> None:
        self._store, self._dest, self._rel, self._out = store, dest, rel, out
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes, *, limit: int) -> None:
        self.size += len(chunk)
        if self.size > limit:
            self.abort()
            raise InvalidInput(f"{self._rel} is larger than the {limit} bytes the manifest "
                               "records; send the file the manifest was made from")
        self._sha.update(chunk)
        self._out.write(chunk)

    def finish(self, sha256: str, size: int) -> None:
        self._out.close()
        if self.size != size or self._sha.hexdigest() != sha256:
            self.abort()
            raise InvalidInput(
                f"{self._rel} arrived with {self.size} bytes and sha256 "
                f"{self._sha.hexdigest()}, the manifest records {size} bytes and {sha256}: it "
                "was changed or cut short on the way; send it again"
            )

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._out.close()
        with contextlib.suppress(OSError):
            self._store.fs.delete_file(self._dest)
