"""The HTTP front: one FastAPI ingress for every endpoint (OpenAPI at ``/openapi.json``,
docs at ``/docs``). It finds the endpoint a path names and forwards the request's bytes to
one of its replicas through a Serve handle; errors leave through ``serve.errors``.

Routes: Floe's (Snowflake's and MLflow's bodies) ``POST /models/{model}[/versions/{v}]/{function}``,
MLflow's ``POST /models/{model}[/versions/{v}]/invocations``, the Open Inference Protocol's
``/v2/...``, ``GET /models`` and ``GET /-/healthz``.

With access control on, each request's token is checked by the registry: the catalog itself,
or a registry server (``registry_url``) the front asks with the caller's own token, so the
server decides and the front never sees its catalog.
"""


import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from ray import serve as ray_serve
from ray.util import metrics
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry import (
    FailureLimiter,
    FloeError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Registry,
    TooManyAttempts,
    Unauthenticated,
    format_identifier,
    parse_identifier,
    parse_qualified_name,
)
from serve.errors import BodyTooLarge, error_reply
from serve.messages import InferRequest, Protocol
from serve.refs import APP_PREFIX, running_replicas

__all__ = ["FRONT_APP", "Front", "app"]


class _Catalog(TypedDict):
    catalog_url: str | None
    artifact_root: str | None

log = logging.getLogger(__name__)

#: The front's Serve application name.
FRONT_APP = "floe"
_LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]

