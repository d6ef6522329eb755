"""One artifact root per catalog: ``<root>/FLOE_ROOT.yml`` names the catalog that owns it.

``floe gc`` removes stored versions its catalog does not know, so two catalogs sharing a root
would delete each other's versions. The first publish into a root (or its first gc) writes
the marker with the catalog's id (``floe_catalog``, migration 0004); from then on any other
catalog is refused, on publish, gc and artifact reads, with an error naming both catalogs.
Checking only reads (once per store); nothing is written until a write.

On a local root the marker is created exclusively (a hard link that fails when it exists), so
of two first writers one wins and the other is refused. An object store has no
create-if-absent: the marker is written, then read back, which narrows the race to writers
whose write and read interleave.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from registry.errors import Conflict, IntegrityError

if TYPE_CHECKING:
    from registry.artifacts.store import ArtifactStore

__all__ = ["ROOT_MARKER", "RootOwnership"]

log = logging.getLogger(__name__)

ROOT_MARKER = "FLOE_ROOT.yml"
_READABLE = "check that the artifact root is a readable directory"
_WRITABLE = "check that the artifact root is writable"


class RootOwnership:
    """The owner of one store's root, checked against the catalog using it (``catalog_id``,
    called on first need; without one nothing is checked or written)."""

    def __init__(
        self, store: ArtifactStore, catalog_id: Callable[[], str] | None, catalog_label: str
    ) -> None:
        self._store = store
        self._catalog_id = catalog_id
        self._catalog_label = catalog_label
        self._is_owned = False  # the marker was seen naming this catalog

    @property
    def marker_path(self) -> str:
        return f"{self._store.base}/{ROOT_MARKER}"

    def owner(self) -> dict[str, str] | None:
        """The catalog the marker records (``catalog_id``, ``catalog``), or None without one."""
        store = self._store
        with store.os_errors(self.marker_path, _READABLE):
            try:
                with store.fs.open_input_stream(self.marker_path) as handle:
                    data = handle.read()
            except FileNotFoundError:
                return None
        try:
            doc = yaml.safe_load(data)
        except yaml.YAMLError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("catalog_id"), str):
            raise IntegrityError(
                f"{store.root}/{ROOT_MARKER} is malformed; it records which catalog owns the "
                "artifact root: restore it from a backup"
            )
        return {"catalog_id": doc["catalog_id"], "catalog": str(doc.get("catalog", "?"))}

    def check(self, *, is_cache_ok: bool = True) -> bool:
        """Refuse a root another catalog owns; True when this catalog owns it, False when none
        does yet (or no catalog was given). Reads the marker once, unless ``is_cache_ok`` is
        False (gc reads it again)."""
        if self._catalog_id is None:
            return False
        if self._is_owned and is_cache_ok:
            return True
        found = self.owner()
        if found is None:
            self._is_owned = False
            return False
        mine = self._catalog_id()
        if found["catalog_id"] != mine:
            raise Conflict(
                f"artifact root {self._store.root} belongs to catalog {found['catalog']} (id "
                f"{found['catalog_id']}), not to {self._catalog_label} (id {mine}); two catalogs "
                "must not share a root (floe gc of one would delete the other's versions): give "
                "this catalog its own artifact root (--artifact-root or FLOE_ARTIFACT_ROOT), or "
                "open the catalog that owns it (--catalog-url or FLOE_CATALOG_URL)"
            )
        self._is_owned = True
        return True

    def claim(self) -> None:
        """Record this catalog as the root's owner unless it is already; refuse another's."""
        if self._catalog_id is None or self.check():
            return
        doc = {
            "floe_artifact_root": 1,
            "catalog_id": self._catalog_id(),
            "catalog": self._catalog_label,
            "created_on": datetime.now(UTC).isoformat(),
        }
        data = yaml.safe_dump(doc, sort_keys=False).encode()
        store = self._store
        with store.os_errors(self.marker_path, _WRITABLE):
            if store.is_local:
                _create_exclusive(Path(self.marker_path), data)
            else:
                with store.fs.open_output_stream(self.marker_path) as out:
                    out.write(data)
        log.info("artifact root %s now belongs to %s", store.root, self._catalog_label)
        self.check()  # a concurrent first writer for another catalog is refused here


def _create_exclusive(path: Path, data: bytes) -> None:
    """Write ``path`` whole, or not at all when it exists (the losing racer keeps its own)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
