"""Verified reads of a version's files: what the loader deserialises is what was hashed.

``ArtifactStore.materialize`` copies each file into a ``private_dir`` while hashing the bytes
it writes (``open_regular``, ``copy_hashing``); ``check_bytes`` checks file contents held in
memory (a payload shipped to a Ray worker) before they are written to a private directory. ``parse_manifest`` parses the manifest from the very bytes whose sha256 matched the
catalog's. A file under ``code/`` that the manifest does not list is refused
(``unlisted_code``): Floe never imports unlisted code.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from registry.errors import IntegrityError
from registry.packaging.manifest import FileEntry, Manifest
from registry.packaging.manifest import parse_manifest as parse_manifest_document

__all__ = [
    "CODE",
    "RESTORE",
    "Files",
    "check_bytes",
    "copy_hashing",
    "list_local",
    "open_regular",
    "parse_manifest",
    "private_dir",
    "refuse",
    "unlisted_code",
]

CODE = "code/"
RESTORE = "restore the artifact root from a backup or delete the version"
Files = Mapping[str, FileEntry]  # the manifest's ``files``: path -> size, sha256, md5
_CHUNK = 1 << 20


def private_dir(prefix: str) -> Path:
    """A new directory only this user can enter (``mkdtemp`` creates it with mode 0700)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def parse_manifest(
    data: bytes, version_id: str, expected_sha256: str, *, where: str = ""
) -> Manifest:
    """The typed manifest parsed from exactly ``data``, once its sha256 matches the catalog's;
    ``IntegrityError`` for a manifest that does not match or does not parse."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise IntegrityError(
            f"the manifest of version {version_id}{where} was modified after logging (sha256 "
            f"{actual[:12]}… != {expected_sha256[:12]}…); nothing was loaded: {RESTORE}"
        )
    return parse_manifest_document(data, version_id=version_id)


def check_bytes(
    data: Mapping[str, bytes], files: Files, version_id: str, *, where: str, fix: str
) -> None:
    """Check file contents held in memory against the manifest: every listed file present with
    its sha256, and nothing that the manifest does not list."""
    bad = [f"{rel} (missing)" for rel in files if rel not in data]
    bad += [
        f"{rel} (sha256 differs)" for rel, body in data.items()
        if rel in files and hashlib.sha256(body).hexdigest() != files[rel].sha256
    ]
    bad += [f"{rel} (not in the manifest)" for rel in data if rel not in files]
    refuse(bad, version_id, where, fix)


def refuse(bad: list[str], version_id: str, where: str, fix: str) -> None:
    if bad:
        raise IntegrityError(
            f"artifacts of version {version_id}{where} do not match their manifest: "
            f"{', '.join(bad)}; nothing was loaded: {fix}"
        )


def open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file: never through a final symlink,
    never blocking on a FIFO (FileNotFoundError otherwise, reported as missing)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise FileNotFoundError(str(path)) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileNotFoundError(str(path))
    return os.fdopen(fd, "rb")


def copy_hashing(source: IO[bytes], sink: Callable[[bytes], object]) -> str:
    """Stream ``source`` into ``sink``; the sha256 of exactly the bytes that went there."""
    sha = hashlib.sha256()
    while chunk := source.read(_CHUNK):
        sha.update(chunk)
        sink(chunk)
    return sha.hexdigest()


def unlisted_code(present: list[str], files: Files) -> list[str]:
    return sorted(f"{rel} (not in the manifest)" for rel in present
                  if rel.startswith(CODE) and rel not in files)


def list_local(root: Path, under: str) -> list[str]:
    """Every entry below ``root/under`` but directories (files, links, FIFOs ...) as a path
    relative to ``root``; links to directories are listed, not followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root / under):
        names = filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        out += [(Path(dirpath) / name).relative_to(root).as_posix() for name in names]
    return out
