"""``RemoteBackend``: the registry's operations through a registry server (``floe server
start``), over HTTP with a bearer token. The server runs each on its own ``LocalBackend`` as
the token's caller and answers with the same results, or with the error as JSON, which
``registry.client.http.raise_for_error`` raises here as the same ``FloeError`` class with the
same message.

* Requests: ``registry.client.http`` (one pooled connection per backend, idempotent requests
  retried, errors raised as their ``FloeError``).
* Models and versions are addressed by ``@ID``, so a ``Model`` follows renames as in direct
  mode.
* ``log_model``: the client stages and hashes the version, then sends the manifest and each
  file streamed in chunks (bounded memory, any size); the server checks every file against
  the manifest before it commits the version.
* Loading and running: the version's files are downloaded once, each checked against its
  sha256 as it arrives, into ``$FLOE_HOME/cache/remote/<server>/`` (an artifact root of this
  client's own), from which the one load path reads and checks them again.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from registry.api.backend import VersionInfo
from registry.api.context import Namespace
from registry.artifacts.deliver import deliver_files
from registry.artifacts.paths import replacing
from registry.artifacts.store import MANIFEST, ArtifactStore
from registry.artifacts.urls import parse_artifact_url
from registry.client.http import ServerConnection, ref, segment
from registry.errors import FloeError
from registry.identifiers import (
    QualifiedName,
    format_identifier,
    id_ref,
    parse_identifier,
    parse_qualified_name,
)
from registry.packaging.manifest import parse_manifest
from registry.packaging.stage import StagedVersion
from registry.runtime.functions import ModelFunctionInfo

__all__ = ["RemoteBackend"]

_CHUNK = 1 << 20


class RemoteBackend:
    """A namespace of the registry behind a server, as the role its token acts as."""

    def __init__(self, url: str, token: str | None, *, namespace: Namespace, cache_dir: Path,
                 role: str | None = None, timeout_s: float | None = None,
                 retries: int = 3, forwarded_for: str | None = None) -> None:
        self._http = ServerConnection(url, token, params=_namespace_params(namespace), role=role,
                                      timeout_s=timeout_s, retries=retries,
                                      forwarded_for=forwarded_for)
        self.url = self._http.url
        self.namespace = namespace
        self.cache_dir = cache_dir
        self._role: str | None = None
        self._complete: set[str] = set()  # versions whose every file is in the mirror
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self._mirror = cache_dir / "remote" / digest

    def __repr__(self) -> str:
        return f"RemoteBackend({self.url}, {self.namespace})"

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _model(model_id: str) -> str:
        return f"/models/@{model_id}"

    def _version(self, model_id: str, version_id: str) -> str:
        return f"{self._model(model_id)}/versions/@{version_id}"

    @staticmethod
    def _info(doc: dict[str, Any]) -> VersionInfo:
        return VersionInfo(doc["id"], parse_identifier(doc["name"], "version"), doc["comment"],
                           doc["manifest_sha256"])

    # -- the namespace and its models -----------------------------------------------------------

    @property
    def role(self) -> str:
        if self._role is None:
            self._role = parse_identifier(self._http.json("GET", "/namespace")["role"], "role")
        return self._role

    def namespace_exists(self) -> bool:
        return bool(self._http.json("GET", "/namespace")["exists"])

    def in_namespace(self, namespace: Namespace) -> RemoteBackend:
        other = copy.copy(self)  # shares the mirror and the role: the server's, not the namespace's
        other.namespace = namespace
        other._http = self._http.with_params(_namespace_params(namespace))
        return other

    def schema_names(self, database: str) -> list[str]:
        names = self._http.json("GET", "/schemas", params={
            "database": format_identifier(database)})["schemas"]
        return [parse_identifier(name, "schema") for name in names]

    def find_model(self, name: str) -> str:
        model = name if id_ref(name) is not None else format_identifier(
            parse_identifier(name, "model"))
        return str(self._http.json("GET", f"/models/{segment(model)}/name")["id"])

    def list_models(self) -> list[str]:
        return list(self._http.json("GET", "/model-ids")["ids"])

    def show_models(self) -> pd.DataFrame:
        return self._http.frame("GET", "/models")

    def check_log(self, name: str, version: str | None) -> None:
        self._http.send("POST", "/uploads/check", json=self._names(name, version))

    @staticmethod
    def _names(name: str, version: str | None) -> dict[str, str | None]:
        return {"model": format_identifier(name),
                "version": format_identifier(version) if version is not None else None}

    def add_version(
        self, name: str, version: str | None, staged: StagedVersion, *,
        comment: str | None, metrics: dict[str, Any],
    ) -> tuple[str, VersionInfo]:
        manifest = staged.manifest.to_yaml().decode()
        upload = self._http.json("POST", "/uploads", json={
            **self._names(name, version), "comment": comment, "metrics": metrics,
            "manifest": manifest})["upload"]
        for rel in staged.manifest.files:
            self._http.send("PUT", f"/uploads/{upload}/files/{urllib.parse.quote(rel)}",
                       content=_chunks(staged.root / rel),
                       headers={"content-type": "application/octet-stream"})
        done = self._http.json("POST", f"/uploads/{upload}/commit")
        return str(done["model_id"]), self._info(done["version"])

    def delete_model(self, model_id: str) -> None:
        self._http.send("DELETE", self._model(model_id))

    # -- one model ------------------------------------------------------------------------------

    def describe_model(self, model_id: str) -> tuple[str, str]:
        doc = self._http.json("GET", f"{self._model(model_id)}/name")
        return parse_identifier(doc["name"], "model"), str(doc["fully_qualified_name"])

    def holds(self, model_id: str, privilege: str) -> bool:
        return bool(self._http.json("GET", f"{self._model(model_id)}/privileges/{privilege}")["held"])

    def model_comment(self, model_id: str) -> str | None:
        comment: str | None = self._http.json("GET", f"{self._model(model_id)}/comment")["comment"]
        return comment

    def set_model_comment(self, model_id: str, comment: str | None) -> None:
        self._http.send("PUT", f"{self._model(model_id)}/comment", json={"comment": comment})

    def rename_model(self, model_id: str, target: QualifiedName) -> None:
        self._http.send("POST", f"{self._model(model_id)}/rename", json={"name": str(target)})

    def set_tag(self, model_id: str, name: str, value: str) -> None:
        self._http.send("PUT", f"{self._model(model_id)}/tags/{segment(format_identifier(name))}",
                   json={"value": value})

    def show_tags(self, model_id: str) -> dict[str, str]:
        tags = self._http.json("GET", f"{self._model(model_id)}/tags")
        return {parse_identifier(k, "tag"): v for k, v in tags.items()}

    def unset_tag(self, model_id: str, name: str) -> bool:
        self._http.send("DELETE", f"{self._model(model_id)}/tags/{segment(format_identifier(name))}")
        return True

    def list_versions(self, model_id: str) -> list[VersionInfo]:
        return [self._info(d) for d in self._http.json("GET", f"{self._model(model_id)}/version-infos")]

    def show_versions(self, model_id: str) -> pd.DataFrame:
        return self._http.frame("GET", f"{self._model(model_id)}/versions")

    def resolve_version(self, model_id: str, name: str) -> VersionInfo:
        return self._info(self._http.json("GET", f"{self._model(model_id)}/versions/{ref(name)}/info"))

    def set_default(self, model_id: str, version: str) -> None:
        target = version if id_ref(version) is not None else format_identifier(version)
        self._http.send("PUT", f"{self._model(model_id)}/default", json={"version": target})

    def delete_version(self, model_id: str, version: str) -> None:
        self._http.send("DELETE", f"{self._model(model_id)}/versions/{ref(version)}")

    # -- one version ----------------------------------------------------------------------------

    def get_version(self, model_id: str, version_id: str) -> VersionInfo:
        return self._info(self._http.json("GET", f"{self._version(model_id, version_id)}/info"))

    def version_comment(self, model_id: str, version_id: str) -> str | None:
        doc = self._http.json("GET", f"{self._version(model_id, version_id)}/comment")
        comment: str | None = doc["comment"]
        return comment

    def set_version_comment(self, model_id: str, version_id: str, comment: str | None) -> None:
        self._http.send("PUT", f"{self._version(model_id, version_id)}/comment",
                   json={"comment": comment})

    def set_metric(self, model_id: str, version_id: str, name: str, value: Any) -> None:
        self._http.send("PUT", f"{self._version(model_id, version_id)}/metrics/{segment(name)}",
                   json={"value": value})

    def show_metrics(self, model_id: str, version_id: str) -> dict[str, Any]:
        metrics: dict[str, Any] = self._http.json("GET",
                                             f"{self._version(model_id, version_id)}/metrics")
        return metrics

    def delete_metric(self, model_id: str, version_id: str, name: str) -> bool:
        self._http.send("DELETE", f"{self._version(model_id, version_id)}/metrics/{segment(name)}")
        return True

    def aliases_of(self, model_id: str, version_id: str) -> list[str]:
        aliases = self._http.json("GET", f"{self._version(model_id, version_id)}/aliases")
        return [parse_identifier(a, "alias") for a in aliases]

    def set_alias(self, model_id: str, version_id: str, alias: str) -> None:
        self._http.send("PUT", f"{self._model(model_id)}/aliases/{segment(format_identifier(alias))}",
                   json={"version": f"@{version_id}"})

    def unset_alias(self, model_id: str, version_id: str, alias: str) -> bool:
        self._http.send("DELETE", f"{self._version(model_id, version_id)}/aliases/"
                   f"{segment(format_identifier(alias))}")
        return True

    def list_functions(self, model_id: str, version_id: str) -> list[ModelFunctionInfo]:
        docs = self._http.json("GET", f"{self._version(model_id, version_id)}/functions")
        return [ModelFunctionInfo.from_dict(d) for d in docs]

    def version_files(self, model_id: str, version: VersionInfo, purpose: str) -> ArtifactStore:
        """The version's files in this client's mirror, downloaded once, each checked against
        the manifest's sha256 as it arrives; the manifest itself is fetched every time, so the
        server decides every time whether the role may ``purpose`` the version."""
        base = self._version(model_id, version.id) + "/files/"
        target = self._mirror / "versions" / version.id
        params = {"purpose": purpose}
        self._save(self._stream(base + MANIFEST, params), target / MANIFEST,
                   version.manifest_sha256, MANIFEST)
        if version.id not in self._complete:
            manifest = parse_manifest((target / MANIFEST).read_bytes(), version_id=version.id)
            for rel, entry in manifest.files.items():
                dest = target / rel
                if dest.exists() and dest.stat().st_size == entry.size:
                    continue  # placed, verified, by an earlier download
                self._save(self._stream(base + urllib.parse.quote(rel), params), dest,
                           entry.sha256, rel)
            self._complete.add(version.id)
        return ArtifactStore(str(self._mirror))

    def _stream(self, path: str, params: dict[str, str]) -> Iterator[bytes]:
        """A download's bytes in chunks, the response closed at the end."""
        with contextlib.closing(self._http.send("GET", path, params=params, stream=True)) as response:
            yield from response.iter_bytes(_CHUNK)

    def _save(self, chunks: Iterator[bytes], dest: Path, sha256: str, what: str) -> None:
        """``chunks`` written to ``dest``, placed (atomically) only once their sha256 is the
        one the catalog records; nothing is left otherwise."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        seen = hashlib.sha256()
        with replacing(dest) as tmp, tmp.open("wb") as out:
            for chunk in chunks:
                seen.update(chunk)
                out.write(chunk)
            if seen.hexdigest() != sha256:
                raise FloeError(
                    f"{what} arrived from {self.url} with sha256 {seen.hexdigest()}, not the "
                    f"{sha256} the catalog records; nothing was placed: try again, and if it "
                    "persists the server's artifact root is damaged"
                )

    # -- artifacts by floe:// URL ---------------------------------------------------------------

    def list_artifacts(self, url: str) -> pd.DataFrame:
        return self._http.frame("GET", "/artifacts", params={"url": url})

    def get_artifact(self, url: str, local_dir: Path) -> list[Path]:
        """The files ``url`` names, downloaded (READ) into a private directory, each checked
        against its sha256 on the way, then placed into ``local_dir`` as direct mode places
        them (``registry.artifacts.deliver``)."""
        parsed = parse_artifact_url(url)
        listing = self.list_artifacts(url)
        # names are versions/<version as stored>/<path>, whichever alias the URL used
        version_name, hashes = "", {}
        for name, sha in zip(listing["name"], listing["sha256"], strict=True):
            _, version_name, rel = str(name).split("/", 2)
            hashes[rel] = str(sha)
        path = parsed.path
        if path in hashes:  # one file: into local_dir, under its own name
            files = {path: (path.rsplit("/", 1)[-1], hashes[path])}
        else:
            files = {rel: (rel[len(path) + 1:] if path else rel, sha)
                     for rel, sha in sorted(hashes.items())}
        qualified = parse_qualified_name(parsed.model, "model")
        ns = Namespace(qualified.database or self.namespace.database_name,
                       qualified.schema or self.namespace.schema_name)
        label = f"{ns}.{format_identifier(qualified.name)} version {version_name}"
        base = f"floe://model/{parsed.model}/versions/{parsed.version}/"
        staging = Path(tempfile.mkdtemp(prefix="floe-get-"))
        try:
            for rel, (_, sha) in files.items():
                self._save(self.open_artifact(base + rel)[3],
                           staging / "versions" / "download" / rel, sha, base + rel)
            return deliver_files(ArtifactStore(str(staging)), "download", files, local_dir,
                                 label)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def open_artifact(self, url: str) -> tuple[str, int, str, Iterator[bytes]]:
        response = self._http.send("GET", "/artifacts/file", params={"url": url}, stream=True)
        name = url.rstrip("/").rsplit("/", 1)[-1]

        def chunks() -> Iterator[bytes]:
            with contextlib.closing(response):
                yield from response.iter_bytes(_CHUNK)

        return (name, int(response.headers.get("content-length", "0")),
                response.headers.get("x-floe-sha256", ""), chunks())

    def gc(self, grace_period_s: float) -> list[str]:
        return list(self._http.json("POST", "/gc", json={"grace_period_s": grace_period_s})["removed"])

    # -- access control -------------------------------------------------------------------------

    def sql(self, statement: str) -> pd.DataFrame:
        return self._http.frame("POST", "/sql", json={"statement": statement})

    def show_audit(self, model: str | None, since: datetime | None) -> pd.DataFrame:
        params = {k: v for k, v in (("model", model),
                                    ("since", since.isoformat() if since else None)) if v}
        return self._http.frame("GET", "/audit", params=params)

    def create_token(self, role: str | None, user: str | None,
                     expires_in: timedelta | None) -> str:
        body = {"role": format_identifier(role) if role else None,
                "user": format_identifier(user) if user else None,
                "expires_in": f"{max(1, int(expires_in.total_seconds()))}s"
                if expires_in is not None else None}
        return str(self._http.json("POST", "/tokens", json=body)["token"])

    def show_tokens(self) -> pd.DataFrame:
        return self._http.frame("GET", "/tokens")

    def revoke_token(self, token_id: str) -> None:
        self._http.send("DELETE", f"/tokens/{segment(token_id)}")


def _namespace_params(namespace: Namespace) -> dict[str, str]:
    """What every request says of the namespace it is about."""
    return {"database": format_identifier(namespace.database_name),
            "schema": format_identifier(namespace.schema_name)}


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk
