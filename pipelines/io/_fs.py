"""Table locations on ``pyarrow.fs``: resolving paths, listing data files, recovering commits.

A location is a local path (``/data/t``, ``~/t``, ``file:///data/t``) or an object-store URI
that ``pyarrow.fs.FileSystem.from_uri`` opens (``s3://bucket/t?endpoint_override=...``).
Names starting with ``.`` or ``_`` are not data, at any depth: pyarrow, Spark and Ray skip
them too. Floe's own bookkeeping lives beside an output, in its parent, under such names:

    <parent>/<name>/                        the committed table
    <parent>/.<name>.floe-staging-<run_id>/ a run's files until it commits
    <parent>/.<name>.floe-old-<run_id>/     the previous table during a local commit

A local commit is two renames (``<name>`` to ``floe-old``, staging to ``<name>``). A process
killed between them leaves no ``<name>`` but a ``floe-old``: ``recover_output`` renames it
back, so the table is exactly what it was before that run. Readers and writers call it first.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from registry import Conflict, InvalidInput, redact_uri

__all__ = [
    "ASIDE_MARK",
    "STAGING_MARK",
    "Location",
    "is_hidden",
    "list_files",
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
    display = redact_uri(path)
    try:
        if "://" in path:
            fs, fs_path = pafs.FileSystem.from_uri(path)
            scheme = "" if isinstance(fs, pafs.LocalFileSystem) else urlsplit(path).scheme
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
