"""``Registry``: open a namespace (``DATABASE.SCHEMA``) of the catalog and manage its models."""

from __future__ import annotations

import dataclasses
import functools
import logging
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from registry.access.authorize import authenticate, open_caller
from registry.api.access import AccessMixin
from registry.api.artifacts import ArtifactsMixin
from registry.api.context import Context, Namespace, check_comment, check_metrics
from registry.api.identity import IdentityMixin
from registry.api.model import Model
from registry.api.model_version import ModelVersion
from registry.artifacts.paths import redact_uri
from registry.artifacts.store import ArtifactStore
from registry.artifacts.urls import parse_artifact_url
from registry.catalog.store import SYSTEM_ALIASES, CatalogStore, new_id
from registry.catalog.tables import FunctionRow, VersionRow
from registry.errors import AlreadyExists, InvalidInput, NotFound
from registry.identifiers import format_identifier, parse_identifier, parse_qualified_name
from registry.packaging.stage import stage_version
from registry.packaging.tasks import Task
from registry.runtime.signatures import ModelSignature
from registry.settings import (
    current_user,
    default_artifact_root,
    default_catalog_url,
    default_database,
    default_role,
    default_schema,
    floe_home,
)

__all__ = ["Registry", "close_catalog"]

log = logging.getLogger(__name__)

SHOW_MODELS_COLUMNS = [
    "created_on", "name", "database_name", "schema_name", "owner", "comment", "versions",
    "default_version_name", "aliases",
]
_stores: dict[str, CatalogStore] = {}


def _store_for(url: str) -> CatalogStore:
    """One store (engine and pool) per catalog URL per process."""
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = CatalogStore(url)
    return store


def close_catalog(url: str) -> None:
    """Close this process's connections to the catalog at ``url`` (its pool is disposed); a
    later ``Registry`` on that URL opens it anew. For a database about to be dropped."""
    store = _stores.pop(url, None)
    if store is not None:
        store.dispose()


