"""Floe's exception tree.

Every error Floe raises is a ``FloeError``; callers catch the specific class::

    FloeError
    ├── NotFound              404  no such namespace, model, version, alias, metric, tag, file
    ├── AlreadyExists         409  a name that must be unique is taken
    ├── InvalidInput          400  a bad identifier, argument, URL or input batch
    │   └── InvalidIdentifier 400  a name that breaks the identifier rules
    ├── Conflict              409  the request contradicts the registry's state (delete the default)
    ├── Unauthenticated       401  no token, or a bad, expired or revoked one
    ├── PermissionDenied      403  the caller may not do this
    ├── IntegrityError        500  stored artifacts do not match their recorded hashes
    ├── EnvironmentMismatch   409  the model was logged under another Python or framework
    ├── CatalogError          503  the catalog database cannot be reached or migrated
    └── ModelError            500  the user's model code raised

A message states the problem, then the fix. Driver errors are translated once, in
``registry.catalog.base`` (``translate_error``), and chained with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "CatalogError",
    "Conflict",
    "EnvironmentMismatch",
    "FloeError",
    "IntegrityError",
    "InvalidIdentifier",
    "InvalidInput",
    "ModelError",
    "NotFound",
    "PermissionDenied",
    "TooManyAttempts",
    "Unauthenticated",
]


class FloeError(Exception):
    """Base class of every error Floe raises."""

    http_status: ClassVar[int] = 500

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__

    @property
    def http_headers(self) -> dict[str, str]:
        """The headers an HTTP reply of this error carries (beside ``http_status`` and the body
        ``{"error": message, "type": class}``): every HTTP edge sends them."""
        return {}


class NotFound(FloeError):
    http_status = 404


class AlreadyExists(FloeError):
    http_status = 409


class InvalidInput(FloeError):
    http_status = 400


class InvalidIdentifier(InvalidInput):
    http_status = 400


class Conflict(FloeError):
    http_status = 409


class PermissionDenied(FloeError):
    http_status = 403


class Unauthenticated(FloeError):
    http_status = 401

    @property
    def http_headers(self) -> dict[str, str]:
        return {"www-authenticate": 'Bearer realm="floe"'}


class TooManyAttempts(Unauthenticated):
    """Too many failed sign-ins from one client address: refused, unchecked, for a while."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def http_headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after_s)}


class IntegrityError(FloeError):
    http_status = 500


class EnvironmentMismatch(FloeError):
    http_status = 409


class CatalogError(FloeError):
    http_status = 503


class ModelError(FloeError):
    http_status = 500
