"""How every request of the registry server signs in: its bearer token (and, for a user's
token, ``X-Floe-Role``) opens a registry on the catalog acting for it, for that one request;
the namespace comes from ``?database=&schema=`` or the model's qualified name. Failed
sign-ins are limited per client address (``FailureLimiter``; behind a trusted proxy, the
address it forwards)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.routing import APIRoute

from registry.access.ratelimit import FailureLimiter
from registry.api.model import Model
from registry.api.model_version import ModelVersion
from registry.api.registry import Registry
from registry.catalog.base import one_connection
from registry.errors import Unauthenticated
from registry.identifiers import format_identifier, id_ref, parse_qualified_name
from registry.settings import default_catalog_url

__all__ = ["API", "Credentials", "Gate", "Signed", "SignedRoute"]

API = "/api/v1"


@dataclass(frozen=True)
class Credentials:
    """What a request signs in with, read from it (nothing checked yet)."""

    request: Request
    authorization: str | None
    role: str | None
    database: str | None
    schema: str | None


async def _credentials(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
    role: Annotated[str | None, Header(alias="X-Floe-Role",
                                       description="act as this role of the token's user")] = None,
    database: Annotated[str | None, Query(description="the model's database (default ML)")] = None,
    schema: Annotated[str | None, Query(description="the model's schema (default REGISTRY)")] = None,
) -> Credentials:
    return Credentials(request, authorization, role, database, schema)


# Every route's one dependency: documents the headers and the namespace in the OpenAPI schema,
# and checks nothing (the route signs in, in its own thread).
Signed = Annotated[Credentials, Depends(_credentials)]


class SignedRoute(APIRoute):
    """A route whose endpoint makes all its catalog reads, signing in included, on one
    connection (``one_connection``), in the thread it runs in. An ``async`` endpoint (a
    streamed upload: its reads run in threads of their own) is left as it is."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.iscoroutinefunction(endpoint):
            super().__init__(path, endpoint, **kwargs)
            return

        @functools.wraps(endpoint)
        def in_one_connection(*args: Any, **kw: Any) -> Any:
            with one_connection():
                return endpoint(*args, **kw)

        super().__init__(path, in_one_connection, **kwargs)


class Gate:
    """Signs requests in against the catalog at ``catalog_url`` (never a server's URL)."""

    def __init__(self, catalog_url: str | None, artifact_root: str | None,
                 limiter: FailureLimiter) -> None:
        self.catalog_url = catalog_url or default_catalog_url()
        self.artifact_root = artifact_root
        self.limiter = limiter

    def open(self, who: Credentials, database: str | None = None,
             schema: str | None = None) -> Registry:
        """The registry acting for ``who``'s token, for this request only (the next request
        checks the token afresh)."""
        request = who.request
        address = request.client.host if request.client is not None else "unknown"
        self.limiter.check(address)
        try:
            return Registry.from_token(
                who.authorization, database or who.database, schema or who.schema,
                role=who.role, once=True, catalog_url=self.catalog_url,
                artifact_root=self.artifact_root)
        except Unauthenticated:
            self.limiter.failed(address)
            raise

    def version(self, who: Credentials, model: str, version: str) -> ModelVersion:
        """The version (name, alias or ``@ID``) of ``model``, for ``who``."""
        return self.locate(who, model)[1].version(version)

    def locate(self, who: Credentials, model: str) -> tuple[Registry, Model]:
        """The signed-in registry of ``model`` (``NAME``, ``DB.SCHEMA.NAME`` or ``@ID``), and
        it."""
        if id_ref(model) is not None:
            reg = self.open(who)
            return reg, reg.get_model(model)
        name = parse_qualified_name(model, "model")
        database = format_identifier(name.database) if name.database else None
        schema = format_identifier(name.schema) if name.schema else None
        reg = self.open(who, database, schema)
        return reg, reg.get_model(format_identifier(name.name))
