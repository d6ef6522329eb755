"""Starting the front and deploying, listing and removing endpoints: the driver's side of
``floe serve`` and of ``serve.start`` / ``serve.deploy`` / ``serve.undeploy`` / ``serve.status``
/ ``serve.apply`` in Python.

Each endpoint is its own Serve application (named from its reference, ``floe-<name>-<hash>``)
with one deployment, ``endpoint``, holding no route of its own: the front (application
``floe``, route ``/``) is the only ingress and forwards to the endpoint through a handle.

The registry is the catalog itself (``catalog_url``, ``artifact_root``) or a registry server
(``registry_url``, default ``$FLOE_REGISTRY_URL`` when no ``catalog_url`` is given, as
``Registry`` chooses): replicas then open it with the ``token`` the deployer passes (default
``$FLOE_TOKEN``), and the front checks each request's own token with the server.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from registry import (
    CatalogError,
    InvalidInput,
    NotFound,
    Registry,
    find_ray_token,
    is_loopback,
    load_config_file,
    parse_identifier,
)
from serve.config import EndpointConfig, ServeConfig
from serve.refs import APP_PREFIX, EndpointRef, parse_endpoint_ref, running_replicas

__all__ = [
    "AUTH_TTL_S", "apply", "deploy", "is_loopback", "shutdown", "start", "status", "undeploy",
]

log = logging.getLogger(__name__)

_FRONT_READY_S = 60.0
#: How long the front trusts a token check (and a role's USAGE on an endpoint's model): the
#: bound within which a revoked token, grant or role is refused by a running front.
AUTH_TTL_S = 2.0
_ENDPOINT_READY_S = 300.0


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (else ``RAY_ADDRESS``), or start a local Ray when
    neither is set. Ray's token authentication is used as configured (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_MODE``, Ray's token file)."""
    target = address or os.environ.get("RAY_ADDRESS")
    if target and "RAY_AUTH_MODE" not in os.environ:
        # A cluster from `ray start` checks a token (Ray 2.60), and ray.init(address=...) does
        # not look for one: pass the one Ray's CLI would find (RAY_AUTH_TOKEN,
        # RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token). Never turned off.
        token = find_ray_token()
        if token is not None:
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ.setdefault("RAY_AUTH_TOKEN", token)
            if "ray._raylet" in sys.modules:  # Ray read its config at import: re-read it,
                from ray._raylet import Config  # type: ignore[attr-defined]  # as Ray's own _enable_token_auth does

                Config.initialize("")
    import ray

    if ray.is_initialized():
        return
    if target:
        ray.init(address=target, logging_level=logging.WARNING, log_to_driver=False)
    else:
        # "local": a private Ray, never one a `ray start` left running on this machine
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    allow_remote: bool = False,
    max_body_mb: float = 64.0,
    auth: bool = False,
    catalog_url: str | None = None,
    artifact_root: str | None = None,
    registry_url: str | None = None,
    auth_ttl_s: float = AUTH_TTL_S,
) -> str:
    """Start Serve's HTTP front on ``host:port`` and the ``floe`` ingress; returns its URL
    once it answers. A host other than loopback needs ``allow_remote=True``, and always has
    access control on. ``auth``: every request needs ``Authorization: Bearer <token>`` (a
    token of the catalog at ``catalog_url``, or of the registry server at ``registry_url``;
    ``floe tokens create``), and its role USAGE on the model; a revoked token or grant is
    refused within ``auth_ttl_s``."""
    from ray import serve as ray_serve

    from serve.front import FRONT_APP, Front

    if not is_loopback(host) and not allow_remote:
        raise InvalidInput(f"host {host} is not loopback; bind 127.0.0.1, or pass "
                           "--allow-remote (allow_remote=True) on purpose (access control is "
                           "then on: every request needs a token)")
    if not is_loopback(host):
        auth = True
        log.warning("serving on %s:%s with access control on", host, port)
    catalog = Registry(catalog_url=catalog_url, artifact_root=artifact_root, url=registry_url,
                       token="")  # opens it (a server: no request yet, only its URL's form)
    if catalog.url is not None:
        _check_server(catalog.url)  # fail now, not on the first request
    connect(address)
    ray_serve.start(http_options={"host": host, "port": port})
    front: Any = Front  # a Serve Deployment once decorated
    options = {"auth": auth, "catalog_url": catalog.catalog_url,
               "artifact_root": catalog.artifact_root, "registry_url": catalog.url,
               "auth_ttl_s": auth_ttl_s}
    ray_serve.run(front.bind(max_body_mb, **options), name=FRONT_APP, route_prefix="/")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    _wait_http(url + "/-/healthz", _FRONT_READY_S)
    return url


