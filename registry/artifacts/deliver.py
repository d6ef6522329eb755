"""Download a version's files into a user's directory (``get_artifact``) without harming it.

Snowflake's ``GET`` puts the files *inside* the directory it is given; so does Floe. Every
file is first downloaded into a private staging directory (``.floe-get-*``, mode 0700) inside
the destination and checked against its sha256 there. Only then are the files placed, each
with a hard link that fails rather than replace anything, walking the destination's folders
without following symbolic links (``O_NOFOLLOW``), so a link planted in the destination
(``local_dir/conda.yml -> ~/.bashrc``) is refused and never written through.

A file of the same name that already exists is left alone: when its bytes are the version's
it simply counts as downloaded (running the same ``get`` twice works); when they differ,
nothing is written and the error lists every such file. On any failure, what this call
placed (files, then the folders it made) is removed again, and nothing else is touched: the
user's files stay exactly as they were.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from registry.artifacts.digests import digest_file
from registry.artifacts.store import ArtifactStore
from registry.errors import AlreadyExists, FloeError, IntegrityError, InvalidInput

__all__ = ["deliver_files", "destination_dir"]

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP}


def destination_dir(local_dir: object) -> Path:
    """``local_dir`` as a path to download into; anything else is one ``InvalidInput``."""
    if isinstance(local_dir, os.PathLike):
        local_dir = os.fspath(local_dir)
    if not isinstance(local_dir, str):
        raise InvalidInput(
            f"local_dir must be a path (str or pathlib.Path), not {type(local_dir).__name__}; "
            "pass the directory to download into"
        )
    if not local_dir or "\x00" in local_dir:
        raise InvalidInput(f"local_dir {local_dir!r} is empty or holds a NUL; give a directory")
    path = Path(local_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{path} is a file; give a directory to download into")
    return path


@dataclass
class _Placed:
    """What one call wrote into the destination, so that a failure can take exactly it back."""

    files: list[tuple[Path, int]]  # (path, inode) of each file placed
    dirs: list[Path]  # folders made, outermost first


def deliver_files(
    artifacts: ArtifactStore,
    version_id: str,
    files: Mapping[str, tuple[str, str]],
    dest_root: Path,
    label: str,
) -> list[Path]:
    """Download ``files`` (stored path → (path under ``dest_root``, sha256)) into ``dest_root``;
    return the destination paths, in the order given."""
    placed = _Placed([], [])
    _make_dirs(dest_root, placed)
    staging: Path | None = None
    is_done = False
    try:
        to_place = _plan(dest_root, files)  # before downloading: fail fast on a clash
        try:
            staging = Path(tempfile.mkdtemp(prefix=".floe-get-", dir=dest_root))
        except OSError as exc:
            raise _write_error(dest_root, exc) from exc
        for rel, (target, sha256) in files.items():
            staged = staging / target
            artifacts.download_file(version_id, rel, staged)
            if digest_file(staged).sha256 != sha256:
                raise IntegrityError(
                    f"{rel} of {label} does not match its manifest; nothing was written to "
                    f"{dest_root}: restore the artifact root from a backup or delete the version"
                )
        for target in to_place:
            _place(staging / target, dest_root, target, placed)
        is_done = True
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not is_done:
            _undo(placed)  # after the staging folder is gone, so folders made are empty
    return [dest_root / target for target, _sha in files.values()]


def _plan(dest_root: Path, files: Mapping[str, tuple[str, str]]) -> list[str]:
    """The targets to write; refuse links on the way and existing files that differ."""
    to_place, differ = [], []
    for target, sha256 in files.values():
        existing = _existing(dest_root, target)
        if existing is None:
            to_place.append(target)
        elif digest_file(existing).sha256 != sha256:
            differ.append(str(existing))
        # else: the version's bytes are there already; nothing to write
    if differ:
        raise AlreadyExists(
            f"{len(differ)} file(s) already exist with other contents: {', '.join(differ)}; "
            "nothing was written: move them away or download into another directory"
        )
    return to_place


def _existing(dest_root: Path, target: str) -> Path | None:
    """The regular file at ``dest_root/target``, or None when absent; a link on the way, or
    something else where a folder or the file belongs, is refused."""
    path = dest_root
    parts = PurePosixPath(target).parts
    for i, part in enumerate(parts):
        path = path / part
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _write_error(path, exc) from exc
        if stat.S_ISLNK(info.st_mode):
            raise InvalidInput(
                f"{path} is a symbolic link; Floe never writes through links: remove it or "
                "download into another directory"
            )
        if i == len(parts) - 1:
            if not stat.S_ISREG(info.st_mode):
                raise InvalidInput(f"{path} exists and is not a file; remove it first")
            return path
        if not stat.S_ISDIR(info.st_mode):
            raise InvalidInput(f"{path} exists and is not a directory; remove it first")
    return None


def _place(staged: Path, dest_root: Path, target: str, placed: _Placed) -> None:
    """Link ``staged`` to ``dest_root/target``, opening each folder without following links
    and never replacing an entry (a file planted since ``_plan`` makes it fail)."""
    *folders, name = PurePosixPath(target).parts
    path = dest_root
    fd = os.open(dest_root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for folder in folders:
            path = path / folder
            try:
                os.mkdir(folder, 0o777, dir_fd=fd)
                placed.dirs.append(path)
            except FileExistsError:
                pass
            except OSError as exc:
                raise _write_error(path, exc) from exc
            try:
                child = os.open(folder, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise InvalidInput(
                    f"{path} is not a directory (or is a symbolic link, which Floe never writes "
                    "through); remove it or download into another directory"
                ) from exc
            os.close(fd)
            fd = child
        try:
            os.link(staged, name, dst_dir_fd=fd, follow_symlinks=False)
        except FileExistsError as exc:
            raise AlreadyExists(
                f"{path / name} appeared while downloading; nothing was kept: retry"
            ) from exc
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise _write_error(path / name, exc) from exc
            _copy_new(staged, name, fd, path / name)  # a filesystem without hard links
        placed.files.append((path / name, os.stat(name, dir_fd=fd, follow_symlinks=False).st_ino))
    finally:
        os.close(fd)


def _copy_new(staged: Path, name: str, dir_fd: int, shown: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        out = os.open(name, flags, 0o666, dir_fd=dir_fd)
    except OSError as exc:
        raise _write_error(shown, exc) from exc
    with open(out, "wb") as handle, open(staged, "rb") as src:
        shutil.copyfileobj(src, handle)


def _make_dirs(path: Path, placed: _Placed) -> None:
    """``mkdir -p path``, recording the folders made."""
    missing = []
    current = path
    while not current.exists() and not current.is_symlink():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            _undo(placed)
            raise _write_error(folder, exc) from exc
        placed.dirs.append(folder)
    if not path.is_dir():
        _undo(placed)
        raise InvalidInput(f"{path} is not a directory; give a directory to download into")


def _undo(placed: _Placed) -> None:
    """Remove what this call placed, and nothing else: a file only while it is still the one
    written (same inode), a folder only when empty."""
    for path, inode in reversed(placed.files):
        try:
            if path.lstat().st_ino == inode:
                path.unlink()
        except OSError as exc:
            log.warning("could not remove %s after a failed download: %s", path, exc)
    for folder in reversed(placed.dirs):
        try:
            folder.rmdir()
        except OSError:
            log.debug("left %s: not empty or gone", folder)
    placed.files.clear()
    placed.dirs.clear()


def _write_error(path: Path, exc: OSError) -> FloeError:
    return InvalidInput(
        f"cannot write {path}: {exc.strerror or exc}; choose a directory you can write to, with "
        "room for the files"
    )
