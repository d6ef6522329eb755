"""The one interface under ``Registry``, ``Model`` and ``ModelVersion``: what they ask of a
registry, with two implementations, so the API classes never ask which one they have.

* ``registry.api.local.LocalBackend``: the catalog database and the artifact root opened
  directly; every operation asks ``registry.access.authorize`` first.
* ``registry.client.remote.RemoteBackend``: a registry server (``floe server start``) over
  HTTP; the server runs each operation on its own ``LocalBackend`` as the token's caller, so
  the decisions, results and errors are the same ones.

The API classes check their arguments (identifiers, comments, metric values) and build their
messages; the backend authorizes and does. Models and versions are addressed by their
immutable ids, so a ``Model`` follows its model across renames in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime, timedelta

    import pandas as pd

    from registry.api.context import Namespace
    from registry.artifacts.store import ArtifactStore
    from registry.identifiers import QualifiedName
    from registry.packaging.stage import StagedVersion
    from registry.runtime.functions import ModelFunctionInfo

__all__ = ["Backend", "VersionInfo"]


@dataclass(frozen=True)
class VersionInfo:
    """What the API keeps of a version: its id and name never change, nor its manifest."""

    id: str
    name: str  # resolved, as stored
    comment: str | None
    manifest_sha256: str


class Backend(Protocol):
    """A registry opened on one namespace, acting as one role."""

    namespace: Namespace
    cache_dir: Path

    @property
    def role(self) -> str:
        """The acting role, resolved."""
        ...

    def close(self) -> None:
        """Release what this registry holds for itself (a client's connections)."""
        ...

    # -- the namespace and its models -----------------------------------------------------------

    def namespace_exists(self) -> bool: ...

    def in_namespace(self, namespace: Namespace) -> Backend:
        """This registry on another namespace, as the same caller (a server's client: over
        the same connection, which closing either closes)."""
        ...

    def schema_names(self, database: str) -> list[str]:
        """The schemas of ``database`` that exist, resolved, in code point order (no
        privilege needed: whether a namespace exists is no secret, see ``namespace_exists``)."""
        ...

    def find_model(self, name: str) -> str:
        """The id of the model ``name`` (an identifier, or ``@ID``) in this namespace;
        ``NotFound`` also for one the role may not see."""
        ...

    def list_models(self) -> list[str]: ...

    def show_models(self) -> pd.DataFrame: ...

    def check_log(self, name: str, version: str | None) -> None:
        """Refuse a ``log_model`` the role may not make, or whose version name is taken,
        before anything is staged (the commit checks again)."""
        ...

    def add_version(
        self, name: str, version: str | None, staged: StagedVersion, *,
        comment: str | None, metrics: dict[str, Any],
    ) -> tuple[str, VersionInfo]:
        """Store a staged version's files and commit its catalog rows; the model's id and the
        version. Nothing is visible until every file arrived and was verified."""
        ...

    def delete_model(self, model_id: str) -> None: ...

    # -- one model ------------------------------------------------------------------------------

    def describe_model(self, model_id: str) -> tuple[str, str]:
        """The model's resolved name and its fully qualified label (no privilege needed)."""
        ...

    def holds(self, model_id: str, privilege: str) -> bool:
        """Whether the role holds ``privilege`` on the model (it must hold USAGE to ask)."""
        ...

    def model_comment(self, model_id: str) -> str | None: ...

    def set_model_comment(self, model_id: str, comment: str | None) -> None: ...

    def rename_model(self, model_id: str, target: QualifiedName) -> None: ...

    def set_tag(self, model_id: str, name: str, value: str) -> None: ...

    def show_tags(self, model_id: str) -> dict[str, str]:
        """Tag names resolved, as stored."""
        ...

    def unset_tag(self, model_id: str, name: str) -> bool: ...

    def list_versions(self, model_id: str) -> list[VersionInfo]: ...

    def show_versions(self, model_id: str) -> pd.DataFrame: ...

    def resolve_version(self, model_id: str, name: str) -> VersionInfo:
        """A version by resolved name, user alias, system alias or ``@ID``; ``NotFound``
        naming the model and the fix."""
        ...

    def set_default(self, model_id: str, version: str) -> None:
        """``version``: a resolved name or alias, or ``@ID``."""
        ...

    def delete_version(self, model_id: str, version: str) -> None: ...

    # -- one version ----------------------------------------------------------------------------

    def get_version(self, model_id: str, version_id: str) -> VersionInfo: ...

    def version_comment(self, model_id: str, version_id: str) -> str | None: ...

    def set_version_comment(self, model_id: str, version_id: str, comment: str | None) -> None:
        ...

    def set_metric(self, model_id: str, version_id: str, name: str, value: Any) -> None: ...

    def show_metrics(self, model_id: str, version_id: str) -> dict[str, Any]: ...

    def delete_metric(self, model_id: str, version_id: str, name: str) -> bool: ...

    def aliases_of(self, model_id: str, version_id: str) -> list[str]:
        """System aliases first, then user aliases; resolved."""
        ...

    def set_alias(self, model_id: str, version_id: str, alias: str) -> None: ...

    def unset_alias(self, model_id: str, version_id: str, alias: str) -> bool: ...

    def list_functions(self, model_id: str, version_id: str) -> list[ModelFunctionInfo]: ...

    def version_files(self, model_id: str, version: VersionInfo, purpose: str) -> ArtifactStore:
        """An artifact store holding the version's files for ``purpose`` (``run``: USAGE;
        ``load``, ``export``: OWNERSHIP), for the one load path (which checks every hash
        again): the root itself, or a local copy downloaded once and verified."""
        ...

    # -- artifacts by floe:// URL ---------------------------------------------------------------

    def list_artifacts(self, url: str) -> pd.DataFrame: ...

    def get_artifact(self, url: str, local_dir: Path) -> list[Path]: ...

    def open_artifact(self, url: str) -> tuple[str, int, str, Iterator[bytes]]: ...

    def gc(self, grace_period_s: float) -> list[str]: ...

    # -- access control -------------------------------------------------------------------------

    def sql(self, statement: str) -> pd.DataFrame: ...

    def show_audit(self, model: str | None, since: datetime | None) -> pd.DataFrame: ...

    def create_token(self, role: str | None, user: str | None,
                     expires_in: timedelta | None) -> str: ...

    def show_tokens(self) -> pd.DataFrame: ...

    def revoke_token(self, token_id: str) -> None: ...
