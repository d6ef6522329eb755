"""Pipelines as Ray jobs, through the Job Submission API of a real head node with token
authentication, started by this module in its own process group, temp dir and ports, and
stopped by killing exactly those processes (never ``ray stop``, which would take the
session's shared Ray with it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import pipelines
from pipelines.cli import app
from pipelines.jobs import CONFIG_ENV, config_from_env
from registry import InvalidInput, NotFound, PermissionDenied, find_ray_token
from tests.pipelines.pipeline_data import (
    FEATURES,
    Catalog,
    log_iris,
    pipeline_config,
    read_output,
    write_iris_table,
)

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120
JOB_TIMEOUT_S = 240


@dataclass(frozen=True)
class Head:
    address: str  # the dashboard: what the Job Submission API listens on
    token: str


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes], token: str) -> None:
    """SIGTERM the head's process group, then SIGKILL what is left of it and of any process
    carrying this head's token (workers and job drivers start sessions of their own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)  # `ray start --block` rarely exits sooner; what is left is killed
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for pid in _pids_with(f"RAY_AUTH_TOKEN={token}".encode()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pids_with(variable: bytes) -> list[int]:
    """Processes whose environment holds ``variable`` (Linux /proc; this test's own token)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if variable in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    temp_dir = tempfile.mkdtemp(prefix="floe-ray-", dir="/tmp")  # short: Unix socket paths
    gcs, dashboard, agent, agent_grpc, env_agent, metrics, client, node, objects = _free_ports(9)
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        # job drivers run `python -m registry.cli pipeline` from this checkout
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    argv = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        f"--port={gcs}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}", f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={env_agent}",
        f"--metrics-export-port={metrics}", f"--ray-client-server-port={client}",
        f"--node-manager-port={node}", f"--object-manager-port={objects}",
        "--min-worker-port=0", "--max-worker-port=0",
        "--num-cpus=2", "--num-gpus=0", "--object-store-memory=150000000",
        f"--temp-dir={temp_dir}", "--disable-usage-stats",
    ]
    log = Path(temp_dir) / "ray-start.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=temp_dir, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        address = f"http://127.0.0.1:{dashboard}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"{address}/api/jobs/", token):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start: {log.read_text()[-3000:]}")
            time.sleep(1)
        yield Head(address=address, token=token)
    finally:
        _stop(proc, token)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return log_iris(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    data = tmp_path_factory.mktemp("jobs") / "data"
    return data, write_iris_table(data)


@pytest.mark.slow
def test_a_submitted_pipeline_runs_on_the_head_and_writes_correct_output(
    head: Head, catalog: Catalog, table: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    data, frame = table
    out = tmp_path / "out"
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(pipeline_config(data, out, catalog)))
    job_id = pipelines.submit(config, address=head.address, token=head.token)

    state = pipelines.wait_for_job(job_id, address=head.address, token=head.token,
                                   timeout_s=JOB_TIMEOUT_S)
    logs = pipelines.job_logs(job_id, address=head.address, token=head.token)
    assert state.status == "SUCCEEDED", logs[-3000:]
    assert state.metadata["floe_model"] == "ML.REGISTRY.IRIS@DEFAULT"
    assert state.entrypoint == f"python -m registry.cli pipeline run --config-env {CONFIG_ENV}"
    assert "model ML.REGISTRY.IRIS@DEFAULT resolved to ML.REGISTRY.IRIS/V1" in logs
    assert "rows out" in logs

    scored = read_output(out)
    np.testing.assert_array_equal(scored["output_feature_0"].to_numpy(),
                                  catalog.model.predict(frame[FEATURES]))
    records = list((out / "_floe_runs").glob("*.json"))  # beside each: <run_id>.log, Ray's lines
    assert len(records) == 1
    assert json.loads(records[0].read_text())["environment"]["ray_submission_id"] == job_id

    status = CliRunner().invoke(app, ["status", job_id, "--address", head.address,
                                      "--token", head.token, "--json"])
    assert status.exit_code == 0, status.output
    assert '"status": "SUCCEEDED"' in status.output
    stopped = CliRunner().invoke(app, ["stop", job_id, "--address", head.address,
                                       "--token", head.token])
    assert stopped.exit_code == 0 and "had already finished" in stopped.output


@pytest.mark.slow
def test_the_cli_submits_and_stops_a_job(
    head: Head, catalog: Catalog, table: tuple[Path, pd.DataFrame], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, _ = table
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(pipeline_config(data, tmp_path / "out", catalog)))
    monkeypatch.setenv("RAY_AUTH_TOKEN", head.token)  # read as Ray's CLI reads it
    submitted = CliRunner().invoke(app, ["submit", str(config), "--address", head.address,
                                         "--submission-id", "floe-test-stop"])
    assert submitted.exit_code == 0, submitted.output
    assert "submitted job floe-test-stop (ML.REGISTRY.IRIS@DEFAULT)" in submitted.output
    assert pipelines.stop_job("floe-test-stop", address=head.address)
    state = pipelines.wait_for_job("floe-test-stop", address=head.address, timeout_s=60)
    assert state.status == "STOPPED"
    logs = CliRunner().invoke(app, ["logs", "floe-test-stop", "--address", head.address])
    assert logs.exit_code == 0


def test_a_wrong_token_is_refused_with_how_to_get_the_right_one(head: Head) -> None:
    with pytest.raises(PermissionDenied, match="refused the token; pass --token .* ray "
                       "get-auth-token"):
        pipelines.job_status("any", address=head.address, token="not-the-token")


def test_an_unknown_job_is_not_found(head: Head) -> None:
    with pytest.raises(NotFound, match="does not exist; list jobs"):
        pipelines.job_status("floe-no-such-job", address=head.address, token=head.token)


def test_no_dashboard_at_the_address_says_which_address_to_give() -> None:
    (port,) = _free_ports(1)
    with pytest.raises(InvalidInput, match="no Ray dashboard answers at http://127.0.0.1:.*; "
                       "pass --address http://HEAD:8265"):
        pipelines.job_status("x", address=f"http://127.0.0.1:{port}", token="t")


def test_the_token_is_found_where_ray_looks_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert find_ray_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert find_ray_token() == "from-home"
    (tmp_path / "t").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "t"))
    assert find_ray_token() == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert find_ray_token() == "from-env"
    assert find_ray_token("given") == "given"


def test_the_job_carries_the_config_it_was_validated_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.config import dump_config, parse_config

    monkeypatch.chdir(tmp_path)
    cfg = parse_config("model: iris@LAST\ninput: {path: data, filters: [{column: d, op: '==', "
                       "value: 2026-11-01}]}\noutput: {path: out/x}\n")
    monkeypatch.setenv(CONFIG_ENV, dump_config(cfg))
    assert config_from_env() == cfg
    assert cfg.input.path == str(tmp_path / "data")  # absolute where it was submitted
    monkeypatch.delenv(CONFIG_ENV)
    with pytest.raises(InvalidInput, match="FLOE_PIPELINE_CONFIG is not set"):
        config_from_env()
