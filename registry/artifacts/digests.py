"""File digests: the sha256 and md5 of a file, of a tree, and the check of a folder against a
manifest's ``files``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from registry.artifacts.paths import safe_relpath
from registry.artifacts.verified import RESTORE, Files, refuse
from registry.errors import InvalidInput

__all__ = ["FileDigest", "digest_file", "hash_tree", "verify_files"]

_CHUNK = 1 << 20


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


def verify_files(
    local: Path,
    files: Files,
    version_id: str,
    *,
    where: str = "",
    fix: str = RESTORE,
) -> None:
    """Check every file of a version under ``local`` against its recorded sha256 (for copies
    that are not loaded from: a download, an export; loading uses ``materialize``)."""
    bad = []
    for rel, expected in files.items():
        path = local / safe_relpath(rel)
        if path.is_symlink() or not path.is_file():
            bad.append(f"{rel} (missing)")
            continue
        if digest_file(path).sha256 != expected.sha256:
            bad.append(f"{rel} (sha256 differs)")
    refuse(bad, version_id, where, fix)
