"""``LocalBackend``: the registry's operations on the catalog database and the artifact root
opened directly. Every operation asks ``registry.access.authorize`` (through ``Context``)
before it reads or writes; a registry server runs these same operations as its token's
caller, so direct mode and the server decide alike.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from registry.access.statements import parse_statement
from registry.api.access import audit_frame, execute
from registry.api.artifacts import (
    collect_garbage,
    deliver_version_files,
    list_version_files,
    open_version_file,
)
from registry.api.backend import VersionInfo
from registry.api.context import Context, Namespace
from registry.api.identity import add_token, revoke_token, tokens_frame
from registry.api.listing import models_frame
from registry.artifacts.store import ArtifactStore
from registry.artifacts.urls import parse_artifact_url
from registry.catalog.base import model_label
from registry.catalog.store import as_utc
from registry.catalog.tables import FunctionRow, VersionRow
from registry.errors import AlreadyExists, NotFound
from registry.identifiers import (
    QualifiedName,
    format_identifier,
    id_ref,
    parse_identifier,
    parse_qualified_name,
)
from registry.packaging.manifest import Manifest
from registry.packaging.stage import StagedVersion
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.signatures import ModelSignature

__all__ = ["PURPOSES", "SHOW_VERSIONS_COLUMNS", "LocalBackend"]

SHOW_VERSIONS_COLUMNS = [
    "created_on", "name", "aliases", "comment", "database_name", "schema_name", "model_name",
    "is_default_version", "functions", "metadata", "user_data",
]
# What a version's files are read for, and the privilege each needs.
PURPOSES = {
    "load": ("OWNERSHIP", "load the model object of"),
    "export": ("OWNERSHIP", "export"),
    "run": ("USAGE", "run"),
}


def _info(row: VersionRow) -> VersionInfo:
    return VersionInfo(row.id, row.name, row.comment, row.manifest_sha256)


@dataclass
class LocalBackend(Context):
    """A namespace of the catalog at one URL and its artifact root, as one caller."""

    @property
    def role(self) -> str:
        return self.caller.role

    def close(self) -> None:
        """Nothing of its own: the catalog's pool is shared per URL (``close_catalog``)."""

    # -- the namespace and its models -----------------------------------------------------------

    def namespace_exists(self) -> bool:
        return self.find_namespace_id() is not None

    def in_namespace(self, namespace: Namespace) -> LocalBackend:
        return dataclasses.replace(self, namespace=namespace, namespace_id=None)

    def schema_names(self, database: str) -> list[str]:
        return self.store.schema_names(database)

    def find_model(self, name: str) -> str:
        return self.find_model_row(name).id

    def list_models(self) -> list[str]:
        ns_id = self.find_namespace_id()
        if ns_id is None:
            return []
        return [row.id for row in self.store.list_models(ns_id, visible_to=self.visible_to())]

    def show_models(self) -> pd.DataFrame:
        ns_id = self.find_namespace_id()
        if ns_id is None:
            return models_frame(None, self.namespace)
        return models_frame(self.store.model_listing(ns_id, visible_to=self.visible_to()),
                            self.namespace)

    def check_log(self, name: str, version: str | None) -> None:
        """Adding a version needs OWNERSHIP of the model; creating a model needs CREATE MODEL
        (or OWNERSHIP) on the schema, and the role creating it owns it. A version name that
        is taken fails here, before anything is saved (the catalog checks again at commit)."""
        ns = self.namespace
        ns_id, row = self.store.locate_model(ns.database_name, ns.schema_name, name)
        if not self.unrestricted():
            if row is None:
                self.require_schema(ns_id, "CREATE MODEL", "create a model in")
            elif not self.has_privilege(row.id, "USAGE"):
                raise AlreadyExists(
                    f"{ns} already has an object named {format_identifier(name)} that "
                    f"{self.caller} cannot see; choose another model name"
                )
            else:
                self.require(row.id, "OWNERSHIP", "add a version to")
        if row is not None and version is not None and self.store.resolve_version(
                row.id, version) is not None:
            raise AlreadyExists(
                f"{ns}.{format_identifier(row.name)} already has a version or alias "
                f"{format_identifier(version)}; versions are immutable: pick another "
                "version_name, or omit it for a generated one"
            )

    def add_version(
        self, name: str, version: str | None, staged: StagedVersion, *,
        comment: str | None, metrics: dict[str, Any],
    ) -> tuple[str, VersionInfo]:
        version_id = staged.manifest.version_id
        self.ensure_namespace_id()
        manifest_sha = staged.publish(self.artifacts, version_id)
        try:
            return self.commit_version(name, version, staged.manifest, manifest_sha,
                                       comment=comment, metrics=metrics)
        except BaseException:
            self.artifacts.delete_version(version_id)
            raise

    def commit_version(
        self, name: str, version: str | None, manifest: Manifest, manifest_sha256: str, *,
        comment: str | None, metrics: dict[str, Any],
    ) -> tuple[str, VersionInfo]:
        """The catalog rows of a version whose files are stored and verified, all from its
        manifest: the one commit of ``log_model`` and of an upload to a server (each asks
        ``check_log`` first; the catalog refuses a name taken since, atomically)."""
        functions = [ModelFunctionInfo.from_manifest(f) for f in manifest.functions]
        model_row, row = self.store.add_version(
            namespace_id=self.ensure_namespace_id(),
            model_name=name,
            version=VersionRow(
                id=manifest.version_id, model_id="", name="", comment=comment,
                created_on=datetime.now(UTC), created_by=self.caller.user,
                framework=manifest.framework, task=manifest.task.value,
                manifest_sha256=manifest_sha256, size_bytes=manifest.size_bytes,
                user_data={"framework": manifest.framework,
                           "model_class": manifest.model.get("class")},
            ),
            version_name=version,
            metrics=metrics,
            functions=[
                FunctionRow(
                    version_id=manifest.version_id, name=f.name, target_method=f.target_method,
                    is_partitioned=f.is_partitioned,
                    signature=f.signature.to_dict() if f.signature else None,
                )
                for f in functions
            ],
            owner=self.caller.role,
            model_comment=comment,
            actor=self.caller,
        )
        return model_row.id, _info(row)

    def delete_model(self, model_id: str) -> None:
        self.require(model_id, "OWNERSHIP", "delete")
        for version_id in self.store.delete_model(model_id, actor=self.caller):
            self.artifacts.delete_version(version_id)

    # -- one model ------------------------------------------------------------------------------

    def describe_model(self, model_id: str) -> tuple[str, str]:
        model, ns = self.store.describe_model(model_id)  # one query
        return model.name, model_label(ns, model)

    def holds(self, model_id: str, privilege: str) -> bool:
        self.require(model_id, "USAGE", "look up privileges on")
        return self.has_privilege(model_id, privilege)

    def model_comment(self, model_id: str) -> str | None:
        self.require(model_id, "USAGE", "read the comment of")
        return self.model_row(model_id).comment

    def set_model_comment(self, model_id: str, comment: str | None) -> None:
        self.require(model_id, "OWNERSHIP", "change the comment of")
        self.store.set_model_comment(model_id, comment, actor=self.caller)

    def rename_model(self, model_id: str, target: QualifiedName) -> None:
        """Rename; ``DB.SCHEMA.NAME`` moves the model to another namespace (created if new)."""
        self.require(model_id, "OWNERSHIP", "rename")
        model, ns = self.store.describe_model(model_id)
        if target.schema is not None:
            database = target.database or ns.database_name
            found = self.store.find_namespace(database, target.schema)
            if found is None or found.id != ns.id:
                self.require_schema(
                    found.id if found else None, "CREATE MODEL", "move a model into",
                    Namespace(database, target.schema),
                )
            ns = found or self.store.ensure_namespace(database, target.schema)
        assert ns.id is not None
        self.store.rename_model(model.id, ns.id, target.name, actor=self.caller)

    def set_tag(self, model_id: str, name: str, value: str) -> None:
        self.require(model_id, "OWNERSHIP", "set a tag of")
        self.store.set_tag(model_id, name, value, actor=self.caller)

    def show_tags(self, model_id: str) -> dict[str, str]:
        self.require(model_id, "USAGE", "read the tags of")
        return self.store.list_tags(model_id)

    def unset_tag(self, model_id: str, name: str) -> bool:
        self.require(model_id, "OWNERSHIP", "unset a tag of")
        return self.store.unset_tag(model_id, name, actor=self.caller)

    def list_versions(self, model_id: str) -> list[VersionInfo]:
        self.require(model_id, "USAGE", "list the versions of")
        return [_info(row) for row in self.store.list_versions(model_id)]

    def show_versions(self, model_id: str) -> pd.DataFrame:
        """One row per version; ``metadata`` holds its metrics only for a role with READ."""
        self.require(model_id, "USAGE", "list the versions of")
        shows_metrics = self.has_privilege(model_id, "READ")
        row, ns = self.store.describe_model(model_id)
        records = []
        for version, aliases, metrics, functions in self.store.version_details(model_id):
            records.append(
                {
                    "created_on": as_utc(version.created_on),
                    "name": format_identifier(version.name),
                    "aliases": json.dumps([format_identifier(a) for a in aliases]),
                    "comment": version.comment,
                    "database_name": format_identifier(ns.database_name),
                    "schema_name": format_identifier(ns.schema_name),
                    "model_name": format_identifier(row.name),
                    "is_default_version": version.id == row.default_version_id,
                    "functions": json.dumps(functions),
                    "metadata": json.dumps(
                        {"metrics": metrics if shows_metrics else None, "task": version.task,
                         "framework": version.framework}
                    ),
                    "user_data": json.dumps(version.user_data),
                }
            )
        return pd.DataFrame.from_records(records, columns=SHOW_VERSIONS_COLUMNS)

    def resolve_version(self, model_id: str, name: str) -> VersionInfo:
        self.require(model_id, "USAGE", "read the versions of")
        return _info(self._resolve(model_id, name))

    def _resolve(self, model_id: str, name: str) -> VersionRow:
        version_id = id_ref(name)
        found: VersionRow | None
        if version_id is not None:
            try:
                found = self.store.get_version(version_id)
            except NotFound:
                found = None
            if found is not None and found.model_id != model_id:
                found = None
        else:
            found = self.store.resolve_version(model_id, name)
        if found is None:
            label = self.describe_model(model_id)[1]  # NotFound here when the model is gone
            shown = name if version_id is not None else format_identifier(name)
            raise NotFound(
                f"{label} has no version or alias {shown}; list them: floe versions list {label}"
            )
        return found

    def set_default(self, model_id: str, version: str) -> None:
        self.require(model_id, "OWNERSHIP", "set the default version of")
        self.store.set_default(model_id, self._resolve(model_id, version).id, actor=self.caller)

    def delete_version(self, model_id: str, version: str) -> None:
        self.require(model_id, "OWNERSHIP", "delete a version of")
        row = self._resolve(model_id, version)
        self.store.delete_version(model_id, row.id, actor=self.caller)
        self.artifacts.delete_version(row.id)

    # -- one version ----------------------------------------------------------------------------

    def get_version(self, model_id: str, version_id: str) -> VersionInfo:
        return _info(self.store.get_version(version_id))

    def version_comment(self, model_id: str, version_id: str) -> str | None:
        self.require(model_id, "USAGE", "read the comment of")
        return self.store.get_version(version_id).comment

    def set_version_comment(self, model_id: str, version_id: str, comment: str | None) -> None:
        self.require(model_id, "OWNERSHIP", "change a version comment of")
        self.store.set_version_comment(version_id, comment, actor=self.caller)

    def set_metric(self, model_id: str, version_id: str, name: str, value: Any) -> None:
        self.require(model_id, "OWNERSHIP", "set a metric of")
        self.store.set_metric(version_id, name, value, actor=self.caller)

    def show_metrics(self, model_id: str, version_id: str) -> dict[str, Any]:
        self.require(model_id, "READ", "read the metrics of")
        return self.store.list_metrics(version_id)

    def delete_metric(self, model_id: str, version_id: str, name: str) -> bool:
        self.require(model_id, "OWNERSHIP", "delete a metric of")
        return self.store.delete_metric(version_id, name, actor=self.caller)

    def aliases_of(self, model_id: str, version_id: str) -> list[str]:
        self.require(model_id, "USAGE", "read the aliases of")
        return self.store.aliases_of(version_id)

    def set_alias(self, model_id: str, version_id: str, alias: str) -> None:
        self.require(model_id, "OWNERSHIP", "set an alias of")
        self.store.set_alias(model_id, version_id, alias, actor=self.caller)

    def unset_alias(self, model_id: str, version_id: str, alias: str) -> bool:
        self.require(model_id, "OWNERSHIP", "unset an alias of")
        if alias not in self.store.aliases_of(version_id):
            return False
        self.store.unset_alias(model_id, alias, actor=self.caller)
        return True

    def list_functions(self, model_id: str, version_id: str) -> list[ModelFunctionInfo]:
        self.require(model_id, "USAGE", "read the functions of")
        return [
            ModelFunctionInfo(
                name=f.name, target_method=f.target_method, is_partitioned=f.is_partitioned,
                signature=ModelSignature.from_dict(f.signature) if f.signature else None,
            )
            for f in self.store.list_functions(version_id)
        ]

    def version_files(self, model_id: str, version: VersionInfo, purpose: str) -> ArtifactStore:
        privilege, action = PURPOSES[purpose]
        self.require(model_id, privilege, action)
        return self.artifacts

    # -- artifacts by floe:// URL ---------------------------------------------------------------

    def version_for_url(self, url: str) -> tuple[str, VersionInfo, str, str]:
        """The version a ``floe://`` URL names, once the caller holds READ on it: its model's
        id, the version, its label and the path in it."""
        parsed = parse_artifact_url(url)
        qualified = parse_qualified_name(parsed.model, "model")
        backend: LocalBackend = self
        if qualified.schema is not None:
            backend = dataclasses.replace(self, namespace=Namespace(
                qualified.database or self.namespace.database_name, qualified.schema),
                namespace_id=None)
        model_id = backend.find_model(format_identifier(qualified.name))
        version = backend.resolve_version(model_id, parse_identifier(parsed.version, "version"))
        self.require(model_id, "READ", "read the artifacts of")
        label = f"{self.describe_model(model_id)[1]} version {format_identifier(version.name)}"
        return model_id, version, label, parsed.path

    def list_artifacts(self, url: str) -> pd.DataFrame:
        _, version, label, path = self.version_for_url(url)
        return list_version_files(self.artifacts, version, label, path, url)

    def get_artifact(self, url: str, local_dir: Path) -> list[Path]:
        _, version, label, path = self.version_for_url(url)
        return deliver_version_files(self.artifacts, version, label, path, url, local_dir)

    def open_artifact(self, url: str) -> tuple[str, int, str, Iterator[bytes]]:
        _, version, label, path = self.version_for_url(url)
        return open_version_file(self.artifacts, version, label, path, url)

    def gc(self, grace_period_s: float) -> list[str]:
        return collect_garbage(self, grace_period_s)

    # -- access control -------------------------------------------------------------------------

    def sql(self, statement: str) -> pd.DataFrame:
        return execute(self, parse_statement(statement))

    def show_audit(self, model: str | None, since: datetime | None) -> pd.DataFrame:
        return audit_frame(self, model, since)

    def create_token(self, role: str | None, user: str | None,
                     expires_in: timedelta | None) -> str:
        return add_token(self, role, user, expires_in)

    def show_tokens(self) -> pd.DataFrame:
        return tokens_frame(self)

    def revoke_token(self, token_id: str) -> None:
        revoke_token(self, token_id)
