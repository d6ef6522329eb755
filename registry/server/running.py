"""The registry server in a thread of this process, on a port the OS picks: for tests,
benchmarks and notebooks (``floe server start`` is the way to run it for a team)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

__all__ = ["running"]


@contextmanager
def running(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0,
            timeout_s: float = 10.0) -> Iterator[str]:
    """Serve ``app`` (see ``create_app``) until the block ends; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="floe-registry-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the registry server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
