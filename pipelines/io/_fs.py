"""Table locations on ``pyarrow.fs``: resolving paths, listing data files, recovering commits.

A location is a local path (``/data/t``, ``~/t``, ``file:///data/t``) or an object-store URI
that ``pyarrow.fs.FileSystem.from_uri`` opens (``s3://bucket/t?endpoint_override=...``).
Names starting with ``.`` or ``_`` are not data, at any depth: pyarrow, Spark and Ray skip
them too. Floe's own bookkeeping lives beside an output, in its parent, under such names:

    <parent>/<name>/                        the committed table
    <parent>/.<name>.floe-staging-<run_id>/ a run's files until it commits
    <parent>/.<name>.floe-old-<run_id>/     the previous table during a local commit

Two locations overlap when one holds the other, whatever their spelling: ``overlaps``
compares them normalised (``file://`` and plain paths, ``..``, ``//``, trailing ``/``,
symlinks and, for existing directories, the inode, which also catches bind mounts; object
stores by scheme alias, bucket case and normalised key, on any endpoint).

A local commit is two renames (``<name>`` to ``floe-old``, staging to ``<name>``). A process
killed between them leaves no ``<name>`` but a ``floe-old``: ``recover_output`` renames it
back, so the table is exactly what it was before that run. Readers and writers call it first.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from registry import Conflict, InvalidInput, redact_uri

__all__ = [
    "ASIDE_MARK",
    "STAGING_MARK",
    "Location",
    "is_hidden",
    "list_files",
    "overlaps",
    "recover_output",
    "resolve_location",
]

log = logging.getLogger(__name__)

STAGING_MARK = ".floe-staging-"
ASIDE_MARK = ".floe-old-"


@dataclass(frozen=True)
class Location:
    """A file or directory on a filesystem."""

    fs: pafs.FileSystem
    path: str  # the filesystem's own path: /abs/dir, or bucket/prefix; no trailing '/'
    scheme: str  # "" for the local filesystem, else "s3", "gs", ...
    display: str  # the path as configured, secrets redacted: for messages

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def sibling(self, name: str) -> str:
        return f"{self.parent}/{name}"

    def uri(self, fs_path: str) -> str:
        """How Floe names a file in results and messages: a local path, or ``scheme://key``."""
        return fs_path if not self.scheme else f"{self.scheme}://{fs_path}"

    def relative(self, fs_path: str) -> str:
        return fs_path[len(self.path) + 1 :]


def resolve_location(path: str, *, what: str) -> Location:
    """Open ``path``'s filesystem; ``what`` names the config field for messages."""
    try:
        display = redact_uri(path)
    except ValueError:  # urlsplit refuses it (s3://[x): say so without echoing it
        display = "<a URI that does not parse>"
    try:
        if "://" in path:
            fs, fs_path = pafs.FileSystem.from_uri(path)
            scheme = "" if isinstance(fs, pafs.LocalFileSystem) else urlsplit(path).scheme.lower()
            if not scheme:  # file:///a/../b names what the plain path /a/../b names
                fs_path = str(Path(fs_path).resolve())
        else:
            fs, fs_path, scheme = pafs.LocalFileSystem(), str(Path(path).expanduser().resolve()), ""
    except (ValueError, OSError) as exc:
        detail = str(exc).replace(path, display)
        raise InvalidInput(
            f"cannot open {what} {display!r}: {detail}; give a local path or a URI such as "
            "s3://bucket/prefix"
        ) from exc
    fs_path = fs_path.rstrip("/") or "/"
    return Location(fs=fs, path=fs_path, scheme=scheme, display=display)


#: Schemes pyarrow (or a user) may spell differently for one store.
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}


