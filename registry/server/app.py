"""The registry server's application: every request signs in with a bearer token and acts as
a role of the token's (a user's token: ``X-Floe-Role``, default the user's default role), so
the one authorization point (``registry.access.authorize``) decides with a role no client
chose for itself. Routes call the Python API and nothing else: a route is the same operation,
checks and errors as the method it calls.

The error edge: every ``FloeError`` is ``{"error": message, "type": ErrorClass}`` with the
class's HTTP status (401 with ``WWW-Authenticate``, 429 with ``Retry-After``); a body or query
FastAPI refuses is 400 ``InvalidInput``; anything else 500, logged, its class name only.
Failed sign-ins are limited per client address (``FailureLimiter``).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from registry.access.ratelimit import FailureLimiter
from registry.api.backend import VersionInfo
from registry.api.context import check_comment, check_metrics
from registry.api.model import Model
from registry.api.model_version import ModelVersion
from registry.api.records import frame_json, frame_records, to_json
from registry.api.registry import Registry
from registry.catalog.base import SYSTEM_ALIASES
from registry.catalog.tables import VersionRow
from registry.errors import FloeError, InvalidInput, Unauthenticated
from registry.identifiers import format_identifier, id_ref, parse_identifier, parse_qualified_name
from registry.server.transfer import begin_upload, commit_upload, open_version_file, receive_file
from registry.settings import default_catalog_url

__all__ = ["create_app"]

log = logging.getLogger(__name__)
API = "/api/v1"


# Module level: the routes' annotations are strings (``from __future__ import annotations``)
# that FastAPI resolves in this module's namespace.
Authorization = Annotated[str | None, Header(description="Bearer <token>")]
Role = Annotated[str | None, Header(alias="X-Floe-Role",
                                    description="act as this role of the token's user")]
Purpose = Literal["run", "load", "export"]
Database = Annotated[str | None, Query(description="the model's database (default ML)")]
Schema = Annotated[str | None, Query(description="the model's schema (default REGISTRY)")]


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


class Comment(BaseModel):
    comment: str | None


class TagValue(BaseModel):
    value: str


class MetricValue(BaseModel):
    value: Any


class VersionRef(BaseModel):
    version: str


class NewName(BaseModel):
    name: str


class SqlStatement(BaseModel):
    statement: str


class NewVersion(BaseModel):
    model: str
    version: str | None = None

    def names(self) -> tuple[str, str | None]:
        """The model's and version's names, resolved (as ``log_model`` checks them)."""
        name = parse_identifier(self.model, "model")
        version = parse_identifier(self.version, "version") if self.version else None
        if version in SYSTEM_ALIASES:
            raise InvalidInput(f"{version} is a system alias; choose another version_name")
        return name, version


class NewUpload(NewVersion):
    comment: str | None = None
    metrics: dict[str, Any] = {}
    manifest: str


class GcRequest(BaseModel):
    grace_period_s: float = 3600.0


class NewToken(BaseModel):
    user: str | None = None
    role: str | None = None
    expires_in: str | None = None


def _reply(data: Any) -> JSONResponse:
    """``data`` as JSON, encoded once by ``to_json`` (FastAPI's own encoder walks every value
    again: 10,000 models' listing took several times longer through it)."""
    return JSONResponse(to_json(data))


def _frame(frame: pd.DataFrame) -> JSONResponse:
    """A DataFrame the API returns, as ``{"columns": [...], "data": [[row], ...]}``: the
    same columns and values (JSON-text columns stay text), so a client rebuilds the same
    frame; encoded a column at a time (``frame_json``)."""
    return JSONResponse(frame_json(frame))


def _info_json(info: VersionInfo) -> dict[str, Any]:
    return {"id": info.id, "name": format_identifier(info.name), "comment": info.comment,
            "manifest_sha256": info.manifest_sha256}


def _error(exc: FloeError) -> JSONResponse:
    return JSONResponse({"error": exc.message, "type": type(exc).__name__},
                        status_code=exc.http_status, headers=exc.http_headers)


def create_app(*, catalog_url: str | None = None, artifact_root: str | None = None,
               max_failures: int = 10, failure_window_s: float = 60.0) -> FastAPI:
    """The server's application over the catalog at ``catalog_url`` and its artifact root."""
    app = FastAPI(title="Floe registry", version="1", openapi_url="/openapi.json",
                  responses=ERROR_RESPONSES)
    limiter = FailureLimiter(max_failures, failure_window_s)
    # The server opens the catalog itself, whatever FLOE_REGISTRY_URL says.
    catalog: dict[str, str | None] = {"catalog_url": catalog_url or default_catalog_url(),
                                      "artifact_root": artifact_root}
    # Open (and migrate) the catalog now: a bad URL stops the start.
    Registry(catalog_url=catalog["catalog_url"], artifact_root=artifact_root)

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


    def signed_in(request: Request, authorization: str | None, role: str | None,
                  database: str | None = None, schema: str | None = None) -> Registry:
        address = request.client.host if request.client is not None else "unknown"
        limiter.check(address)
        try:
            return Registry.from_token(authorization, database, schema, role=role, once=True,
                                       **catalog)  # one request: the next checks afresh
        except Unauthenticated:
            limiter.failed(address)
            raise

    def located(request: Request, authorization: str | None, role: str | None, model: str,
                database: str | None, schema: str | None) -> tuple[Registry, Model]:
        """The signed-in registry of ``model`` (``NAME``, ``DB.SCHEMA.NAME`` or ``@ID``), and
        it."""
        if id_ref(model) is not None:
            reg = signed_in(request, authorization, role, database, schema)
            return reg, reg.get_model(model)
        name = parse_qualified_name(model, "model")
        if name.schema is not None:
            database = format_identifier(name.database) if name.database else database
            schema = format_identifier(name.schema)
        reg = signed_in(request, authorization, role, database, schema)
        return reg, reg.get_model(format_identifier(name.name))

    def version_details(mv: ModelVersion, shows_metrics: bool) -> dict[str, Any]:
        return {
            "model": mv.fully_qualified_model_name, "name": mv.version_name, "id": mv.id,
            "comment": mv.comment, "aliases": mv.aliases,
            "metrics": mv.show_metrics() if shows_metrics else None,
            "functions": [f.to_dict() for f in mv.show_functions()],
        }

    def version_info(mv: ModelVersion) -> dict[str, Any]:
        return _info_json(mv._fixed_info())

    @app.get("/-/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- models ---------------------------------------------------------------------------------

    @app.get(f"{API}/models", tags=["models"])
    def list_models(request: Request, authorization: Authorization = None, role: Role = None,
                    database: Database = None, schema: Schema = None) -> Any:
        reg = signed_in(request, authorization, role, database, schema)
        return _frame(reg.show_models())

    @app.get(f"{API}/namespace", tags=["models"])
    def namespace(request: Request, authorization: Authorization = None, role: Role = None,
                  database: Database = None, schema: Schema = None) -> dict[str, Any]:
        reg = signed_in(request, authorization, role, database, schema)
        return {"database": reg.database_name, "schema": reg.schema_name,
                "exists": reg.exists(), "role": reg.role}

    @app.get(f"{API}/model-ids", tags=["models"])
    def model_ids(request: Request, authorization: Authorization = None, role: Role = None,
                  database: Database = None, schema: Schema = None) -> dict[str, list[str]]:
        """The ids of the namespace's models the role may see, ordered by name."""
        reg = signed_in(request, authorization, role, database, schema)
        return {"ids": [m.id for m in reg.models()]}

    @app.get(f"{API}/models/{{model}}", tags=["models"])
    def show_model(request: Request, model: str, authorization: Authorization = None,
                   role: Role = None, database: Database = None,
                   schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        versions = frame_records(m.show_versions(), json_columns=("aliases",))
        return _reply({
            "id": m.id, "name": m.name, "fully_qualified_name": m.fully_qualified_name,
            "comment": m.comment, "tags": m.show_tags(),
            "default_version_name": next(
                (v["name"] for v in versions if v["is_default_version"]), None),
            "versions": [v["name"] for v in versions],
        })

    @app.delete(f"{API}/models/{{model}}", tags=["models"])
    def delete_model(request: Request, model: str, authorization: Authorization = None,
                     role: Role = None, database: Database = None,
                     schema: Schema = None) -> dict[str, str]:
        reg, m = located(request, authorization, role, model, database, schema)
        label = m.fully_qualified_name
        reg.delete_model(m.name)
        return {"deleted": label}

    @app.post(f"{API}/models/{{model}}/rename", tags=["models"])
    def rename_model(request: Request, model: str, body: NewName,
                     authorization: Authorization = None, role: Role = None,
                     database: Database = None, schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        m.rename(body.name)
        return {"fully_qualified_name": m.fully_qualified_name}

    @app.put(f"{API}/models/{{model}}/comment", tags=["models"])
    def set_comment(request: Request, model: str, body: Comment,
                    authorization: Authorization = None, role: Role = None,
                    database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        m.comment = body.comment
        return {"comment": m.comment}

    @app.get(f"{API}/models/{{model}}/name", tags=["models"])
    def model_name(request: Request, model: str, authorization: Authorization = None,
                   role: Role = None, database: Database = None,
                   schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        return {"id": m.id, "name": m.name, "fully_qualified_name": m.fully_qualified_name}

    @app.get(f"{API}/models/{{model}}/comment", tags=["models"])
    def get_comment(request: Request, model: str, authorization: Authorization = None,
                    role: Role = None, database: Database = None,
                    schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return {"comment": m.comment}

    @app.get(f"{API}/models/{{model}}/privileges/{{privilege}}", tags=["access"])
    def holds(request: Request, model: str, privilege: str, authorization: Authorization = None,
              role: Role = None, database: Database = None,
              schema: Schema = None) -> dict[str, bool]:
        """Whether the role holds ``privilege`` (USAGE, READ, OWNERSHIP) on the model."""
        _, m = located(request, authorization, role, model, database, schema)
        return {"held": m.holds(privilege)}

    @app.get(f"{API}/models/{{model}}/tags", tags=["tags"])
    def list_tags(request: Request, model: str, authorization: Authorization = None,
                  role: Role = None, database: Database = None,
                  schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        return m.show_tags()

    @app.put(f"{API}/models/{{model}}/tags/{{tag}}", tags=["tags"])
    def set_tag(request: Request, model: str, tag: str, body: TagValue,
                authorization: Authorization = None, role: Role = None,
                database: Database = None, schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        m.set_tag(tag, body.value)
        return m.show_tags()

    @app.delete(f"{API}/models/{{model}}/tags/{{tag}}", tags=["tags"])
    def unset_tag(request: Request, model: str, tag: str, authorization: Authorization = None,
                  role: Role = None, database: Database = None,
                  schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        m.unset_tag(tag)
        return m.show_tags()

    @app.put(f"{API}/models/{{model}}/default", tags=["aliases"])
    def set_default(request: Request, model: str, body: VersionRef,
                    authorization: Authorization = None, role: Role = None,
                    database: Database = None, schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        m.default = body.version
        return {"default_version_name": m.default.version_name}

    @app.put(f"{API}/models/{{model}}/aliases/{{alias}}", tags=["aliases"])
    def set_alias(request: Request, model: str, alias: str, body: VersionRef,
                  authorization: Authorization = None, role: Role = None,
                  database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        mv = m.version(body.version)
        mv.set_alias(alias)
        return {"version": mv.version_name, "aliases": mv.aliases}

    @app.delete(f"{API}/models/{{model}}/aliases/{{alias}}", tags=["aliases"])
    def unset_alias(request: Request, model: str, alias: str,
                    authorization: Authorization = None, role: Role = None,
                    database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        mv = m.version(alias)
        mv.unset_alias(alias)
        return {"version": mv.version_name, "aliases": mv.aliases}

    # -- versions -------------------------------------------------------------------------------

    @app.get(f"{API}/models/{{model}}/versions", tags=["versions"])
    def list_versions(request: Request, model: str, authorization: Authorization = None,
                      role: Role = None, database: Database = None,
                      schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return _frame(m.show_versions())

    @app.get(f"{API}/models/{{model}}/versions/{{version}}", tags=["versions"])
    def show_version(request: Request, model: str, version: str,
                     authorization: Authorization = None, role: Role = None,
                     database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return _reply(version_details(m.version(version), m.holds("READ")))

    @app.delete(f"{API}/models/{{model}}/versions/{{version}}", tags=["versions"])
    def delete_version(request: Request, model: str, version: str,
                       authorization: Authorization = None, role: Role = None,
                       database: Database = None, schema: Schema = None) -> dict[str, str]:
        _, m = located(request, authorization, role, model, database, schema)
        label = m.fully_qualified_name
        m.delete_version(version)  # OWNERSHIP is checked before the version is looked up
        return {"deleted": f"{label} version {version}"}

    @app.put(f"{API}/models/{{model}}/versions/{{version}}/comment", tags=["versions"])
    def set_version_comment(request: Request, model: str, version: str, body: Comment,
                            authorization: Authorization = None, role: Role = None,
                            database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        mv = m.version(version)
        mv.comment = body.comment
        return {"comment": mv.comment}

    @app.get(f"{API}/models/{{model}}/versions/{{version}}/metrics", tags=["metrics"])
    def list_metrics(request: Request, model: str, version: str,
                     authorization: Authorization = None, role: Role = None,
                     database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return _reply(m.version(version).show_metrics())

    @app.put(f"{API}/models/{{model}}/versions/{{version}}/metrics/{{name}}", tags=["metrics"])
    def set_metric(request: Request, model: str, version: str, name: str, body: MetricValue,
                   authorization: Authorization = None, role: Role = None,
                   database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        mv = m.version(version)
        mv.set_metric(name, body.value)
        return _reply(mv.show_metrics())

    @app.delete(f"{API}/models/{{model}}/versions/{{version}}/metrics/{{name}}",
                tags=["metrics"])
    def delete_metric(request: Request, model: str, version: str, name: str,
                      authorization: Authorization = None, role: Role = None,
                      database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        mv = m.version(version)
        mv.delete_metric(name)
        return _reply(mv.show_metrics())

    @app.get(f"{API}/models/{{model}}/version-infos", tags=["versions"])
    def version_infos(request: Request, model: str, authorization: Authorization = None,
                      role: Role = None, database: Database = None,
                      schema: Schema = None) -> Any:
        """Every version's id, name, comment and manifest sha256, oldest first."""
        _, m = located(request, authorization, role, model, database, schema)
        return [version_info(mv) for mv in m.versions()]

    @app.get(f"{API}/models/{{model}}/versions/{{version}}/info", tags=["versions"])
    def show_version_info(request: Request, model: str, version: str,
                          authorization: Authorization = None, role: Role = None,
                          database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return version_info(m.version(version))

    @app.get(f"{API}/models/{{model}}/versions/{{version}}/comment", tags=["versions"])
    def get_version_comment(request: Request, model: str, version: str,
                            authorization: Authorization = None, role: Role = None,
                            database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return {"comment": m.version(version).comment}

    @app.get(f"{API}/models/{{model}}/versions/{{version}}/aliases", tags=["aliases"])
    def version_aliases(request: Request, model: str, version: str,
                        authorization: Authorization = None, role: Role = None,
                        database: Database = None, schema: Schema = None) -> list[str]:
        _, m = located(request, authorization, role, model, database, schema)
        return m.version(version).aliases

    @app.delete(f"{API}/models/{{model}}/versions/{{version}}/aliases/{{alias}}",
                tags=["aliases"])
    def unset_version_alias(request: Request, model: str, version: str, alias: str,
                            authorization: Authorization = None, role: Role = None,
                            database: Database = None, schema: Schema = None) -> Any:
        """Unset ``alias`` if it points at this version (else 404)."""
        _, m = located(request, authorization, role, model, database, schema)
        mv = m.version(version)
        mv.unset_alias(alias)
        return {"version": mv.version_name, "aliases": mv.aliases}

    @app.get(f"{API}/models/{{model}}/versions/{{version}}/functions", tags=["versions"])
    def version_functions(request: Request, model: str, version: str,
                          authorization: Authorization = None, role: Role = None,
                          database: Database = None, schema: Schema = None) -> Any:
        _, m = located(request, authorization, role, model, database, schema)
        return _reply([f.to_dict() for f in m.version(version).show_functions()])

    @app.get(f"{API}/models/{{model}}/versions/{{version}}/files/{{path:path}}",
             tags=["artifacts"], response_class=StreamingResponse,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "the file's bytes; X-Floe-Sha256 is its sha256"}})
    def version_file(request: Request, model: str, version: str, path: str,
                     purpose: Annotated[Purpose, Query(
                         description="what the client does with it: run (USAGE), load or "
                                     "export (OWNERSHIP)")] = "run",
                     authorization: Authorization = None, role: Role = None,
                     database: Database = None, schema: Schema = None) -> StreamingResponse:
        """One file of a version (MANIFEST.yml included), for a client that runs, loads or
        exports it where it is; checked against the manifest as it is read."""
        reg, m = located(request, authorization, role, model, database, schema)
        size, sha256, chunks = open_version_file(reg._local(), m.id, version, purpose, path)
        return StreamingResponse(chunks, media_type="application/octet-stream", headers={
            "x-floe-sha256": sha256, "content-length": str(size)})

    # -- uploads (log_model through the server) -------------------------------------------------

    @app.post(f"{API}/uploads/check", tags=["uploads"])
    def check_upload(request: Request, body: NewVersion, authorization: Authorization = None,
                     role: Role = None, database: Database = None,
                     schema: Schema = None) -> dict[str, bool]:
        """Whether the role may log this version now (the errors log_model would raise)."""
        reg = signed_in(request, authorization, role, database, schema)
        name, version = body.names()
        reg._local().check_log(name, version)
        return {"ok": True}

    @app.post(f"{API}/uploads", tags=["uploads"])
    def open_upload(request: Request, body: NewUpload, authorization: Authorization = None,
                    role: Role = None, database: Database = None,
                    schema: Schema = None) -> dict[str, str]:
        """Open the upload of a new version: its id; then PUT each file the manifest lists
        and POST .../commit."""
        reg = signed_in(request, authorization, role, database, schema)
        name, version = body.names()
        upload = begin_upload(reg._local(), model=name, version=version,
                              comment=check_comment(body.comment, VersionRow),
                              metrics=check_metrics(body.metrics), manifest=body.manifest)
        return {"upload": upload}

    @app.put(f"{API}/uploads/{{upload}}/files/{{path:path}}", tags=["uploads"],
             openapi_extra={"requestBody": {"content": {"application/octet-stream": {}},
                                            "required": True}})
    async def upload_file(request: Request, upload: str, path: str,
                          authorization: Authorization = None, role: Role = None,
                          database: Database = None, schema: Schema = None) -> Any:
        """One file of an open upload, streamed (any size, bounded memory); refused, and not
        kept, unless its size and sha256 are the manifest's."""
        reg = await run_in_threadpool(signed_in, request, authorization, role, database,
                                      schema)
        receiver, sha256, size = await run_in_threadpool(receive_file, reg._local(), upload,
                                                         path)
        try:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(receiver.write, chunk, limit=size)
        except ClientDisconnect:  # nobody to answer; gc collects the rest of the upload
            await run_in_threadpool(receiver.abort)
            log.info("upload %s: the client went away during %s", upload, path)
            return _error(InvalidInput(f"{path} was cut short; send it again"))
        except BaseException:
            await run_in_threadpool(receiver.abort)
            raise
        await run_in_threadpool(receiver.finish, sha256, size)
        return {"path": path, "size": size, "sha256": sha256}

    @app.post(f"{API}/uploads/{{upload}}/commit", tags=["uploads"])
    def commit(request: Request, upload: str, authorization: Authorization = None,
               role: Role = None, database: Database = None,
               schema: Schema = None) -> dict[str, Any]:
        """Check every file of the upload again and commit the version: visible from now."""
        reg = signed_in(request, authorization, role, database, schema)
        model_id, info = commit_upload(reg._local(), upload)
        return {"model_id": model_id, "version": _info_json(info)}

    @app.post(f"{API}/gc", tags=["artifacts"])
    def gc(request: Request, body: GcRequest, authorization: Authorization = None,
           role: Role = None) -> dict[str, list[str]]:
        """Remove stored versions no catalog row references (failed logs, interrupted
        uploads) older than the grace period (ADMIN)."""
        reg = signed_in(request, authorization, role)
        return {"removed": reg.gc(grace_period_s=body.grace_period_s)}

    @app.get(f"{API}/artifacts", tags=["artifacts"])
    def list_artifacts(request: Request, url: Annotated[str, Query(
                           description="floe://model/MODEL/versions/VERSION/[PATH]")],
                       authorization: Authorization = None, role: Role = None,
                       database: Database = None, schema: Schema = None) -> Any:
        reg = signed_in(request, authorization, role, database, schema)
        return _frame(reg.list_artifacts(url))

    @app.get(f"{API}/artifacts/file", tags=["artifacts"],
             response_class=StreamingResponse,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "the file's bytes; X-Floe-Sha256 is its sha256"}})
    def get_artifact(request: Request, url: Annotated[str, Query(
                         description="floe://model/MODEL/versions/VERSION/PATH of one file")],
                     authorization: Authorization = None, role: Role = None,
                     database: Database = None, schema: Schema = None) -> StreamingResponse:
        """One file of a version (READ), streamed; checked against the manifest before the
        first byte. Check X-Floe-Sha256 on what arrives before using it."""
        reg = signed_in(request, authorization, role, database, schema)
        name, size, sha256, chunks = reg.open_artifact(url)
        quoted = urllib.parse.quote(name)
        return StreamingResponse(chunks, media_type="application/octet-stream", headers={
            "x-floe-sha256": sha256, "content-length": str(size),
            "content-disposition": f"attachment; filename*=UTF-8''{quoted}"})

    # -- access control -------------------------------------------------------------------------

    @app.post(f"{API}/sql", tags=["access"])
    def sql(request: Request, body: SqlStatement, authorization: Authorization = None,
            role: Role = None, database: Database = None,
            schema: Schema = None) -> Any:
        """One access-control statement (GRANT, REVOKE, CREATE/DROP ROLE|USER, SHOW ...)."""
        reg = signed_in(request, authorization, role, database, schema)
        return _frame(reg.sql(body.statement))

    @app.get(f"{API}/audit", tags=["access"])
    def audit(request: Request, authorization: Authorization = None, role: Role = None,
              model: str | None = None, since: str | None = None, database: Database = None,
              schema: Schema = None) -> Any:
        reg = signed_in(request, authorization, role, database, schema)
        frame = reg.show_audit(model=model, since=since)
        return _frame(frame)

    @app.get(f"{API}/tokens", tags=["access"])
    def list_tokens(request: Request, authorization: Authorization = None,
                    role: Role = None) -> Any:
        return _frame(signed_in(request, authorization, role).show_tokens())

    @app.post(f"{API}/tokens", tags=["access"])
    def create_token(request: Request, body: NewToken, authorization: Authorization = None,
                     role: Role = None) -> dict[str, str]:
        """A new token, shown this once."""
        reg = signed_in(request, authorization, role)
        return {"token": reg.create_token(body.role, user=body.user, expires_in=body.expires_in)}

    @app.delete(f"{API}/tokens/{{token_id}}", tags=["access"])
    def revoke_token(request: Request, token_id: str, authorization: Authorization = None,
                     role: Role = None) -> dict[str, str]:
        signed_in(request, authorization, role).revoke_token(token_id)
        return {"revoked": token_id}

    return app
