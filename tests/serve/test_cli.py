"""``floe serve`` from a shell: a detached front on a Ray head it starts (token auth on, as
``ray start`` sets it), deploy, list, errors as one line, shutdown leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from sklearn.linear_model import LogisticRegression

from registry import Registry
from tests.models import iris
from tests.net import free_port

FLOE = [sys.executable, "-m", "registry.cli"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_detached_front_deploys_lists_and_shuts_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLOE_", "RAY_ADDRESS", "RAY_AUTH"))}
    env["FLOE_HOME"] = str(home)
    X, y = iris()
    Registry(catalog_url=f"sqlite:///{home / 'catalog.db'}", artifact_root=str(home / "artifacts")
             ).log_model(LogisticRegression(max_iter=500).fit(X, y), model_name="iris",
                         version_name="v1", sample_input_data=X[:10])

    def floe(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*FLOE, "serve", *args], env=env, capture_output=True, text=True,
                              timeout=300)

    port = free_port()
    refused = floe("start", "--host", "0.0.0.0", "--port", str(port))
    assert refused.returncode == 1 and "--allow-remote" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    state = home / "serve.json"
    try:
        started = floe("start", "--detach", "--port", str(port))
        assert started.returncode == 0, started.stderr[-2000:]
        url = started.stdout.strip().splitlines()[-1]
        assert url == f"http://127.0.0.1:{port}"
        deployed = floe("deploy", "iris/v1", "--num-cpus", "0.2")
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        assert "ML.REGISTRY.IRIS/V1 serves V1" in deployed.stdout
        r = httpx.post(f"{url}/models/iris/versions/v1/predict",
                       json={"data": [[0, 5.1, 3.5, 1.4, 0.2]]}, timeout=30)
        assert r.status_code == 200 and r.json()["data"][0][0] == 0, r.text
        listed = floe("list", "--json")
        assert listed.returncode == 0, listed.stderr[-2000:]
        (row,) = json.loads(listed.stdout)["models"]
        assert row["endpoint"] == "ML.REGISTRY.IRIS/V1" and row["replicas"] == 1
        missing = floe("undeploy", "iris/v9")
        assert missing.returncode == 1
        assert missing.stderr.strip().splitlines() == [
            "error: no endpoint serves iris/v9; list them: floe serve list"]
        head_pid = int(json.loads(state.read_text())["ray_head_pid"])
        stopped = floe("shutdown")
        assert stopped.returncode == 0, stopped.stderr[-2000:]
        assert not state.exists() and not _alive(head_pid)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # the front is gone
    finally:
        if state.exists():  # a failed step: stop the head it started, nothing else
            pid = json.loads(state.read_text()).get("ray_head_pid")
            if pid and _alive(int(pid)):
                os.kill(int(pid), signal.SIGTERM)


def test_a_foreground_front_stops_on_sigterm(tmp_path: Path) -> None:
    import time

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLOE_", "RAY_ADDRESS", "RAY_AUTH"))}
    env["FLOE_HOME"] = str(tmp_path / "home")
    port = free_port()
    front = subprocess.Popen([*FLOE, "serve", "start", "--port", str(port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert front.poll() is None, front.communicate()[1][-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the front never answered"
            time.sleep(0.5)
        front.send_signal(signal.SIGTERM)
        _, err = front.communicate(timeout=120)
        assert front.returncode == 0, err[-2000:]
        assert "shutting down" in err and "Traceback" not in err
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if front.poll() is None:
            os.killpg(front.pid, signal.SIGKILL)
