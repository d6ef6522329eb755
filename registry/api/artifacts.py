"""``Registry``'s artifact methods (list and download a version's files: READ; collect what
no catalog row references: ADMIN), and the functions that do them on an artifact root
(``LocalBackend``'s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from registry.access.authorize import require_admin
from registry.api.backend import Backend, VersionInfo
from registry.artifacts.deliver import deliver_files, destination_dir
from registry.artifacts.paths import redact_uri
from registry.artifacts.store import MANIFEST, ArtifactStore
from registry.errors import Conflict, IntegrityError, NotFound
from registry.identifiers import format_identifier

if TYPE_CHECKING:
    from registry.api.context import Context

__all__ = [
    "ARTIFACT_COLUMNS", "ArtifactsMixin", "collect_garbage", "deliver_version_files",
    "list_version_files", "open_version_file",
]

ARTIFACT_COLUMNS = ["name", "size", "md5", "sha256", "last_modified"]


class ArtifactsMixin:
    _backend: Backend

    def list_artifacts(self, url: str) -> pd.DataFrame:
        """Files of a version (or of a folder or file in it): name, size, md5, sha256,
        last_modified. Every row has both digests, MANIFEST.yml's own included."""
        return self._backend.list_artifacts(url)

    def get_artifact(self, url: str, local_dir: str | Path) -> list[Path]:
        """Download a file or a folder of a version into the directory ``local_dir`` (made when
        absent) and return the files' paths, as Snowflake's ``GET``: a file lands inside it
        under its own name, a folder's files under their paths in that folder.

        Every file is checked against its sha256 before it is placed, never through a symbolic
        link, and never over a file of the same name with other contents (that is refused,
        listing them; one with the same contents counts as downloaded). A failure leaves the
        directory as it was (see ``registry.artifacts.deliver``)."""
        return self._backend.get_artifact(url, destination_dir(local_dir))

    def open_artifact(self, url: str) -> tuple[str, int, str, Iterator[bytes]]:
        """One file of a version, for a server to send: its name, size, sha256 and its bytes
        in chunks, checked against the manifest before the first chunk and again as they are
        read (``IntegrityError``). Needs READ, as ``get_artifact``; a folder is refused."""
        return self._backend.open_artifact(url)

    def gc(self, *, grace_period_s: float = 3600.0) -> list[str]:
        """Remove stored versions that no catalog row references (left by failed or killed
        log_model calls and interrupted uploads), once older than ``grace_period_s``; return
        their ids.

        Only in a root this catalog owns (its ``FLOE_ROOT.yml`` names it): the versions of a
        catalog sharing the root would look unreferenced. A root without that marker (made
        before Floe wrote one) is claimed, unless none of its versions is this catalog's."""
        return self._backend.gc(grace_period_s)


# -- on an artifact root ----------------------------------------------------------------------


def version_hashes(artifacts: ArtifactStore, version: VersionInfo) -> dict[str, str]:
    """Every file's sha256 as the version's manifest records it (MANIFEST.yml's own from the
    catalog), once the root is known to be this catalog's."""
    artifacts.ownership.check()
    manifest = artifacts.read_manifest(version.id, version.manifest_sha256)
    hashes = {rel: entry.sha256 for rel, entry in manifest.files.items()}
    hashes[MANIFEST] = version.manifest_sha256
    return hashes


def list_version_files(artifacts: ArtifactStore, version: VersionInfo, label: str, path: str,
                       url: str) -> pd.DataFrame:
    artifacts.ownership.check()
    manifest = artifacts.read_manifest(version.id, version.manifest_sha256)
    infos = artifacts.file_infos(version.id)
    prefix = f"versions/{format_identifier(version.name)}/"
    records = []
    for rel in sorted(infos):
        if path and rel != path and not rel.startswith(path + "/"):
            continue
        info = infos[rel]
        entry = manifest.files.get(rel)
        if entry is None and rel != MANIFEST:
            continue  # not part of the version (left by hand); never listed or served
        recorded = (
            _manifest_digests(artifacts, version, label) if entry is None
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
        raise NotFound(f"{url} names no file or folder of {label}; list them: floe artifacts list")
    return pd.DataFrame.from_records(records, columns=ARTIFACT_COLUMNS).astype({"md5": object})


def _manifest_digests(artifacts: ArtifactStore, version: VersionInfo,
                      label: str) -> dict[str, str]:
    """MANIFEST.yml's md5 and sha256 (the manifest cannot record its own digests)."""
    digest = artifacts.digest(version.id, MANIFEST)
    if digest.sha256 != version.manifest_sha256:
        raise IntegrityError(
            f"the manifest of {label} was modified after logging; restore the artifact root "
            "from a backup or delete the version"
        )
    return {"md5": digest.md5, "sha256": digest.sha256}


def deliver_version_files(artifacts: ArtifactStore, version: VersionInfo, label: str,
                          path: str, url: str, dest_root: Path) -> list[Path]:
    hashes = version_hashes(artifacts, version)
    if path in hashes:  # one file: into local_dir, under its own name
        files = {path: (path.rsplit("/", 1)[-1], hashes[path])}
    else:  # a folder ('' is the whole version): its files under their paths in it
        files = {
            rel: (rel[len(path) + 1 :] if path else rel, hashes[rel])
            for rel in sorted(hashes)
            if not path or rel.startswith(path + "/")
        }
    if not files:
        raise NotFound(f"{url} names no file or folder of {label}; list them: floe artifacts list")
    return deliver_files(artifacts, version.id, files, dest_root, label)


def open_version_file(artifacts: ArtifactStore, version: VersionInfo, label: str, path: str,
                      url: str) -> tuple[str, int, str, Iterator[bytes]]:
    hashes = version_hashes(artifacts, version)
    if path not in hashes:
        is_folder = not path or any(rel.startswith(path + "/") for rel in hashes)
        what = "a folder" if is_folder else "no file"
        raise NotFound(f"{url} names {what} of {label}, not a file; list its files: floe "
                       "artifacts list")
    size = artifacts.file_infos(version.id)[path].size
    return path.rsplit("/", 1)[-1], int(size or 0), hashes[path], artifacts.stream_file(
        version.id, path, hashes[path])


def collect_garbage(ctx: Context, grace_period_s: float) -> list[str]:
    require_admin(ctx.store, ctx.caller, action="collect the artifact root")
    artifacts = ctx.artifacts
    is_owned = artifacts.ownership.check(is_cache_ok=False)
    live = ctx.store.all_version_ids()
    stored = list(artifacts.stored_versions())
    if not is_owned:
        if stored and not any(version_id in live for version_id, _ in stored):
            raise Conflict(
                f"artifact root {artifacts.root} records no owner and none of its "
                f"{len(stored)} stored versions belongs to this catalog "
                f"({redact_uri(ctx.store.url)}): it is probably another catalog's root, "
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