class Registry(AccessMixin, IdentityMixin, ArtifactsMixin):
    """The models of one namespace (``DATABASE.SCHEMA``).

    Opening writes nothing: a namespace that does not exist reads as empty, and the first
    write into it (``log_model``, or a rename into it) creates it.
    """

    def __init__(
        self,
        database_name: str | None = None,
        schema_name: str | None = None,
        *,
        catalog_url: str | None = None,
        artifact_root: str | None = None,
        role: str | None = None,
    ) -> None:
        """``role``: the role to act as (default ``$FLOE_ROLE``, else ADMIN); see
        ``registry.access.authorize`` for what each privilege allows."""
        database = parse_identifier(database_name or default_database(), "database")
        schema = parse_identifier(schema_name or default_schema(), "schema")
        self.catalog_url = catalog_url or default_catalog_url()
        self.artifact_root = artifact_root or default_artifact_root()
        store = _store_for(self.catalog_url)
        self._ctx = Context(
            store=store,
            artifacts=ArtifactStore(
                self.artifact_root, catalog_id=store.catalog_id,
                catalog_label=redact_uri(self.catalog_url),
            ),
            namespace=Namespace(database, schema),
            cache_dir=floe_home() / "cache",
            caller=open_caller(store, role or default_role(), current_user()),
        )

    @classmethod
    def from_token(
        cls,
        authorization: str | None,
        database_name: str | None = None,
        schema_name: str | None = None,
        *,
        catalog_url: str | None = None,
        artifact_root: str | None = None,
        role: str | None = None,
        once: bool = False,
    ) -> Registry:
        """A registry acting for a bearer token (``Authorization: Bearer <token>`` or the bare
        token; see ``create_token``): for servers whose callers may not choose their role. A
        user's token acts as ``role`` (default: the user's default role) if it is the user's;
        a service token as its one role. ``Unauthenticated`` when the token is missing, bad,
        expired or revoked; ``PermissionDenied`` for a role the token may not act as.

        The token is read again at every decision the registry makes, so a revoked token or
        role counts from the next call; ``once=True`` checks it now only, for a registry that
        serves one request and is dropped (a server's), whose next request checks afresh."""
        reg = cls(database_name, schema_name, catalog_url=catalog_url,
                  artifact_root=artifact_root, role="ADMIN")
        caller = authenticate(reg._ctx.store, authorization, role)
        reg._ctx.caller = dataclasses.replace(caller, token_id=None) if once else caller
        return reg

    def __repr__(self) -> str:
        return f"Registry({self._ctx.namespace_label})"

    @property
    def role(self) -> str:
        """The role this registry acts as."""
        return format_identifier(self._ctx.caller.role)

    @property
    def database_name(self) -> str:
        return format_identifier(self._ctx.namespace.database_name)

    @property
    def schema_name(self) -> str:
        return format_identifier(self._ctx.namespace.schema_name)

    def exists(self) -> bool:
        """Whether the namespace exists in the catalog (a model was logged or moved into it)."""
        return self._ctx.find_namespace_id() is not None

    # -- logging ------------------------------------------------------------------------------

    def log_model(
        self,
        model: object,
        *,
        model_name: str,
        version_name: str | None = None,
        comment: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        conda_dependencies: Sequence[str] | None = None,
        pip_requirements: Sequence[str] | None = None,
        python_version: str | None = None,
        code_paths: Sequence[str | Path] | None = None,
        ext_modules: Sequence[types.ModuleType] | None = None,
        sample_input_data: Any | None = None,
        signatures: Mapping[str, ModelSignature] | None = None,
        task: Task | str | None = None,
        options: Mapping[str, Any] | None = None,
        user_files: Mapping[str, Sequence[str | Path]] | None = None,
    ) -> ModelVersion:
        """Save ``model`` as a new, immutable version; the first version creates the model."""
        name = parse_identifier(model_name, "model")
        version = parse_identifier(version_name, "version") if version_name is not None else None
        if version in SYSTEM_ALIASES:
            raise InvalidInput(f"{version} is a system alias; choose another version_name")
        check_comment(comment, VersionRow)
        clean_metrics = check_metrics(metrics)
        self._authorize_log(name)
        if version is not None:
            self._refuse_taken_version(name, version)
        version_id = new_id()
        staged = stage_version(
            model,
            version_id=version_id,
            sample_input_data=sample_input_data,
            signatures=signatures,
            task=task,
            options=options,
            code_paths=code_paths,
            ext_modules=ext_modules,
            conda_dependencies=conda_dependencies,
            pip_requirements=pip_requirements,
            python_version=python_version,
            user_files=user_files,
        )
        try:
            ns_id = self._ctx.ensure_namespace_id()
            manifest_sha = staged.publish(self._ctx.artifacts, version_id)
            try:
                model_row, _ = self._ctx.store.add_version(
                    namespace_id=ns_id,
                    model_name=name,
                    version=VersionRow(
                        id=version_id, model_id="", name="", comment=comment,
                        created_on=datetime.now(UTC), created_by=current_user(),
                        framework=staged.handler.framework, task=staged.task.value,
                        manifest_sha256=manifest_sha, size_bytes=staged.size_bytes,
                        user_data={"framework": staged.handler.framework,
                                   "model_class": staged.manifest.model.get("class")},
                    ),
                    version_name=version,
                    metrics=clean_metrics,
                    functions=[
                        FunctionRow(
                            version_id=version_id, name=f.name, target_method=f.target_method,
                            is_partitioned=f.is_partitioned,
                            signature=f.signature.to_dict() if f.signature else None,
                        )
                        for f in staged.functions
                    ],
                    owner=self._ctx.caller.role,
                    model_comment=comment,
                    actor=self._ctx.caller,
                )
            except BaseException:
                self._ctx.artifacts.delete_version(version_id)
                raise
        finally:
            staged.cleanup()
        return ModelVersion(self._ctx, model_row.id, version_id)

    def _authorize_log(self, name: str) -> None:
        """Adding a version needs OWNERSHIP of the model; creating a model needs CREATE MODEL
        (or OWNERSHIP) on the schema, and the role creating it owns it."""
        if self._ctx.unrestricted():
            return
        ns = self._ctx.namespace
        ns_id, row = self._ctx.store.locate_model(ns.database_name, ns.schema_name, name)
        if row is None:
            self._ctx.require_schema(ns_id, "CREATE MODEL", "create a model in")
        elif not self._ctx.holds(row.id, "USAGE"):
            raise AlreadyExists(
                f"{ns} already has an object named {format_identifier(name)} that "
                f"{self._ctx.caller} cannot see; choose another model name"
            )
        else:
            self._ctx.require(row.id, "OWNERSHIP", "add a version to")

    def _refuse_taken_version(self, model: str, version: str) -> None:
        """Fail fast, before saving anything; the catalog re-checks atomically at commit."""
        try:
            existing = self.get_model(format_identifier(model))
        except NotFound:
            return
        try:
            existing.version(format_identifier(version))
        except NotFound:
            return
        raise AlreadyExists(
            f"{existing.fully_qualified_name} already has a version or alias "
            f"{format_identifier(version)}; versions are immutable: pick another version_name, "
            "or omit it for a generated one"
        )

    # -- models -------------------------------------------------------------------------------

    def get_model(self, model_name: str) -> Model:
        return Model(self._ctx, self._ctx.find_model(model_name).id)

    def models(self) -> list[Model]:
        """Every model of the namespace, ordered by name ([] while it does not exist)."""
        ns_id = self._ctx.find_namespace_id()
        if ns_id is None:
            return []
        rows = self._ctx.store.list_models(ns_id, visible_to=self._ctx.visible_to())
        return [Model(self._ctx, row.id) for row in rows]

    def show_models(self) -> pd.DataFrame:
        """One row per model: created_on, name, database_name, schema_name, owner, comment,
        versions (JSON array), default_version_name, aliases (JSON object alias→version).
        Empty, with these columns, while the namespace does not exist."""
        ns_id = self._ctx.find_namespace_id()
        if ns_id is None:
            return pd.DataFrame.from_records([], columns=SHOW_MODELS_COLUMNS)
        listing = self._ctx.store.model_listing(ns_id, visible_to=self._ctx.visible_to())
        if len(listing) == 0:
            return pd.DataFrame.from_records([], columns=SHOW_MODELS_COLUMNS)
        columns = {
            "created_on": listing.created_on.to_pandas().astype(_datetime_dtype()),
            "name": _format_identifiers(listing.name),
            "database_name": self.database_name,
            "schema_name": self.schema_name,
            "owner": listing.owner,
            "comment": listing.comment,
            "versions": listing.versions,
            "default_version_name": listing.default_version,
            "aliases": listing.aliases,
        }
        return pd.DataFrame({name: _as_series(value) for name, value in columns.items()})

    def delete_model(self, model_name: str) -> None:
        """Delete a model, all its versions and their artifacts."""
        row = self._ctx.find_model(model_name)
        self._ctx.require(row.id, "OWNERSHIP", "delete")
        for version_id in self._ctx.store.delete_model(row.id, actor=self._ctx.caller):
            self._ctx.artifacts.delete_version(version_id)

    # -- artifacts ----------------------------------------------------------------------------

    def _version_for_url(self, url: str) -> tuple[ModelVersion, str]:
        parsed = parse_artifact_url(url)
        qualified = parse_qualified_name(parsed.model, "model")
        registry = self
        if qualified.schema is not None:
            registry = Registry(
                format_identifier(qualified.database or self._ctx.namespace.database_name),
                format_identifier(qualified.schema),
                catalog_url=self.catalog_url,
                artifact_root=self.artifact_root,
                role=self.role,
            )
        mv = registry.get_model(format_identifier(qualified.name)).version(parsed.version)
        mv._require("READ", "read the artifacts of")
        return mv, parsed.path

