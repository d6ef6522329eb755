"""``log_model`` through a registry server: the files go up streamed, the server checks every
one against the manifest before the version exists, and never deserialises anything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from registry import NotFound, Registry
from registry.catalog.store import new_id
from registry.packaging.stage import stage_version
from tests.models import iris_classifier
from tests.net import free_port
from tests.served import served

ROOT = Path(__file__).parents[3]
MB = 1 << 20

# A custom model whose weights are one big file: defined in the client's __main__, so a server
# that tried to unpickle the version could not (and it commits all the same).
CLIENT_MODEL = """
import hashlib, json, os, sys
import pandas as pd
from registry import CustomModel, ModelContext, Registry, inference_api

class Weights(CustomModel):
    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"y": X["x"] * 2.0})

def weights_file(path, size_mb):
    with open(path, "wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(1 << 20))
    return path

def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

X = pd.DataFrame({"x": [1.0, 2.0]})
"""


def _status(pid: int | str, field: str) -> int:
    """A field of /proc/PID/status, in bytes (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int | str) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def test_a_200_mb_version_goes_up_and_comes_back_in_bounded_memory(tmp_path: Path) -> None:
    """The server is a real ``floe server start`` process and the client another: each one's
    peak memory grows by less than 50 MB over its idle baseline while 200 MB go up and come
    back, and what comes back is byte for byte what was logged."""
    catalog, artifacts = f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path / "artifacts"
    token = Registry(catalog_url=catalog, artifact_root=str(artifacts)).create_token(role="ADMIN")
    port = free_port()
    env = {**os.environ, "FLOE_CATALOG_URL": catalog, "FLOE_ARTIFACT_ROOT": str(artifacts)}
    server = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "server", "start", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.1)
        client = CLIENT_MODEL + textwrap.dedent(f"""
            from pathlib import Path
            tmp = Path({str(tmp_path)!r})
            reg = Registry(url={url!r}, token={token!r})
            small = weights_file(tmp / "small.bin", 1)
            reg.log_model(Weights(ModelContext(artifacts={{"w": str(small)}})), model_name="warm",
                          sample_input_data=X).load()  # every code path once, then measure
            big = weights_file(tmp / "big.bin", 200)
            expected = sha256(big)
            print(json.dumps({{"ready": True}}), flush=True)
            sys.stdin.readline()  # the test resets both peaks, then lets the upload start
            rss = int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1])
            open("/proc/self/clear_refs", "w").write("5")
            mv = reg.log_model(Weights(ModelContext(artifacts={{"w": str(big)}})),
                               model_name="big", sample_input_data=X)
            loaded = reg.get_model("big").version(mv.version_name).load()
            back = sha256(loaded.context.path("w"))
            hwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
            print(json.dumps({{"same": back == expected, "growth": (hwm - rss) * 1024,
                               "predict": mv.run(X)["y"].tolist()}}), flush=True)
            """)
        proc = subprocess.Popen([sys.executable, "-c", client], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdin is not None
        ready = proc.stdout.readline()
        assert ready, proc.communicate(timeout=60)[1]
        server_idle = _status(server.pid, "VmRSS")
        _reset_peak(server.pid)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        server_growth = _status(server.pid, "VmHWM") - server_idle
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    print(f"peak growth: client {result['growth'] / MB:.1f} MB, server {server_growth / MB:.1f} MB")
    assert result["same"] and result["predict"] == [2.0, 4.0]
    assert result["growth"] < 50 * MB, f"client peak grew {result['growth'] / MB:.0f} MB"
    assert server_growth < 50 * MB, f"server peak grew {server_growth / MB:.0f} MB"
    stored = sorted(p.stat().st_size for p in artifacts.rglob("big.bin"))
    assert stored == [200 * MB]  # one copy on the server, and nothing left of the upload
    assert not list(artifacts.rglob("UPLOADING.json"))


def test_an_upload_killed_mid_file_leaves_nothing_visible_and_gc_removes_it(
    catalog_url: str, artifact_root: Path, tmp_path: Path
) -> None:
    admin = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    with served(catalog_url, artifact_root) as (url, token):
        client = CLIENT_MODEL + textwrap.dedent(f"""
            import signal
            from pathlib import Path
            import registry.client.remote as remote
            sent = remote._chunks
            def die_after_one(path):
                chunks = sent(path)
                yield next(chunks)
                if path.name == "big.bin":  # a chunk of the weights is on its way: die
                    os.kill(os.getpid(), signal.SIGKILL)
                yield from chunks
            remote._chunks = die_after_one
            big = weights_file(Path({str(tmp_path)!r}) / "big.bin", 20)
            reg = Registry(url={url!r}, token={token!r})
            reg.log_model(Weights(ModelContext(artifacts={{"w": str(big)}})), model_name="m",
                          sample_input_data=X)
            """)
        result = subprocess.run([sys.executable, "-c", client], cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == -signal.SIGKILL, result.stderr
        uploads = list((artifact_root / "versions").iterdir())
        assert len(uploads) == 1 and (uploads[0] / "UPLOADING.json").exists()
        deadline = time.monotonic() + 30  # the server notices the cut connection
        while list(uploads[0].rglob("big.bin")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not list(uploads[0].rglob("big.bin")), "a partial file was kept"
        with pytest.raises(NotFound):
            Registry(url=url, token=token).get_model("m")
        assert admin.show_models().empty
        assert admin.gc() == []  # within the grace period: it could still be going on
        assert admin.gc(grace_period_s=0) == [uploads[0].name]
        assert not (artifact_root / "versions" / uploads[0].name).exists()


def test_a_tampered_file_is_refused_before_the_commit(catalog_url: str, artifact_root: Path) -> None:
    clf, X = iris_classifier()
    staged = stage_version(clf, version_id=new_id(), sample_input_data=X[:5], signatures=None,
                           task=None, options=None, code_paths=None, ext_modules=None,
                           conda_dependencies=None, pip_requirements=None, python_version=None,
                           user_files=None)
    admin = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    admin.sql("CREATE ROLE other")
    other = admin.create_token(role="other")
    try:
        with served(catalog_url, artifact_root) as (url, token), httpx.Client(
                base_url=f"{url}/api/v1", headers={"authorization": f"Bearer {token}"}) as http:
            opened = http.post("/uploads", json={"model": "m", "version": "v1",
                                                 "manifest": staged.manifest.to_yaml().decode()})
            assert opened.status_code == 200, opened.text
            upload = opened.json()["upload"]
            rel = next(r for r in staged.manifest.files if r.startswith("model/"))
            good = (staged.root / rel).read_bytes()
            bad = bytes([good[0] ^ 1]) + good[1:]
            refused = http.put(f"/uploads/{upload}/files/{rel}", content=bad)
            assert refused.status_code == 400 and refused.json()["type"] == "InvalidInput"
            assert f"{rel} arrived with {len(good)} bytes and sha256" in refused.json()["error"]
            assert not (artifact_root / "versions" / upload / rel).exists()  # not kept
            for path in staged.manifest.files:
                if path != rel:
                    assert http.put(f"/uploads/{upload}/files/{path}",
                                    content=(staged.root / path).read_bytes()).status_code == 200
            early = http.post(f"/uploads/{upload}/commit")
            assert early.status_code == 400 and f"lacks {rel}" in early.json()["error"]
            assert admin.show_models().empty  # nothing visible until every file verified
            stranger = http.put(f"/uploads/{upload}/files/{rel}", content=good,
                                headers={"authorization": f"Bearer {other}"})
            assert stranger.status_code == 403, stranger.text
            assert http.put(f"/uploads/{upload}/files/{rel}", content=good).status_code == 200
            unlisted = http.put(f"/uploads/{upload}/files/model/extra.pkl", content=b"x")
            assert unlisted.status_code == 400 and "not in the manifest" in unlisted.text
            done = http.post(f"/uploads/{upload}/commit")
            assert done.status_code == 200, done.text
        mv = admin.get_model("m").version("v1")
        assert mv.id == upload and len(mv.run(X, function_name="predict")) == len(X)
        outside = staged.manifest.model_copy(update={"files": {"../x": next(iter(
            staged.manifest.files.values()))}})
        with served(catalog_url, artifact_root) as (url, token):
            escaped = httpx.post(f"{url}/api/v1/uploads", headers={
                "authorization": f"Bearer {token}"}, json={
                "model": "m", "manifest": json.dumps(outside.model_dump(mode="json"))})
        assert escaped.status_code == 400 and "not a plain '/'-separated path" in escaped.text
    finally:
        staged.cleanup()
