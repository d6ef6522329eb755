"""``Registry``: open a namespace (``DATABASE.SCHEMA``) of a registry, directly or through a
registry server, and manage its models."""

from __future__ import annotations

import copy
import dataclasses
import logging
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from registry.access.authorize import authenticate, open_caller
from registry.api.access import AccessMixin
from registry.api.artifacts import ArtifactsMixin
from registry.api.backend import Backend
from registry.api.context import Namespace, check_comment, check_metrics
from registry.api.identity import IdentityMixin
from registry.api.local import LocalBackend
from registry.api.model import Model
from registry.api.model_version import ModelVersion
from registry.artifacts.paths import redact_uri
from registry.artifacts.store import ArtifactStore
from registry.catalog.store import SYSTEM_ALIASES, CatalogStore, new_id
from registry.catalog.tables import VersionRow
from registry.errors import InvalidInput
from registry.identifiers import format_identifier, parse_identifier
from registry.packaging.stage import stage_version
from registry.packaging.tasks import Task
from registry.runtime.signatures import ModelSignature
from registry.settings import (
    current_user,
    default_artifact_root,
    default_catalog_url,
    default_database,
    default_registry_url,
    default_role,
    default_schema,
    default_token,
    floe_home,
)

__all__ = ["Registry", "close_catalog"]

log = logging.getLogger(__name__)

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
        url: str | None = None,
        token: str | None = None,
        timeout_s: float | None = None,
        forwarded_for: str | None = None,
    ) -> None:
        """Open a namespace of a registry, in one of two modes:

        * direct (``catalog_url``, ``artifact_root``, default ``$FLOE_CATALOG_URL`` and
          ``$FLOE_ARTIFACT_ROOT``): this process opens the catalog database and the artifact
          root itself and acts as ``role`` (default ``$FLOE_ROLE``, else ADMIN); see
          ``registry.access.authorize`` for what each privilege allows;
        * through a registry server (``url``, default ``$FLOE_REGISTRY_URL``, with ``token``,
          default ``$FLOE_TOKEN``): the server acts for the token; a user's token acts as
          ``role`` if it is granted to the user (default: their default role). ``timeout_s``
          bounds each request (default 30 s). ``forwarded_for``: the address of the client a
          proxy (the serving front) asks for, so the server limits failed sign-ins per that
          client; the server believes it only from the proxies uvicorn trusts
          (``--forwarded-allow-ips``, default loopback).

        The same methods give the same results and raise the same errors in both."""
        database = parse_identifier(database_name or default_database(), "database")
        schema = parse_identifier(schema_name or default_schema(), "schema")
        namespace = Namespace(database, schema)
        cache_dir = floe_home() / "cache"
        server = url or (default_registry_url() if catalog_url is None else None)
        if server is not None:
            if catalog_url is not None or artifact_root is not None:
                raise InvalidInput(
                    "pass url= (a registry server) or catalog_url=/artifact_root= (direct "
                    "mode), not both; unset FLOE_REGISTRY_URL to open a catalog directly"
                )
            from registry.client.remote import RemoteBackend

            self.url: str | None = server
            self.catalog_url = self.artifact_root = None
            self._backend: Backend = RemoteBackend(
                server, token if token is not None else default_token(), namespace=namespace,
                cache_dir=cache_dir, role=role, timeout_s=timeout_s, forwarded_for=forwarded_for)
            return
        self.url = None
        self.catalog_url = catalog_url or default_catalog_url()
        self.artifact_root = artifact_root or default_artifact_root()
        store = _store_for(self.catalog_url)
        self._backend = LocalBackend(
            store=store,
            artifacts=ArtifactStore(
                self.artifact_root, catalog_id=store.catalog_id,
                catalog_label=redact_uri(self.catalog_url),
            ),
            namespace=namespace,
            cache_dir=cache_dir,
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
        """A registry on the catalog itself acting for a bearer token (``Authorization:
        Bearer <token>`` or the bare token; see ``create_token``): for servers whose callers
        may not choose their role. A user's token acts as ``role`` (default: the user's
        default role) if it is the user's; a service token as its one role.
        ``Unauthenticated`` when the token is missing, bad, expired or revoked;
        ``PermissionDenied`` for a role the token may not act as.

        The token is read again at every decision the registry makes, so a revoked token or
        role counts from the next call; ``once=True`` checks it now only, for a registry that
        serves one request and is dropped (a server's), whose next request checks afresh."""
        reg = cls(database_name, schema_name, catalog_url=catalog_url or default_catalog_url(),
                  artifact_root=artifact_root, role="ADMIN")
        backend = reg._local()
        caller = authenticate(backend.store, authorization, role)
        backend.caller = dataclasses.replace(caller, token_id=None) if once else caller
        return reg

    def _local(self) -> LocalBackend:
        """The catalog itself, for the server that fronts it."""
        if not isinstance(self._backend, LocalBackend):
            raise InvalidInput("this registry is a server's client; a server opens the "
                               "catalog directly (catalog_url=)")
        return self._backend

    def _in_namespace(self, database: str | None, schema: str | None) -> Registry:
        """This registry on ``database.schema`` (resolved; None: this one's), as the same
        caller over the same connection: for a SQL statement that names another namespace.
        Close this registry, not that one (they share a server's connection)."""
        ns = self._backend.namespace
        target = Namespace(database or ns.database_name, schema or ns.schema_name)
        if target == ns:
            return self
        other = copy.copy(self)
        other._backend = self._backend.in_namespace(target)
        return other

    def _schema_names(self, database: str) -> list[str]:
        """The schemas of ``database`` (resolved) that exist, in code point order."""
        return self._backend.schema_names(database)

    def __repr__(self) -> str:
        return f"Registry({self._backend.namespace})"

    def close(self) -> None:
        """Close this registry's own connections (a server's client: its HTTP pool); the
        catalog's pool is shared per URL and stays. Also ``with Registry(...) as reg:``."""
        self._backend.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def role(self) -> str:
        """The role this registry acts as."""
        return format_identifier(self._backend.role)

    @property
    def database_name(self) -> str:
        return format_identifier(self._backend.namespace.database_name)

    @property
    def schema_name(self) -> str:
        return format_identifier(self._backend.namespace.schema_name)

    def exists(self) -> bool:
        """Whether the namespace exists in the catalog (a model was logged or moved into it)."""
        return self._backend.namespace_exists()

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
        backend = self._backend
        backend.check_log(name, version)
        staged = stage_version(
            model,
            version_id=new_id(),
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
            model_id, info = backend.add_version(name, version, staged, comment=comment,
                                                 metrics=clean_metrics)
        finally:
            staged.cleanup()
        return ModelVersion(backend, model_id, info.id, info=info)

    # -- models -------------------------------------------------------------------------------

    def get_model(self, model_name: str) -> Model:
        """The model ``model_name`` of this namespace, or ``@ID`` (``Model.id``) anywhere."""
        return Model(self._backend, self._backend.find_model(model_name))

    def models(self) -> list[Model]:
        """Every model of the namespace, ordered by name ([] while it does not exist)."""
        return [Model(self._backend, model_id) for model_id in self._backend.list_models()]

    def show_models(self) -> pd.DataFrame:
        """One row per model: created_on, name, database_name, schema_name, owner, comment,
        versions (JSON array), default_version_name, aliases (JSON object alias→version).
        Empty, with these columns, while the namespace does not exist."""
        return self._backend.show_models()

    def delete_model(self, model_name: str) -> None:
        """Delete a model, all its versions and their artifacts."""
        self._backend.delete_model(self._backend.find_model(model_name))
