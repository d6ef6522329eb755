"""Immutable, hash-verified version artifacts under one root, through ``pyarrow.fs``.

A local path and an object-store URI (``s3://bucket/prefix?endpoint_override=...``) work the
same way. Each version's files live under ``<root>/versions/<version id>/``: the id never
changes, so renames and moves touch only the catalog. A version is written completely, with
``MANIFEST.yml`` last, *before* its catalog row commits; until then it is invisible, and if
the writer dies in between, ``floe gc`` removes what it left.

Reading: the manifest's bytes are checked against the sha256 the catalog records and parsed
from those same bytes. A version is then handed to a loader only as a *private verified copy*
(``materialize``: a fresh ``mkdtemp`` directory, mode 0700, that receives each file as it is
read and hashed, and is refused whole if any hash differs) or as verified bytes in memory
(``read_files``, for Ray's object store; ``verified.check_bytes`` checks them again where
they arrive).
Nothing is ever deserialised from a path that was hashed earlier, so a file swapped in the
artifact root after its check is never loaded. A file under ``code/`` that the manifest does
not list is refused. From an object store (which has no directories: no marker objects are
written) a version is downloaded once to a local cache that only receives verified copies;
each load copies from that cache, hashing again.

Opening a root reads and writes nothing. The root belongs to one catalog (``ownership``:
``FLOE_ROOT.yml``, written on the first publish); OS errors on it become ``InvalidInput``
naming the path and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

from registry.artifacts.digests import FileDigest, verify_files
from registry.artifacts.ownership import RootOwnership
from registry.artifacts.paths import redact_uri, safe_relpath
from registry.artifacts.verified import (
    CODE,
    RESTORE,
    Files,
    copy_hashing,
    list_local,
    open_regular,
    parse_manifest,
    private_dir,
    refuse,
    unlisted_code,
)
from registry.errors import IntegrityError, InvalidInput, NotFound
from registry.packaging.manifest import Manifest

__all__ = ["MANIFEST", "UPLOADING", "ArtifactStore"]

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.yml"
# An upload in progress (a server's): its state, beside the files that have arrived. Never a
# version's file; it goes when the upload commits, or with the version directory in gc.
UPLOADING = "UPLOADING.json"
_CHUNK = 1 << 20
# Object stores have no directories, only keys: creating one writes an empty marker object.
_OBJECT_STORES = frozenset({"s3", "gcs", "abfs"})


class ArtifactStore:
    """The artifact root: a local directory or an object-store URI."""

    def __init__(
        self,
        root: str,
        *,
        catalog_id: Callable[[], str] | None = None,
        catalog_label: str = "this catalog",
    ) -> None:
        """Open ``root``: nothing is read or written until a version is. ``catalog_id`` (called
        on first need) names the catalog using the root; without it ownership is not checked."""
        self.root = redact_uri(root)  # for messages: the URI may carry a secret key
        try:
            if "://" in root:
                self.fs, base = pafs.FileSystem.from_uri(root)
            else:
                self.fs, base = pafs.LocalFileSystem(), str(Path(root).expanduser().resolve())
        except (ValueError, OSError) as exc:
            detail = str(exc).replace(root, self.root)
            raise InvalidInput(
                f"cannot open artifact root {self.root!r}: {detail}; give a local path or a URI "
                "such as s3://bucket/prefix (FLOE_ARTIFACT_ROOT)"
            ) from exc
        self.base = base.rstrip("/")
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)
        self.has_dirs = self.fs.type_name not in _OBJECT_STORES
        self.ownership = RootOwnership(self, catalog_id, redact_uri(catalog_label))

    def version_dir(self, version_id: str) -> str:
        if not version_id.isalnum():
            raise InvalidInput(f"invalid version id {version_id!r}")
        return f"{self.base}/versions/{version_id}"

    # -- writing ------------------------------------------------------------------------------

    def publish(self, version_id: str, staged: Path, manifest: Manifest) -> str:
        """Copy a staged version to the root, manifest last; return the manifest's sha256.

        The first publish into a root records this catalog as its owner (``ownership``)."""
        self.ownership.claim()
        dest = self.version_dir(version_id)
        manifest_bytes = manifest.to_yaml()
        try:
            with self.os_errors(dest, "check that the artifact root is writable"):
                if self.has_dirs:
                    self.fs.create_dir(dest, recursive=True)
                for rel in manifest.files:
                    self._upload(staged / rel, f"{dest}/{rel}")
                with self.fs.open_output_stream(f"{dest}/{MANIFEST}") as out:
                    out.write(manifest_bytes)
        except BaseException:
            self.delete_version(version_id)
            raise
        return hashlib.sha256(manifest_bytes).hexdigest()

    def _upload(self, src: Path, dest: str) -> None:
        if self.has_dirs:
            self.fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
        with open(src, "rb") as handle, self.fs.open_output_stream(dest) as out:
            while chunk := handle.read(_CHUNK):
                out.write(chunk)

    @contextlib.contextmanager
    def os_errors(self, path: str, fix: str) -> Iterator[None]:
        """An ``OSError`` on ``path`` (pyarrow raises them for every filesystem) as one
        ``InvalidInput`` naming the path and ``fix``; ``FileNotFoundError`` passes through."""
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as exc:
            detail = (exc.strerror or str(exc)).replace(self.base, "<root>")
            shown = path.replace(self.base, "<root>", 1)
            raise InvalidInput(
                f"cannot use {shown} in artifact root {self.root}: {detail}; {fix}"
            ) from exc

    def delete_version(self, version_id: str) -> None:
        dest = self.version_dir(version_id)
        try:
            self.fs.delete_dir(dest)  # on an object store: every key under the prefix
        except FileNotFoundError:
            log.debug("nothing to delete at %s", dest)
        except OSError as exc:
            # The catalog row is gone (or never committed), so gc removes the rest later.
            log.warning("could not delete %s: %s; `floe gc` removes it later", dest, exc)

    # -- reading ------------------------------------------------------------------------------

    def read_manifest_bytes(self, version_id: str) -> bytes:
        """The stored manifest's bytes, unchecked: give them to ``parse_manifest``."""
        path = f"{self.version_dir(version_id)}/{MANIFEST}"
        self._refuse_symlink(path)
        try:
            with self.fs.open_input_stream(path) as handle:
                data: bytes = handle.read()
        except FileNotFoundError as exc:
            raise IntegrityError(
                f"the manifest of version {version_id} is missing from {self.root}; the artifact "
                f"root was changed outside Floe: {RESTORE}"
            ) from exc
        return data

    def read_manifest(self, version_id: str, expected_sha256: str) -> Manifest:
        """The manifest, parsed from the very bytes whose sha256 matched the catalog's."""
        return parse_manifest(self.read_manifest_bytes(version_id), version_id, expected_sha256)

    def materialize(self, version_id: str, manifest: Manifest, cache_dir: Path) -> Path:
        """A private verified copy of the version: a new 0700 directory that the caller owns
        (and removes), holding the manifest's files exactly as they were read and hashed.

        Refused whole (``IntegrityError``, nothing left behind) if a file is missing, differs
        from its sha256, or ``code/`` holds a file the manifest does not list. From an object
        store the copy is made from the local cache under ``cache_dir``, filled (verified) on
        first use."""
        files: Files = manifest.files
        self._refuse_unlisted_code(version_id, files)
        if self.is_local:
            source = Path(self.version_dir(version_id))
            where, fix = "", RESTORE
        else:
            source = cache_dir / version_id
            if not source.exists():
                self._download_all(version_id, files, source)
            where, fix = f" in the local cache {source}", f"delete {source} to download it again"
            refuse(unlisted_code(list_local(source, CODE), files), version_id, where, fix)
        dest = private_dir(f"floe-{version_id}-")
        try:
            bad = []
            for rel, expected in files.items():
                clean = safe_relpath(rel)
                self._refuse_symlink(str(source / clean))
                target = dest / clean
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with open_regular(source / clean) as src, open(target, "xb") as out:
                        sha = copy_hashing(src, out.write)
                except FileNotFoundError:
                    bad.append(f"{rel} (missing)")
                    continue
                if sha != expected.sha256:
                    bad.append(f"{rel} (sha256 differs)")
            refuse(bad, version_id, where, fix)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return dest

    def read_files(self, version_id: str, manifest: Manifest) -> dict[str, bytes]:
        """The version's files in memory, each checked against its sha256 as it was read (for
        Ray's object store: a worker checks them again with ``check_bytes``)."""
        files: Files = manifest.files
        self._refuse_unlisted_code(version_id, files)
        root = self.version_dir(version_id)
        out: dict[str, bytes] = {}
        bad = []
        for rel, expected in files.items():
            clean = safe_relpath(rel)
            path = f"{root}/{clean}"
            self._refuse_symlink(path)
            parts: list[bytes] = []
            try:
                if self.is_local:
                    with open_regular(Path(path)) as src:
                        sha = copy_hashing(src, parts.append)
                else:
                    with self.fs.open_input_stream(path) as stream:
                        sha = copy_hashing(stream, parts.append)
            except FileNotFoundError:
                bad.append(f"{rel} (missing)")
                continue
            if sha != expected.sha256:
                bad.append(f"{rel} (sha256 differs)")
            out[rel] = b"".join(parts)
        refuse(bad, version_id, "", RESTORE)
        return out

    def _refuse_unlisted_code(self, version_id: str, files: Files) -> None:
        """Refuse a version whose stored ``code/`` holds a file its manifest does not list:
        Floe never imports unlisted code, and such a file means someone changed the root."""
        root = self.version_dir(version_id)
        if self.is_local:
            present = list_local(Path(root), CODE)
        else:
            infos = self.fs.get_file_info(
                pafs.FileSelector(f"{root}/code", allow_not_found=True, recursive=True)
            )
            present = [i.path[len(root) + 1 :] for i in infos if i.type != pafs.FileType.Directory]
        refuse(unlisted_code(present, files), version_id, f" in {self.root}",
                f"delete the files Floe did not write, or {RESTORE}")

    def _download_all(
        self, version_id: str, files: Files, local: Path
    ) -> bool:
        """Download into a temporary folder, verify, then move it to ``local``: the cache only
        ever receives checked copies. False when another process placed its copy first."""
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version_id}-", dir=local.parent))
        try:
            for rel in files:
                clean = safe_relpath(rel)
                self.download_file(version_id, clean, tmp / clean)
            verify_files(tmp, files, version_id)
            try:
                os.replace(tmp, local)
            except OSError:
                if local.exists():  # another process won the race; its copy is checked next
                    return False
                raise
            return True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def download_file(self, version_id: str, rel: str, dest: Path) -> None:
        """Copy one stored file to a new local file ``dest`` (never through a link, never over
        an existing file). Errors name the root or the local path they happened on."""
        src = f"{self.version_dir(version_id)}/{rel}"
        self._refuse_symlink(src)
        readable = "check that the artifact root is readable"
        try:
            with self.os_errors(src, readable), self.fs.open_input_stream(src) as handle:
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    out = open(dest, "xb")  # noqa: SIM115 - closed below; errors differ
                except OSError as exc:
                    raise _local_error(dest, exc) from exc
                with out:
                    while chunk := handle.read(_CHUNK):
                        try:
                            out.write(chunk)
                        except OSError as exc:
                            raise _local_error(dest, exc) from exc
        except FileNotFoundError as exc:
            raise NotFound(f"no artifact {rel!r} in version {version_id}") from exc

    def stream_file(self, version_id: str, rel: str, sha256: str) -> Iterator[bytes]:
        """One stored file's bytes in chunks, for a server to send. The file is checked
        against ``sha256`` first (``IntegrityError`` before any byte is sent) and again as it
        is read: a file changed in between ends the stream with ``IntegrityError``."""
        clean = safe_relpath(rel)
        if self.digest(version_id, clean).sha256 != sha256:
            raise IntegrityError(
                f"{clean} of version {version_id} does not match its sha256 in the manifest; "
                f"{RESTORE}"
            )
        src = f"{self.version_dir(version_id)}/{clean}"

        def chunks() -> Iterator[bytes]:
            seen = hashlib.sha256()
            with self.os_errors(src, "check that the artifact root is readable"), \
                    self.fs.open_input_stream(src) as handle:
                while chunk := handle.read(_CHUNK):
                    seen.update(chunk)
                    yield chunk
            if seen.hexdigest() != sha256:
                raise IntegrityError(f"{clean} of version {version_id} changed while it was "
                                     f"sent; {RESTORE}")

        return chunks()

    def digest(self, version_id: str, rel: str) -> FileDigest:
        """The size, sha256 and md5 of one stored file, read from the root."""
        src = f"{self.version_dir(version_id)}/{rel}"
        self._refuse_symlink(src)
        sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        try:
            with (
                self.os_errors(src, "check that the artifact root is readable"),
                self.fs.open_input_stream(src) as handle,
            ):
                while chunk := handle.read(_CHUNK):
                    sha.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
        except FileNotFoundError as exc:
            raise NotFound(f"no artifact {rel!r} in version {version_id}") from exc
        return FileDigest(size, sha.hexdigest(), md5.hexdigest())

    def _refuse_symlink(self, path: str) -> None:
        if not self.is_local:
            return
        base = Path(self.base)
        current = Path(path)
        while current != base and base in current.parents:
            if current.is_symlink():
                raise InvalidInput(
                    f"{current} is a symbolic link; Floe never follows links out of a version"
                )
            current = current.parent

    def file_infos(self, version_id: str) -> dict[str, pafs.FileInfo]:
        """Every file stored for the version by relative path (links are refused)."""
        root = self.version_dir(version_id)
        with self.os_errors(root, "check that the artifact root is a readable directory"):
            infos = self.fs.get_file_info(
                pafs.FileSelector(root, allow_not_found=True, recursive=True)
            )
        out = {}
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            self._refuse_symlink(info.path)
            out[info.path[len(root) + 1 :]] = info
        return out

    # -- garbage collection -------------------------------------------------------------------

    def stored_versions(self) -> Iterator[tuple[str, float]]:
        """(version id, newest modification time in seconds) for every stored version dir.

        Entries without a time (an object store's implied directories) count as 0, so a
        version left as bare directory markers is removable too."""
        root = f"{self.base}/versions"
        with self.os_errors(root, "check that the artifact root is a readable directory"):
            infos = self.fs.get_file_info(
                pafs.FileSelector(root, allow_not_found=True, recursive=True)
            )
        newest: dict[str, float] = {}
        for info in infos:
            rel = PurePosixPath(info.path[len(root) + 1 :])
            if not rel.parts:
                continue
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            key = rel.parts[0]
            newest[key] = max(newest.get(key, 0.0), mtime)
        yield from newest.items()


def _local_error(path: Path, exc: OSError) -> InvalidInput:
    """An OS error on a local destination, as the one error naming the path and the fix."""
    return InvalidInput(
        f"cannot write {exc.filename or path}: {exc.strerror or exc}; choose a directory you "
        "can write to, with room for the files"
    )
