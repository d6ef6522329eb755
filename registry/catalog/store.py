"""Every read and write of the catalog, in one class assembled from its parts.

``StoreBase`` (``base``) holds the engine, the transactions and the single place where driver
errors become ``FloeError``s; ``ModelOps`` (``models``) and ``VersionOps`` (``versions``) hold
the operations, ``AccessOps`` (``access``) roles and grants, ``IdentityOps`` (``identity``)
users and tokens, ``AuditOps`` (``audit``) the audit log. Each method checks its arguments,
then runs in one transaction.
"""

from __future__ import annotations

from registry.catalog.access import AccessOps
from registry.catalog.audit import AuditOps
from registry.catalog.base import SYSTEM_ALIASES, as_utc, new_id, utcnow
from registry.catalog.identity import IdentityOps
from registry.catalog.models import ModelOps
from registry.catalog.versions import VersionOps

__all__ = ["SYSTEM_ALIASES", "CatalogStore", "as_utc", "new_id", "utcnow"]


class CatalogStore(ModelOps, VersionOps, AccessOps, IdentityOps, AuditOps):
    """The catalog at one SQLAlchemy URL, migrated to the newest schema when opened."""