def deploy(
    ref: str,
    *,
    database: str | None = None,
    schema: str | None = None,
    catalog_url: str | None = None,
    artifact_root: str | None = None,
    registry_url: str | None = None,
    token: str | None = None,
    address: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Deploy (or update in place) the endpoint for ``ref`` with the options of
    ``EndpointConfig`` (``min_replicas``, ``max_replicas``, ``num_gpus``, ``max_batch_size``,
    ...); returns its description once the front routes to it. Through a registry server
    (``registry_url``, default ``$FLOE_REGISTRY_URL`` when no ``catalog_url`` is given) the
    replicas sign in with ``token`` (default ``$FLOE_TOKEN``), which is kept in Serve's
    deployment: give it a service token of a role holding only what serving needs (USAGE)."""
    config = _endpoint_config(ref, options)
    return _deploy(config, _open(database, schema, catalog_url=catalog_url,
                                 artifact_root=artifact_root, registry_url=registry_url,
                                 token=token), address=address)


def _open(database: str | None, schema: str | None, *, catalog_url: str | None,
          artifact_root: str | None, registry_url: str | None,
          token: str | None) -> tuple[Registry, str | None]:
    """The registry refs are resolved in (the catalog, or a server's client, as ``Registry``
    chooses) and, for a server, the token replicas get (``token``, else ``$FLOE_TOKEN``)."""
    registry = Registry(database, schema, catalog_url=catalog_url, artifact_root=artifact_root,
                        url=registry_url, token=token)
    if registry.url is None:
        return registry, None
    return registry, token if token is not None else os.environ.get("FLOE_TOKEN") or None


def _deploy(config: EndpointConfig, opened: tuple[Registry, str | None], *,
            address: str | None) -> dict[str, Any]:
    from ray import serve as ray_serve

    from serve.endpoint import Endpoint, EndpointSpec

    registry, token = opened
    ref = _qualified(parse_endpoint_ref(config.model), registry)
    model = registry.get_model(_quoted(ref.key.name))
    model.version(_quoted(ref.key.selector))  # NotFound now, not in a replica
    connect(address)
    _check_gpus(config.num_gpus)
    front = _front_handle()
    spec = EndpointSpec(
        ref=str(ref), database=ref.key.database or "", schema=ref.key.schema or "",
        name=ref.key.name, selector=ref.key.selector,
        catalog_url=registry.catalog_url, artifact_root=registry.artifact_root,
        registry_url=registry.url, token=token,  # a server's: its URL and the replicas' token
        # a replica never holds more than max_ongoing_requests, so no batch is larger
        max_batch_size=min(config.max_batch_size, config.max_ongoing_requests),
        batch_wait_ms=config.batch_wait_ms,
        use_gpu=config.num_gpus > 0, config=config.model_dump(),
    )
    deployment: Any = ray_serve.deployment(Endpoint, name="endpoint")
    deployment = deployment.options(
        ray_actor_options={"num_cpus": config.num_cpus, "num_gpus": config.num_gpus},
        max_ongoing_requests=config.max_ongoing_requests,
        max_queued_requests=config.max_queued_requests,
        graceful_shutdown_timeout_s=config.graceful_shutdown_timeout_s,
        graceful_shutdown_wait_loop_s=min(2.0, config.graceful_shutdown_timeout_s / 4),
        **_replicas(config),
    )
    app = deployment.bind(asdict(spec))
    ray_serve.run(app, name=ref.app_name, route_prefix=None)
    if not front.wait_routable.remote(ref.app_name, _ENDPOINT_READY_S).result():
        raise InvalidInput(f"{ref} was deployed but the front does not route to it after "
                           f"{_ENDPOINT_READY_S:.0f} s; see: floe serve status")
    return dict(ray_serve.get_app_handle(ref.app_name).describe.remote().result())


def undeploy(ref: str, *, database: str | None = None, schema: str | None = None,
             address: str | None = None) -> None:
    """Remove the endpoint for ``ref`` (and nothing else)."""
    from ray import serve as ray_serve

    connect(address)
    target = _find_deployed(ref, database=database, schema=schema)
    ray_serve.delete(target["app_name"])


def status(*, address: str | None = None) -> list[dict[str, Any]]:
    """Every endpoint: its reference, the version it serves, aliases, functions, replicas,
    Serve's status of it and the options it was deployed with."""
    from ray import serve as ray_serve

    connect(address)
    statuses = ray_serve.status()
    rows = []
    for name, app_status in sorted(statuses.applications.items()):
        if not name.startswith(APP_PREFIX):
            continue
        replicas = running_replicas(app_status)
        row: dict[str, Any] = {"app_name": name, "status": str(app_status.status.value),
                               "replicas": replicas}
        try:
            row.update(ray_serve.get_app_handle(name).describe.remote().result(timeout_s=30))
        except Exception as exc:  # deploying, or failed: Serve's own message says why
            row.update({"endpoint": name, "error": app_status.message or type(exc).__name__})
        rows.append(row)
    return rows


def apply(
    path: str | os.PathLike[str],
    *,
    database: str | None = None,
    schema: str | None = None,
    catalog_url: str | None = None,
    artifact_root: str | None = None,
    registry_url: str | None = None,
    token: str | None = None,
    address: str | None = None,
) -> dict[str, list[str]]:
    """Make the running endpoints match a ``serve.yaml`` file: deploy what is missing,
    update what differs, remove endpoints the file does not list. Returns what changed. The
    registry (and ``token``) as for ``deploy``."""
    wanted = load_config_file(path, ServeConfig, kind="serve config", example="configs/serve.yaml")
    opened = _open(database, schema, catalog_url=catalog_url, artifact_root=artifact_root,
                   registry_url=registry_url, token=token)
    registry = opened[0]
    connect(address)
    current = {row["app_name"]: row for row in status()}
    changes: dict[str, list[str]] = {"added": [], "updated": [], "removed": [], "unchanged": []}
    keep: set[str] = set()
    for entry in wanted.endpoints:
        ref = _qualified(parse_endpoint_ref(entry.model), registry)
        keep.add(ref.app_name)
        running = current.get(ref.app_name)
        deployed_with = running.get("config") if running else None
        same = {k: v for k, v in (deployed_with or {}).items() if k != "model"}
        if deployed_with is not None and same == entry.model_dump(exclude={"model"}):
            changes["unchanged"].append(str(ref))
            continue
        _deploy(entry, opened, address=address)
        changes["updated" if running else "added"].append(str(ref))
    from ray import serve as ray_serve

    for name, row in current.items():
        if name not in keep:
            ray_serve.delete(name)
            changes["removed"].append(str(row.get("ref", name)))
    return changes


def shutdown(*, address: str | None = None) -> None:
    """Stop Serve (the front and every endpoint) on the cluster; with no cluster to join
    (no ``address``, no ``RAY_ADDRESS``, no Ray in this process) there is nothing to stop."""
    import ray
    from ray import serve as ray_serve

    if not (address or os.environ.get("RAY_ADDRESS") or ray.is_initialized()):
        return
    connect(address)
    ray_serve.shutdown()  # type: ignore[no-untyped-call]


# -- helpers ---------------------------------------------------------------------------------


def _endpoint_config(ref: str, options: Mapping[str, Any]) -> EndpointConfig:
    from pydantic import ValidationError

    try:
        return EndpointConfig(model=ref, **options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"cannot deploy {ref}: {problems}") from None


def _replicas(config: EndpointConfig) -> dict[str, Any]:
    if config.min_replicas == config.max_replicas:
        return {"num_replicas": config.min_replicas}
    return {"autoscaling_config": {
        "min_replicas": config.min_replicas,
        "max_replicas": config.max_replicas,
        "initial_replicas": config.min_replicas,
        "target_ongoing_requests": config.target_ongoing_requests,
        "upscale_delay_s": config.upscale_delay_s,
        "downscale_delay_s": config.downscale_delay_s,
        "look_back_period_s": max(1.0, min(10.0, config.upscale_delay_s)),
    }}


def _qualified(ref: EndpointRef, registry: Registry) -> EndpointRef:
    return ref.qualified(parse_identifier(registry.database_name, "database"),
                         parse_identifier(registry.schema_name, "schema"))


def _find_deployed(ref: str, *, database: str | None, schema: str | None) -> dict[str, Any]:
    parsed = parse_endpoint_ref(ref)
    key = parsed.key
    rows = [r for r in status() if "name" in r and r["name"] == key.name
            and r["selector"] == key.selector
            and (key.schema or schema) in (None, r["schema"])
            and (key.database or database) in (None, r["database"])]
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise NotFound(f"no endpoint serves {ref}; list them: floe serve list")
    raise InvalidInput(f"{ref} names several endpoints ({', '.join(r['ref'] for r in rows)}); "
                       "qualify it: DB.SCHEMA.NAME")


def _check_gpus(num_gpus: float) -> None:
    """Replicas asking for GPUs would wait forever on a cluster without them."""
    import ray

    if num_gpus <= 0:
        return
    available = float(ray.cluster_resources().get("GPU", 0))  # type: ignore[no-untyped-call]
    if available < num_gpus:
        raise InvalidInput(f"--num-gpus {num_gpus:g} asks for more GPUs per replica than the "
                           f"cluster has ({available:g}); deploy on a cluster with GPU nodes, "
                           "or serve on CPUs with --num-gpus 0")


def _front_handle() -> Any:
    from ray import serve as ray_serve

    from serve.front import FRONT_APP

    try:
        return ray_serve.get_app_handle(FRONT_APP)
    except Exception:
        raise NotFound("Floe's front is not running on this Ray cluster; start it: "
                       "floe serve start") from None


def _check_server(url: str) -> None:
    import httpx

    try:
        answers = httpx.get(url.rstrip("/") + "/-/healthz", timeout=10).status_code == 200
    except httpx.HTTPError:
        answers = False
    if not answers:
        raise CatalogError(f"the registry server at {url} does not answer; check the URL "
                           "(--registry-url, FLOE_REGISTRY_URL) and that floe server runs there")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _wait_http(url: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise InvalidInput(f"the front at {url} does not answer after {timeout_s:.0f} s; "
                               "see Serve's logs under /tmp/ray/session_latest/logs/serve")
        time.sleep(0.2)