app = FastAPI(
    title="Floe",
    description="Registered model versions as HTTP endpoints: Snowflake's service format, "
    "MLflow's scoring formats and the Open Inference Protocol (KServe v2).",
)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = "NotFound" if exc.status_code == 404 else "HTTPError"
    message = f"no route {request.method} {request.url.path}; see /docs" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse({"error": message, "type": kind}, status_code=exc.status_code)


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"error": f"malformed request: {exc.errors()}", "type": "InvalidInput"},
                        status_code=400)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = BodyTooLarge(f"the body is over the limit of {limit // (1024 * 1024)} MiB; send "
                             "fewer rows per request, or start the front with a larger --max-body-mb")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _header_length(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise InvalidInput(f"Inference-Header-Content-Length {value!r} is not a byte count; send "
                           "the size of the JSON header in bytes")
    return int(value)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("floe")
    except PackageNotFoundError:
        return "0"


def _no_endpoint(model: str, selector: str, hint: str) -> NotFound:
    """What a request to an endpoint that is not deployed gets (and, with access control on,
    one the caller's role may not use: the same words)."""
    version = format_identifier(selector)
    target = f"{model}@{version}" if selector == "DEFAULT" else f"{model}/{version}"
    return NotFound(f"no endpoint serves {target}; {hint or 'list them: GET /models or floe serve list'}; "
                    f"deploy one: floe serve deploy {target}")


def _bearer(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (or a bare token), for a
    server to check: ``""`` when there is none (never ``None``, which would stand for the
    front's own ``$FLOE_TOKEN``), and what HTTP headers cannot carry replaced, so the server
    refuses it as it refuses any bad token."""
    text = header.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    return text.encode("ascii", "replace").decode("ascii")


@dataclass
class _Known:
    """An endpoint the front routes to."""

    app_name: str
    database: str
    schema: str
    name: str
    selector: str
    ref: str
    handle: Any


@ray_serve.deployment(
    name="front", max_ongoing_requests=10_000, ray_actor_options={"num_cpus": 0},
)
@ray_serve.ingress(app)
class Front:
    def __init__(
        self, max_body_mb: float = 64.0, refresh_s: float = 1.0, *, auth: bool = False,
        catalog_url: str | None = None, artifact_root: str | None = None,
        registry_url: str | None = None, auth_ttl_s: float = 2.0,
    ) -> None:
        self._auth, self._auth_ttl_s = auth, auth_ttl_s
        self._catalog: _Catalog = {"catalog_url": catalog_url, "artifact_root": artifact_root}
        self._registry_url = registry_url  # a server: asked with each caller's own token
        # (Authorization, X-Floe-Role, endpoint app or None) -> (good until, the error or None)
        self._checked: dict[tuple[str, str | None, str | None],
                            tuple[float, FloeError | None]] = {}
        self._limiter = FailureLimiter()  # failed sign-ins per client address
        self._max_body = int(max_body_mb * 1024 * 1024)
        self._refresh_s = refresh_s
        self._known: dict[str, _Known] = {}
        self._refreshed_at = 0.0
        self._lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None
        self._requests = metrics.Counter(
            "floe_requests_total", description="Requests to Floe endpoints, by status.",
            tag_keys=("endpoint", "status"),
        )
        self._latency = metrics.Histogram(
            "floe_request_latency_seconds", description="Latency of Floe endpoint requests.",
            boundaries=_LATENCY_BUCKETS, tag_keys=("endpoint",),
        )

    # -- finding endpoints -----------------------------------------------------------------

    async def _refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            now = time.monotonic()
            if not force and now - self._refreshed_at < self._refresh_s:
                return
            statuses = await asyncio.to_thread(ray_serve.status)
            names = {n for n in statuses.applications if n.startswith(APP_PREFIX)}
            for gone in set(self._known) - names:
                del self._known[gone]
            for name in names - set(self._known):
                try:
                    handle = ray_serve.get_app_handle(name)
                    doc = await asyncio.wait_for(handle.describe.remote(), timeout=10)
                except Exception:  # not up yet: found on a later refresh
                    log.debug("endpoint %s not answering yet", name, exc_info=True)
                    continue
                self._known[name] = _Known(name, doc["database"], doc["schema"], doc["name"],
                                           doc["selector"], doc["ref"], handle)
            self._refreshed_at = time.monotonic()

    def _ensure_refresher(self) -> None:
        if self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        """Endpoints removed (or added) elsewhere leave (or join) the table within
        ``refresh_s``, whether or not a request misses."""
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self._refresh()
            except Exception:
                log.warning("cannot list Serve's applications", exc_info=True)

    async def _find(self, model: str, selector: str) -> _Known:
        self._ensure_refresher()
        qualified = parse_qualified_name(model, "model")
        wanted = parse_identifier(selector, "version")
        for attempt in (0, 1):
            if attempt:
                await self._refresh()
            found = [k for k in self._known.values() if k.name == qualified.name
                     and k.selector == wanted
                     and qualified.schema in (None, k.schema)
                     and qualified.database in (None, k.database)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidInput(f"{model} names several endpoints ({', '.join(k.ref for k in found)}); "
                                   "qualify it: DB.SCHEMA.NAME")
        same_model = sorted(k.ref for k in self._known.values() if k.name == qualified.name)
        hint = f"deployed for it: {', '.join(same_model)}" if same_model and not self._auth else ""
        raise _no_endpoint(str(qualified), wanted, hint)

    # -- access control ---------------------------------------------------------------------

    async def _authorize(self, request: Request, known: _Known | None,
                         model: str = "", selector: str = "DEFAULT") -> None:
        """With access control on: the request's bearer token must be valid (401 if not), the
        role it acts as (a user's token: ``X-Floe-Role``, else the user's default role) must be
        the token's (403 if not) and hold USAGE on ``known``'s model (if not, the endpoint
        does not exist for it: 404, as for one never deployed). Each answer holds
        ``auth_ttl_s``: the bound within which a revoked token, grant or role is refused."""
        if not self._auth:
            return
        address = request.client.host if request.client is not None else "unknown"
        self._limiter.check(address)  # 429 while the address has too many failed sign-ins
        header = request.headers.get("authorization") or ""
        role = request.headers.get("x-floe-role") or None  # a user's token: one of theirs
        key = (header, role, known.app_name if known is not None else None)
        now = time.monotonic()
        cached = self._checked.get(key)
        if cached is None or cached[0] <= now:
            error = await asyncio.to_thread(self._check, header, role, known, address)
            if isinstance(error, TooManyAttempts):  # the server's limit: no answer to keep
                raise error
            if len(self._checked) > 10_000:  # bounded: many clients, or many bad tokens
                self._checked.clear()
            cached = self._checked[key] = (now + self._auth_ttl_s, error)
        if isinstance(cached[1], Unauthenticated):
            self._limiter.failed(address)
        if isinstance(cached[1], NotFound):  # as the client named it, as for one not deployed
            raise _no_endpoint(str(parse_qualified_name(model, "model")),
                               parse_identifier(selector, "version"), "")
        if cached[1] is not None:
            raise cached[1]

    def _caller(self, header: str, role: str | None, known: _Known | None,
                address: str) -> Registry:
        """The registry acting for this token and role (in ``known``'s namespace): on the
        catalog itself, or a registry server's client signed in with the caller's own token."""
        names = ((format_identifier(known.database), format_identifier(known.schema))
                 if known is not None else (None, None))
        if self._registry_url is not None:
            return Registry(*names, url=self._registry_url, token=_bearer(header), role=role,
                            forwarded_for=address)  # the server limits sign-ins per client
        return Registry.from_token(header, *names, role=role, once=True, **self._catalog)

    def _check(self, header: str, role: str | None, known: _Known | None,
               address: str) -> FloeError | None:
        """The registry's answer (its one authorization point) for this token, role and
        endpoint."""
        try:
            with self._caller(header, role, known, address) as reg:
                if known is None:
                    _ = reg.role  # signs in: a server is asked now, the catalog was by _caller
                    return None
                reg.get_model(format_identifier(known.name)).version(
                    format_identifier(known.selector))
        except (Unauthenticated, PermissionDenied) as exc:  # 401; 403: not the token's role
            return exc
        except NotFound as exc:  # no USAGE: the model does not exist for this role
            return exc
        return None

    # -- forwarding -------------------------------------------------------------------------

    async def _forward(self, request: Request, model: str, selector: str,
                       function: str | None, protocol: Protocol) -> Response:
        started = time.perf_counter()
        ref = "unknown"
        try:
            await self._authorize(request, None)
            known = await self._find(model, selector)
            await self._authorize(request, known, model, selector)
            ref = known.ref
            body = await _read_body(request, self._max_body)
            header_length = request.headers.get("inference-header-content-length")
            message = InferRequest(
                protocol=protocol, body=body, function=function,
                content_type=request.headers.get("content-type"),
                header_length=_header_length(header_length),
            )
            reply = await known.handle.infer.remote(message)
            response = Response(reply.body, headers=reply.headers)
        except Exception as exc:
            err = error_reply(exc, mlflow=protocol is Protocol.MLFLOW)
            response = Response(err.body, status_code=err.status, headers=err.headers)
        self._requests.inc(tags={"endpoint": ref, "status": str(response.status_code)})
        self._latency.observe(time.perf_counter() - started, tags={"endpoint": ref})
        return response

    async def _ask(self, request: Request, model: str, selector: str, method: str,
                   *args: Any) -> Response:
        try:
            await self._authorize(request, None)
            known = await self._find(model, selector)
            await self._authorize(request, known, model, selector)
            doc = await getattr(known.handle, method).remote(*args)
            return JSONResponse(doc)
        except Exception as exc:
            err = error_reply(exc)
            return Response(err.body, status_code=err.status, headers=err.headers)

    # -- Floe's and MLflow's routes ---------------------------------------------------------

    @app.get("/-/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/models")
    async def list_models(self, request: Request) -> Response:
        try:
            await self._authorize(request, None)
        except Exception as exc:
            err = error_reply(exc)
            return Response(err.body, status_code=err.status, headers=err.headers)
        await self._refresh(force=True)
        statuses = await asyncio.to_thread(ray_serve.status)
        rows = []
        for known in sorted(self._known.values(), key=lambda k: k.ref):
            try:
                await self._authorize(request, known, format_identifier(known.name))  # the role's
                doc = await asyncio.wait_for(known.handle.describe.remote(), timeout=10)
            except Exception:
                continue
            app_status = statuses.applications.get(known.app_name)
            replicas = running_replicas(app_status) if app_status is not None else 0
            rows.append({"name": doc["model"], "endpoint": doc["ref"], "version": doc["version"],
                         "aliases": doc["aliases"], "functions": doc["functions"],
                         "replicas": replicas})
        return JSONResponse({"models": rows})

    @app.post("/models/{model}/versions/{version}/invocations")
    async def mlflow_version(self, request: Request, model: str, version: str) -> Response:
        return await self._forward(request, model, version, None, Protocol.MLFLOW)

    @app.post("/models/{model}/invocations")
    async def mlflow_default(self, request: Request, model: str) -> Response:
        return await self._forward(request, model, "DEFAULT", None, Protocol.MLFLOW)

    @app.post("/models/{model}/versions/{version}/{function}")
    async def run_version(self, request: Request, model: str, version: str, function: str) -> Response:
        return await self._forward(request, model, version, function, Protocol.FLOE)

    @app.post("/models/{model}/{function}")
    async def run_default(self, request: Request, model: str, function: str) -> Response:
        return await self._forward(request, model, "DEFAULT", function, Protocol.FLOE)

    # -- the Open Inference Protocol (KServe v2) --------------------------------------------

    @app.get("/v2")
    async def oip_server(self) -> dict[str, Any]:
        return {"name": "floe", "version": _version(), "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live")
    async def oip_live(self) -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def oip_ready(self) -> dict[str, bool]:
        return {"ready": True}

    @app.get("/v2/models/{model}")
    async def oip_metadata_default(self, request: Request, model: str) -> Response:
        return await self._ask(request, model, "DEFAULT", "oip_metadata")

    @app.get("/v2/models/{model}/versions/{version}")
    async def oip_metadata(self, request: Request, model: str, version: str) -> Response:
        return await self._ask(request, model, version, "oip_metadata")

    @app.get("/v2/models/{model}/ready")
    async def oip_model_ready_default(self, request: Request, model: str) -> Response:
        return await self._ready(request, model, "DEFAULT")

    @app.get("/v2/models/{model}/versions/{version}/ready")
    async def oip_model_ready(self, request: Request, model: str, version: str) -> Response:
        return await self._ready(request, model, version)

    async def _ready(self, request: Request, model: str, selector: str) -> Response:
        response = await self._ask(request, model, selector, "describe")
        if response.status_code != 200:
            return response
        return JSONResponse({"name": model, "ready": True})

    @app.post("/v2/models/{model}/infer")
    async def oip_infer_default(self, request: Request, model: str) -> Response:
        return await self._forward(request, model, "DEFAULT", None, Protocol.OIP)

    @app.post("/v2/models/{model}/versions/{version}/infer")
    async def oip_infer(self, request: Request, model: str, version: str) -> Response:
        return await self._forward(request, model, version, None, Protocol.OIP)

    # -- for the deployer -------------------------------------------------------------------

    async def wait_routable(self, app_name: str, timeout_s: float = 60.0) -> bool:
        """Whether the front routes to ``app_name`` (refreshing until it does, or timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await self._refresh(force=True)
            if app_name in self._known:
                return True
            await asyncio.sleep(0.2)
        return False
