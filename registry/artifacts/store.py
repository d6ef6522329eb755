"""Immutable, hash-verified version artifacts under one root, through ``pyarrow.fs``.

A local path and an object-store URI (``s3://bucket/prefix?endpoint_override=...``) work the
same way. Each version's files live under ``<root>/versions/<version id>/``: the id never
changes, so renames and moves touch only the catalog. A version is written completely, with
``MANIFEST.yml`` last, *before* its catalog row commits; until then it is invisible, and if
the writer dies in between, ``floe gc`` removes what it left.

Nothing is deserialised before its bytes match the sha256 recorded in the manifest, and the
manifest's own sha256 is recorded in the catalog. From an object store (which has no
directories: no marker objects are written) a version is downloaded to a local cache that only
receives verified copies, and is verified again at every load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import pyarrow.fs as pafs

from registry.errors import IntegrityError, InvalidInput, NotFound
from registry.packaging.manifest import FileEntry, Manifest, parse_manifest

__all__ = [
    "MANIFEST",
    "ArtifactStore",
    "FileDigest",
    "digest_file",
    "hash_tree",
    "redact_uri",
    "safe_relpath",
    "verify_files",
]

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.yml"
_CHUNK = 1 << 20
# Object stores have no directories, only keys: creating one writes an empty marker object.
_OBJECT_STORES = frozenset({"s3", "gcs", "abfs"})


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: str
    md5: str


def digest_file(path: Path) -> FileDigest:
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return FileDigest(size, sha.hexdigest(), md5.hexdigest())


def hash_tree(root: Path) -> dict[str, FileDigest]:
    """Digest every regular file under ``root`` by POSIX relative path; refuse symlinks."""
    out: dict[str, FileDigest] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            if full.is_symlink():
                raise InvalidInput(
                    f"{full} is a symbolic link; model artifacts must be regular files, copy it"
                )
        for name in sorted(filenames):
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = digest_file(full)
    return out


def safe_relpath(path: str, *, what: str = "artifact path") -> str:
    """Normalise a path inside a version; refuse anything that could leave it."""
    if "\\" in path or "\x00" in path:
        raise InvalidInput(f"{what} {path!r} holds a backslash or NUL; use '/'-separated names")
    if path.startswith("/"):
        raise InvalidInput(f"{what} {path!r} is absolute; give a path relative to the version")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInput(f"{what} {path!r} leaves its version ('..'); remove the '..' parts")
    return "/".join(parts)


def redact_uri(root: str) -> str:
    """``root`` with the secret of ``s3://ACCESS_KEY:SECRET_KEY@bucket/...`` replaced by ***."""
    if "://" not in root:
        return root
    parts = urlsplit(root)
    if not parts.password:
        return root
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}"))


def verify_files(
    local: Path,
    files: Mapping[str, FileEntry],
    version_id: str,
    *,
    where: str = "",
    fix: str = "restore the artifact root from a backup or delete the version",
) -> None:
    """Check every file of a version under ``local`` against its recorded sha256."""
    bad = []
    for rel, expected in files.items():
        path = local / safe_relpath(rel)
        if path.is_symlink() or not path.is_file():
            bad.append(f"{rel} (missing)")
            continue
        if digest_file(path).sha256 != expected.sha256:
            bad.append(f"{rel} (sha256 differs)")
    if bad:
        raise IntegrityError(
            f"artifacts of version {version_id}{where} do not match their manifest: "
            f"{', '.join(bad)}; nothing was loaded: {fix}"
        )


class ArtifactStore:
    """The artifact root: a local directory or an object-store URI."""

    def __init__(self, root: str) -> None:
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
        if self.is_local:
            Path(self.base, "versions").mkdir(parents=True, exist_ok=True)

    def version_dir(self, version_id: str) -> str:
        if not version_id.isalnum():
            raise InvalidInput(f"invalid version id {version_id!r}")
        return f"{self.base}/versions/{version_id}"

    # -- writing ------------------------------------------------------------------------------

    def publish(self, version_id: str, staged: Path, manifest: Manifest) -> str:
        """Copy a staged version to the root, manifest last; return the manifest's sha256."""
        dest = self.version_dir(version_id)
        manifest_bytes = manifest.to_yaml()
        try:
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

    def read_manifest(self, version_id: str, expected_sha256: str) -> Manifest:
        path = f"{self.version_dir(version_id)}/{MANIFEST}"
        self._refuse_symlink(path)
        try:
            with self.fs.open_input_stream(path) as handle:
                data = handle.read()
        except FileNotFoundError as exc:
            raise IntegrityError(
                f"the manifest of version {version_id} is missing from {self.root}; the artifact "
                "root was changed outside Floe: restore it from a backup or delete the version"
            ) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise IntegrityError(
                f"the manifest of version {version_id} was modified after logging (sha256 "
                f"{actual[:12]}… != {expected_sha256[:12]}…); nothing was loaded: restore the "
                "artifact root from a backup or delete the version"
            )
        return parse_manifest(data, version_id=version_id)

    def materialize(self, version_id: str, manifest: Manifest, cache_dir: Path) -> Path:
        """A local directory holding the version's files, every one checked against its hash."""
        files = manifest.files
        if self.is_local:
            local = Path(self.version_dir(version_id))
            self.verify(local, files, version_id)
            return local
        local = cache_dir / version_id
        if not local.exists() and self._download_all(version_id, files, local):
            return local
        self.verify(
            local, files, version_id,
            where=f" in the local cache {local}", fix=f"delete {local} to download it again",
        )
        return local

    def _download_all(
        self, version_id: str, files: Mapping[str, FileEntry], local: Path
    ) -> bool:
        """Download into a temporary folder, verify, then move it to ``local``: the cache only
        ever receives checked copies. False when another process placed its copy first."""
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version_id}-", dir=local.parent))
        try:
            for rel in files:
                clean = safe_relpath(rel)
                self.download_file(version_id, clean, tmp / clean)
            self.verify(tmp, files, version_id)
            try:
                os.replace(tmp, local)
            except OSError:
                if local.exists():  # another process won the race; its copy is checked next
                    return False
                raise
            return True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def verify(
        self,
        local: Path,
        files: Mapping[str, FileEntry],
        version_id: str,
        *,
        where: str = "",
        fix: str = "restore the artifact root from a backup or delete the version",
    ) -> None:
        verify_files(local, files, version_id, where=where, fix=fix)

    def download_file(self, version_id: str, rel: str, dest: Path) -> None:
        src = f"{self.version_dir(version_id)}/{rel}"
        self._refuse_symlink(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.fs.open_input_stream(src) as handle, open(dest, "wb") as out:
                while chunk := handle.read(_CHUNK):
                    out.write(chunk)
        except FileNotFoundError as exc:
            raise NotFound(f"no artifact {rel!r} in version {version_id}") from exc

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
        infos = self.fs.get_file_info(pafs.FileSelector(root, allow_not_found=True, recursive=True))
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
        infos = self.fs.get_file_info(pafs.FileSelector(root, allow_not_found=True, recursive=True))
        newest: dict[str, float] = {}
        for info in infos:
            rel = PurePosixPath(info.path[len(root) + 1 :])
            if not rel.parts:
                continue
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            key = rel.parts[0]
            newest[key] = max(newest.get(key, 0.0), mtime)
        yield from newest.items()
