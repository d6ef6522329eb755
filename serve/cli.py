"""``floe serve``: the HTTP front and its endpoints on a Ray cluster.

    floe serve start [--host 127.0.0.1] [--port 8000] [--address RAY] [--detach]
    floe serve deploy REF [--min-replicas 1] [--max-replicas 1] ... ; floe serve undeploy REF
    floe serve list [--json] ; floe serve status ; floe serve apply configs/serve.yaml
    floe serve shutdown

The Ray cluster is ``--address``, else ``RAY_ADDRESS``, else the one ``floe serve start
--detach`` started (recorded in ``$FLOE_HOME/serve.json``). The registry is the ``floe``
command's (``--catalog-url``/``--artifact-root``, or ``--registry-url`` with the replicas'
token from ``$FLOE_TOKEN``). Commands only raise: the ``floe`` command's one error edge prints
the one ``error:`` line. Only this module prints in serve.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import typer

from registry import InvalidInput, NotFound

__all__ = ["app"]

app = typer.Typer(
    name="serve",
    help="Serve registered versions as HTTP endpoints on Ray Serve (Snowflake, MLflow and "
    "Open Inference Protocol formats).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

@app.callback()
def _quiet() -> None:
    """Serve logs each step at INFO on the driver's stderr; a command prints only its result
    and, on failure, the one ``error:`` line."""
    import logging

    import ray.serve  # noqa: F401  (its import sets its logger up, at INFO)

    logging.getLogger("ray.serve").setLevel(logging.WARNING)


Address = Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: "
                                             "RAY_ADDRESS, else the one start --detach started).")]
RefArg = Annotated[str, typer.Argument(metavar="REF", help="NAME (its DEFAULT version), "
                                       "NAME@ALIAS or NAME/VERSION, plain or qualified.")]
Database = Annotated[str | None, typer.Option("--database", help="Namespace of plain names.")]
Schema = Annotated[str | None, typer.Option("--schema", help="Namespace of plain names.")]


def _state_file() -> Path:
    home = Path(os.environ.get("FLOE_HOME") or Path.home() / ".floe").expanduser()
    return home / "serve.json"


def _state() -> dict[str, Any]:
    try:
        return dict(json.loads(_state_file().read_text()))
    except (OSError, ValueError):
        return {}


def _address(address: str | None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or _state().get("address")


class _Registry(TypedDict):
    catalog_url: str | None
    artifact_root: str | None
    registry_url: str | None


def _registry(ctx: typer.Context) -> _Registry:
    """The registry the ``floe`` command names (None: ``Registry``'s defaults)."""
    root = ctx.find_root().obj
    return {"catalog_url": getattr(root, "catalog_url", None),
            "artifact_root": getattr(root, "artifact_root", None),
            "registry_url": getattr(root, "registry_url", None)}


def _err(message: str) -> None:
    print(message, file=sys.stderr)


@app.command()
def start(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless --allow-remote.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    address: Address = None,
    detach: Annotated[bool, typer.Option("--detach", help="Return once the front answers; "
                                         "stop it with floe serve shutdown.")] = False,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a non-loopback "
                                               "host (access control is then on).")] = False,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", help="Largest request body.")] = 64.0,
    auth: Annotated[bool, typer.Option("--auth", help="Every request needs Authorization: "
                                       "Bearer <token> (floe tokens create) and its role USAGE "
                                       "on the model; always on beyond loopback.")] = False,
) -> None:
    """Start Serve's HTTP front; in the foreground until Ctrl-C or SIGTERM."""
    import serve
    from serve.control import is_loopback

    if not is_loopback(host) and not allow_remote:
        raise InvalidInput(f"host {host} is not loopback; bind 127.0.0.1, or pass "
                           "--allow-remote on purpose (access control is then on)")
    if not is_loopback(host):
        auth = True
        _err(f"note: serving on {host}:{port} with access control on: every request needs a "
             "token (floe tokens create --role ROLE)")
    catalog = _registry(ctx)
    target = _address(address) if detach or address else address or os.environ.get("RAY_ADDRESS")
    head_pid, metrics_port = None, None
    if detach and not target:
        target, metrics_port, head_pid = _start_ray_head()
    if detach:
        url = serve.start(host=host, port=port, address=target, allow_remote=allow_remote,
                          max_body_mb=max_body_mb, auth=auth, **catalog)
        _state_file().parent.mkdir(parents=True, exist_ok=True)
        _state_file().write_text(json.dumps({"address": target, "url": url,
                                             "ray_head_pid": head_pid,
                                             "metrics_port": metrics_port}))
        print(url)
        return
    from serve.control import connect

    connect(target)  # ray.init installs Ray's signal handlers; ours go on top of them
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        url = serve.start(host=host, port=port, address=target, allow_remote=allow_remote,
                          max_body_mb=max_body_mb, auth=auth, **catalog)
        _err(f"serving at {url}{' with access control' if auth else ''} (Ctrl-C to stop)")
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        _err("shutting down")
        serve.shutdown()
        import ray

        ray.shutdown()


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the foreground front as Ctrl-C does."""
    raise KeyboardInterrupt


@app.command()
def shutdown(address: Address = None) -> None:
    """Stop the front and every endpoint (and the Ray that start --detach started)."""
    import serve

    state = _state()
    target = _address(address)
    if not target:
        raise NotFound("no Floe front to stop: none was started with --detach here; pass "
                       "--address of its Ray cluster")
    serve.shutdown(address=target)
    import ray

    ray.shutdown()
    if state.get("ray_head_pid") and state.get("address") == target:
        _stop_ray_head(int(state["ray_head_pid"]))
    _state_file().unlink(missing_ok=True)


@app.command()
def deploy(
    ctx: typer.Context,
    ref: RefArg,
    min_replicas: Annotated[int, typer.Option("--min-replicas")] = 1,
    max_replicas: Annotated[int, typer.Option("--max-replicas")] = 1,
    target_ongoing_requests: Annotated[float, typer.Option("--target-ongoing-requests")] = 2.0,
    upscale_delay_s: Annotated[float, typer.Option("--upscale-delay-s")] = 5.0,
    downscale_delay_s: Annotated[float, typer.Option("--downscale-delay-s")] = 60.0,
    num_cpus: Annotated[float, typer.Option("--num-cpus")] = 1.0,
    num_gpus: Annotated[float, typer.Option("--num-gpus")] = 0.0,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", help="1 turns batching off.")] = 64,
    batch_wait_ms: Annotated[float, typer.Option("--batch-wait-ms")] = 2.0,
    max_ongoing_requests: Annotated[int, typer.Option("--max-ongoing-requests")] = 8,
    max_queued_requests: Annotated[int, typer.Option("--max-queued-requests")] = 64,
    graceful_shutdown_timeout_s: Annotated[float, typer.Option(
        "--graceful-shutdown-timeout-s",
        help="How long a replica being removed may finish its requests.")] = 20.0,
    database: Database = None,
    schema: Schema = None,
    address: Address = None,
) -> None:
    """Deploy (or update) the endpoint for REF; returns once it answers. Through a registry
    server (--registry-url) the replicas sign in with $FLOE_TOKEN, kept in Serve's deployment:
    a service token of a role with USAGE only."""
    import serve

    doc = serve.deploy(
        ref, database=database, schema=schema, address=_address(address), **_registry(ctx),
        min_replicas=min_replicas, max_replicas=max_replicas,
        target_ongoing_requests=target_ongoing_requests, upscale_delay_s=upscale_delay_s,
        downscale_delay_s=downscale_delay_s, num_cpus=num_cpus, num_gpus=num_gpus,
        max_batch_size=max_batch_size, batch_wait_ms=batch_wait_ms,
        max_ongoing_requests=max_ongoing_requests, max_queued_requests=max_queued_requests,
        graceful_shutdown_timeout_s=graceful_shutdown_timeout_s,
    )
    print(f"{doc['ref']} serves {doc['version']} ({', '.join(doc['functions'])})")


@app.command()
def undeploy(ref: RefArg, database: Database = None, schema: Schema = None,
             address: Address = None) -> None:
    """Remove the endpoint for REF only."""
    import serve

    serve.undeploy(ref, database=database, schema=schema, address=_address(address))


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False, address: Address = None) -> None:
    """The endpoints: reference, version served, aliases, functions, replicas."""
    import serve

    rows = [{"name": r.get("model"), "endpoint": r.get("ref", r["app_name"]),
             "version": r.get("version"), "aliases": r.get("aliases", []),
             "functions": r.get("functions", []), "replicas": r["replicas"]}
            for r in serve.status(address=_address(address))]
    if as_json:
        print(json.dumps({"models": rows}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("endpoint", "version", "aliases", "functions", "replicas")
    for r in rows:
        table.add_row(str(r["endpoint"]), str(r["version"]), ", ".join(r["aliases"]),
                      ", ".join(r["functions"]), str(r["replicas"]))
    Console().print(table)


@app.command()
def status(address: Address = None) -> None:
    """Serve's status of every endpoint, with the options it was deployed with (JSON)."""
    import serve

    print(json.dumps(serve.status(address=_address(address)), indent=2, default=str))


