"""``floe server start`` as a user runs it: a real process on a loopback port, healthy until
SIGTERM; its option errors are one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from registry.cli import main
from tests.net import free_port


def test_the_server_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "FLOE_CATALOG_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
           "FLOE_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "server", "start", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, healthy = time.monotonic() + 30, False
        while time.monotonic() < deadline and not healthy and proc.poll() is None:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/-/healthz").status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        assert healthy, proc.stderr.read() if proc.poll() is not None else "no answer"
        refused = httpx.get(f"http://127.0.0.1:{port}/api/v1/models")
        assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal: the exit status a shell expects
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert f"floe registry server on http://127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_tls_needs_both_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["server", "start", "--tls-certfile", str(tmp_path / "cert.pem")]) == 1
    assert capsys.readouterr().err == (
        "error: pass both --tls-certfile and --tls-keyfile, or neither\n")
