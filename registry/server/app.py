"""The registry server's application: every request signs in with a bearer token and acts as
a role of the token's (a user's token: ``X-Floe-Role``, default the user's default role), so
the one authorization point (``registry.access.authorize``) decides with a role no client
chose for itself. The routes (``routes_*``) call the Python API and nothing else: a route is the same operation,
checks and errors as the method it calls.

The error edge: every ``FloeError`` is ``{"error": message, "type": ErrorClass}`` with the
class's HTTP status (401 with ``WWW-Authenticate``, 429 with ``Retry-After``); a body or query
FastAPI refuses is 400 ``InvalidInput``; anything else 500, logged, its class name only.
Failed sign-ins are limited per client address (``FailureLimiter``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.access.ratelimit import FailureLimiter
from registry.api.registry import Registry
from registry.errors import FloeError, InvalidInput
from registry.server import routes_access, routes_models, routes_transfer, routes_versions
from registry.server.signin import Gate

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every error: the message names the problem and the fix; ``type`` is the error class."""

    error: str
    type: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "bad input (InvalidInput, InvalidIdentifier)"),
        (401, "no, a bad, an expired or a revoked token (Unauthenticated)"),
        (403, "the role may not do this (PermissionDenied)"),
        (404, "no such model, version, file or route, or one the role may not see"),
        (409, "a conflict with what exists (AlreadyExists, Conflict)"),
        (429, "too many failed sign-ins from this address (TooManyAttempts)"),
        (500, "the server failed, or stored data is damaged (IntegrityError)"),
        (503, "the catalog is unreachable (CatalogError)"),
    )
}


def _error(exc: FloeError) -> JSONResponse:
    return JSONResponse({"error": exc.message, "type": type(exc).__name__},
                        status_code=exc.http_status, headers=exc.http_headers)


def create_app(*, catalog_url: str | None = None, artifact_root: str | None = None,
               max_failures: int = 10, failure_window_s: float = 60.0) -> FastAPI:
    """The server's application over the catalog at ``catalog_url`` (the server opens the
    catalog itself, whatever FLOE_REGISTRY_URL says) and its artifact root."""
    app = FastAPI(title="Floe registry", version="1", openapi_url="/openapi.json",
                  responses=ERROR_RESPONSES)
    gate = Gate(catalog_url, artifact_root, FailureLimiter(max_failures, failure_window_s))
    # Open (and migrate) the catalog now: a bad URL stops the start.
    Registry(catalog_url=gate.catalog_url, artifact_root=artifact_root)

    @app.exception_handler(FloeError)
    async def floe_error(request: Request, exc: FloeError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error(InvalidInput(f"bad request: {problems}; see /openapi.json"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "NotFound" if exc.status_code == 404 else "HTTPError"
        message = (f"no route {request.method} {request.url.path}; see /openapi.json"
                   if exc.status_code in (404, 405) else str(exc.detail))
        return JSONResponse({"error": message, "type": kind}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"the server failed on this request "
                                      f"({type(exc).__name__}); see its log",
                             "type": "InternalError"}, status_code=500)

    @app.get("/-/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for routes in (routes_models, routes_versions, routes_transfer, routes_access):
        app.include_router(routes.router(gate))
    return app
