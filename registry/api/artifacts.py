"""``Registry``'s artifact methods: list and download a version's files (READ), and collect
what no catalog row references (ADMIN)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from registry.access.authorize import require_admin
from registry.api.context import Context
from registry.api.model_version import ModelVersion
from registry.artifacts.deliver import deliver_files, destination_dir
from registry.artifacts.paths import redact_uri
from registry.artifacts.store import MANIFEST
from registry.errors import Conflict, IntegrityError, NotFound
from registry.identifiers import format_identifier

__all__ = ["ArtifactsMixin"]


class ArtifactsMixin:
    _ctx: Context
    catalog_url: str

    if TYPE_CHECKING:
        def _version_for_url(self, url: str) -> tuple[ModelVersion, str]: ...

    def list_artifacts(self, url: str) -> pd.DataFrame:
        """Files of a version (or of a folder or file in it): name, size, md5, sha256,
        last_modified. Every row has both digests, MANIFEST.yml's own included."""
        mv, path = self._version_for_url(url)
        artifacts = self._ctx.artifacts
        artifacts.ownership.check()
        row = self._ctx.store.get_version(mv.id)
        manifest = artifacts.read_manifest(row.id, row.manifest_sha256)
        infos = artifacts.file_infos(row.id)
        prefix = f"versions/{format_identifier(row.name)}/"
        records = []
        for rel in sorted(infos):
            if path and rel != path and not rel.startswith(path + "/"):
                continue
            info = infos[rel]
            entry = manifest.files.get(rel)
            if entry is None and rel != MANIFEST:
                continue  # not part of the version (left by hand); never listed or served
            recorded = (
                self._manifest_digests(mv, row.id, row.manifest_sha256) if entry is None
                else {"md5": entry.md5, "sha256": entry.sha256}
            )
            records.append(
                {
                    "name": prefix + rel,
                    "size": info.size,
                    "md5": recorded["md5"],
                    "sha256": recorded["sha256"],
                    "last_modified": info.mtime,
                }
            )
        if path and not records:
            raise NotFound(f"{url} names no file or folder of {mv}; list them: floe artifacts list")
        return pd.DataFrame.from_records(
            records, columns=["name", "size", "md5", "sha256", "last_modified"]
        ).astype({"md5": object})

    def _manifest_digests(self, mv: ModelVersion, version_id: str, sha256: str) -> dict[str, str]:
        """MANIFEST.yml's md5 and sha256 (the manifest cannot record its own digests)."""
        digest = self._ctx.artifacts.digest(version_id, MANIFEST)
        if digest.sha256 != sha256:
            raise IntegrityError(
                f"the manifest of {mv} was modified after logging; restore the artifact root "
                "from a backup or delete the version"
            )
        return {"md5": digest.md5, "sha256": digest.sha256}

    def get_artifact(self, url: str, local_dir: str | Path) -> list[Path]:
        """Download a file or a folder of a version into the directory ``local_dir`` (made when
        absent) and return the files' paths, as Snowflake's ``GET``: a file lands inside it
        under its own name, a folder's files under their paths in that folder.

        Every file is checked against its sha256 before it is placed, never through a symbolic
        link, and never over a file of the same name with other contents (that is refused,
        listing them; one with the same contents counts as downloaded). A failure leaves the
        directory as it was (see ``registry.artifacts.deliver``)."""
        dest_root = destination_dir(local_dir)
        mv, path, version_id, hashes = self._version_files(url)
        if path in hashes:  # one file: into local_dir, under its own name
            files = {path: (path.rsplit("/", 1)[-1], hashes[path])}
        else:  # a folder ('' is the whole version): its files under their paths in it
            files = {
                rel: (rel[len(path) + 1 :] if path else rel, hashes[rel])
                for rel in sorted(hashes)
                if not path or rel.startswith(path + "/")
            }
        if not files:
            raise NotFound(f"{url} names no file or folder of {mv}; list them: floe artifacts list")
        return deliver_files(self._ctx.artifacts, version_id, files, dest_root, str(mv))

    def open_artifact(self, url: str) -> tuple[str, int, str, Iterator[bytes]]:
        """One file of a version, for a server to send: its name, size, sha256 and its bytes
        in chunks, checked against the manifest before the first chunk and again as they are
        read (``IntegrityError``). Needs READ, as ``get_artifact``; a folder is refused."""
        mv, path, version_id, hashes = self._version_files(url)
        if path not in hashes:
            is_folder = not path or any(rel.startswith(path + "/") for rel in hashes)
            what = "a folder" if is_folder else "no file"
            raise NotFound(f"{url} names {what} of {mv}, not a file; list its files: floe "
                           "artifacts list")
        artifacts = self._ctx.artifacts
        size = artifacts.file_infos(version_id)[path].size
        return path.rsplit("/", 1)[-1], int(size or 0), hashes[path], artifacts.stream_file(
            version_id, path, hashes[path])

    def _version_files(self, url: str) -> tuple[ModelVersion, str, str, dict[str, str]]:
        """The version a ``floe://`` URL names (READ needed), the path in it, the version's
        stored id and every file's sha256 as its manifest records it (MANIFEST.yml's own
        from the catalog)."""
        mv, path = self._version_for_url(url)
        artifacts = self._ctx.artifacts
        artifacts.ownership.check()
        row = self._ctx.store.get_version(mv.id)
        manifest = artifacts.read_manifest(row.id, row.manifest_sha256)
        hashes = {rel: entry.sha256 for rel, entry in manifest.files.items()}
        hashes[MANIFEST] = row.manifest_sha256
        return mv, path, row.id, hashes

    def gc(self, *, grace_period_s: float = 3600.0) -> list[str]:
        """Remove stored versions that no catalog row references (left by failed or killed
        log_model calls), once older than ``grace_period_s``; return their ids.

        Only in a root this catalog owns (its ``FLOE_ROOT.yml`` names it): the versions of a
        catalog sharing the root would look unreferenced. A root without that marker (made
        before Floe wrote one) is claimed, unless none of its versions is this catalog's."""
        require_admin(self._ctx.store, self._ctx.caller, action="collect the artifact root")
        artifacts = self._ctx.artifacts
        is_owned = artifacts.ownership.check(is_cache_ok=False)
        live = self._ctx.store.all_version_ids()
        stored = list(artifacts.stored_versions())
        if not is_owned:
            if stored and not any(version_id in live for version_id, _ in stored):
                raise Conflict(
                    f"artifact root {artifacts.root} records no owner and none of its "
                    f"{len(stored)} stored versions belongs to this catalog "
                    f"({redact_uri(self.catalog_url)}): it is probably another catalog's root, "
                    "so nothing was removed; open that catalog (--catalog-url), or give this "
                    "one its own root (--artifact-root)"
                )
            artifacts.ownership.claim()
        cutoff = time.time() - grace_period_s
        removed = []
        for version_id, mtime in stored:
            if version_id in live or mtime > cutoff or not version_id.isalnum():
                continue
            artifacts.delete_version(version_id)
            removed.append(version_id)
        return removed