@app.command()
def apply(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="CONFIG", help="A serve YAML file.")],
    database: Database = None,
    schema: Schema = None,
    address: Address = None,
) -> None:
    """Make the running endpoints match CONFIG: add, update, remove."""
    import serve

    changes = serve.apply(path, database=database, schema=schema, address=_address(address),
                          **_registry(ctx))
    for kind in ("added", "updated", "removed", "unchanged"):
        for ref in changes[kind]:
            print(f"{kind}: {ref}")


def _start_ray_head() -> tuple[str, int, int]:
    """A Ray head for a detached front (it must outlive this process), on free loopback
    ports (Ray's defaults collide with other Rays on the machine, and 6379 is Redis's);
    returns its address, its metrics port and the pid of ``ray start --block``."""
    import socket

    sockets = [socket.socket() for _ in range(8)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        gcs, agent, agent_grpc, env_agent, metrics, client, node, objects = (
            int(s.getsockname()[1]) for s in sockets)
    finally:
        for s in sockets:
            s.close()
    log_path = _state_file().with_name("serve-ray.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # --block: it runs until this one process is stopped
        head = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
             f"--port={gcs}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
             "--disable-usage-stats", f"--dashboard-agent-listen-port={agent}",
             f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={env_agent}",
             f"--metrics-export-port={metrics}", f"--ray-client-server-port={client}",
             f"--node-manager-port={node}", f"--object-manager-port={objects}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not _listening(gcs):
        if head.poll() is not None or time.monotonic() > deadline:
            head.kill()
            last = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise InvalidInput(f"cannot start a Ray head: {' '.join(last)}; start one (ray start "
                               f"--head) and pass --address (log: {log_path})")
        time.sleep(0.2)
    return f"127.0.0.1:{gcs}", metrics, head.pid


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_ray_head(pid: int) -> None:
    """Stop the head start --detach started (and only it: `ray stop` would stop every Ray)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