# -- show_models helpers --------------------------------------------------------------------------
# show_models formats model names with Arrow compute, a whole column at a time, exactly as
# format_identifier would name by name (the catalog keeps the rest as show_models shows it).

_BARE_IDENTIFIER = r"^[A-Z_][A-Z0-9_$]*$"  # format_identifier's test, in RE2 syntax


def _format_identifiers(names: pa.Array) -> pa.Array:
    """``format_identifier`` on every resolved name; nulls stay null."""
    return _quote_unless_bare(names, pc.match_substring_regex(names, _BARE_IDENTIFIER))


def _quote_unless_bare(names: pa.Array, is_bare: pa.Array) -> pa.Array:
    if pc.all(is_bare).as_py():
        return names
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(names, '"', '""'), '"', "")
    return pc.if_else(is_bare, names, quoted)


@functools.cache
def _datetime_dtype() -> Any:
    """The dtype ``DataFrame.from_records`` gives UTC datetimes (pandas 2: ns, 3: us)."""
    return pd.DataFrame.from_records([(datetime(2000, 1, 1, tzinfo=UTC),)]).dtypes.iloc[0]


def _as_series(values: object) -> object:
    """A text column as ``DataFrame.from_records`` would infer it from Python values: only
    NULLs make an ``object`` column of None. Scalars are left to broadcast."""
    if not isinstance(values, pa.Array):
        return values
    if values.null_count == len(values):
        return pd.Series([None] * len(values), dtype=object)
    return values.to_pandas()