def overlaps(a: Location, b: Location) -> bool:
    """Whether ``a`` and ``b`` are the same place or one is inside the other.

    Local paths are compared resolved (``resolve_location`` did it) and, for what exists, by
    device and inode, so a symlink, a bind mount or a case-insensitive file system cannot
    hide an overlap. Object-store locations are compared by scheme (``s3a`` is ``s3``),
    bucket (case-folded) and key with ``//``, ``.`` and ``..`` collapsed; the endpoint and
    other URI options are ignored, so the same bucket on two spellings of one endpoint
    still counts as one place (refusing too much is safe; refusing too little loses data).
    """
    if a.is_local != b.is_local:
        return False
    if a.is_local:
        return _is_within(_parts(a.path), _parts(b.path)) or _same_inode_chain(a.path, b.path)
    if _SCHEME_ALIASES.get(a.scheme, a.scheme) != _SCHEME_ALIASES.get(b.scheme, b.scheme):
        return False
    return _is_within(_store_parts(a.path), _store_parts(b.path))


def _parts(path: str) -> tuple[str, ...]:
    return PurePosixPath(posixpath.normpath(path)).parts


def _store_parts(path: str) -> tuple[str, ...]:
    bucket, _, key = path.lstrip("/").partition("/")
    normalised = posixpath.normpath("/" + key).lstrip("/")
    parts = tuple(p for p in normalised.split("/") if p and p != ".")
    return (bucket.casefold(), *parts)


def _is_within(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether one of the two component paths is a prefix of the other (or they are equal)."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _same_inode_chain(a: str, b: str) -> bool:
    """Whether an existing ``a`` is ``b`` or one of its ancestors on disk, or the reverse."""
    own_a, chain_a = _inodes(a)
    own_b, chain_b = _inodes(b)
    return (own_a is not None and own_a in chain_b) or (own_b is not None and own_b in chain_a)


def _inodes(path: str) -> tuple[tuple[int, int] | None, set[tuple[int, int]]]:
    """``(device, inode)`` of ``path`` (``None`` if it does not exist), and of it and every
    ancestor that exists."""
    own: tuple[int, int] | None = None
    chain: set[tuple[int, int]] = set()
    for depth, where in enumerate((Path(path), *Path(path).parents)):
        try:
            stat = where.stat()
        except OSError:
            continue
        if depth == 0:
            own = (stat.st_dev, stat.st_ino)
        chain.add((stat.st_dev, stat.st_ino))
    return own, chain


def is_hidden(relative_path: str) -> bool:
    """Whether a path below a table's root is bookkeeping rather than data."""
    return any(part.startswith((".", "_")) for part in relative_path.split("/"))


def list_files(loc: Location) -> list[str] | None:
    """The data files at ``loc`` (itself, if a file), sorted; ``None`` if nothing is there."""
    info = loc.fs.get_file_info(loc.path)
    if info.type == pafs.FileType.File:
        return [loc.path]
    if info.type != pafs.FileType.Directory:
        return None
    found = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=True))
    return sorted(
        f.path
        for f in found
        if f.type == pafs.FileType.File and not is_hidden(loc.relative(f.path))
    )


def _siblings(loc: Location, mark: str) -> list[str]:
    """Names in ``loc``'s parent that start with ``.<name><mark>`` (local only)."""
    try:
        entries = os.listdir(loc.parent or "/")
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(f".{loc.name}{mark}"))


def recover_output(loc: Location, *, is_writer: bool) -> None:
    """Finish what a killed local commit left: put the previous table back if it is missing.

    With the table in place, a writer also deletes ``floe-old`` copies that a finished commit
    did not get to delete. Object stores never rename, so there is nothing to recover there.
    """
    if not loc.is_local:
        return
    asides = _siblings(loc, ASIDE_MARK)
    if not asides:
        return
    if not os.path.lexists(loc.path):
        if len(asides) > 1:
            listed = ", ".join(loc.sibling(a) for a in asides)
            raise Conflict(
                f"{loc.display} is missing and several earlier versions were left beside it "
                f"({listed}); rename the one to keep to {loc.path} and delete the others"
            )
        aside = loc.sibling(asides[0])
        run_id = asides[0].removeprefix(f".{loc.name}{ASIDE_MARK}")
        os.rename(aside, loc.path)
        shutil.rmtree(loc.sibling(f".{loc.name}{STAGING_MARK}{run_id}"), ignore_errors=True)
        log.warning(
            "restored %s from %s: run %s stopped in the middle of its commit",
            loc.display,
            aside,
            run_id,
        )
        return
    if is_writer:
        for aside in asides:
            shutil.rmtree(loc.sibling(aside), ignore_errors=True)
