"""Deploying and operating endpoints: alias moves under traffic, overload, a replica killed,
autoscaling, ``apply``, ``undeploy``, loopback binding."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import serve
from registry import InvalidInput, NotFound
from tests.serve.conftest import Served

ROW = {"data": [[0, 5.1, 3.5, 1.4, 0.2]]}


class Traffic:
    """Clients sending ``body`` to ``url`` in a loop until stopped; every answer is kept."""

    def __init__(self, url: str, body: object, clients: int = 2) -> None:
        self.url, self.body = url, body
        self.answers: list[tuple[float, int, object]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(clients)]

    def _send(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    r = client.post(self.url, json=self.body)
                    doc = r.json()
                    self.answers.append((time.monotonic(), r.status_code,
                                         doc if r.status_code != 200 else doc["data"][0][1]))
                    if r.status_code == 503:
                        assert r.headers.get("retry-after"), r.headers
                except httpx.HTTPError as exc:
                    self.answers.append((time.monotonic(), -1, repr(exc)))

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def _wait(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_an_alias_endpoint_follows_the_alias_without_a_failed_request(
    clean_endpoints: Served,
) -> None:
    served = clean_endpoints
    model = served.reg.get_model("iris")
    model.version("v1").set_alias("live")
    try:
        served.deploy("iris@live")
        with Traffic(f"{served.url}/models/iris/versions/live/predict", ROW) as traffic:
            _wait(lambda: len(traffic.answers) > 20, 60, "traffic on V1")
            model.version("v2").set_alias("live")  # moves LIVE from V1 to V2
            moved = time.monotonic()
            _wait(lambda: any(a[1] == 200 and next(iter(a[2].values())) >= 10  # type: ignore[union-attr]
                              for a in traffic.answers[-5:]), 30, "traffic on V2")
            switched = time.monotonic() - moved
            time.sleep(1)
        statuses = Counter(a[1] for a in traffic.answers)
        assert statuses == {200: len(traffic.answers)}, statuses
        assert switched < 15
        after = [a for a in traffic.answers if a[0] > moved + switched + 0.5]
        assert after and all(next(iter(a[2].values())) >= 10 for a in after)  # type: ignore[union-attr]
    finally:
        model.version("v2").unset_alias("live")


def test_overload_is_a_503_with_retry_after_at_once(clean_endpoints: Served) -> None:
    served = clean_endpoints
    served.deploy("slow/v1", max_ongoing_requests=1, max_queued_requests=1, max_batch_size=1)
    url = f"{served.url}/models/slow/versions/v1/predict"
    body = {"data": [[0, 1.0, 2.0]]}  # x=1, delay=2 s
    results: list[tuple[int, float, str | None]] = []

    def call() -> None:
        started = time.monotonic()
        r = httpx.post(url, json=body, timeout=60)
        results.append((r.status_code, time.monotonic() - started, r.headers.get("retry-after")))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shed = [r for r in results if r[0] == 503]
    assert shed and all(r[2] for r in shed), results
    assert {r[0] for r in results} <= {200, 503}, results
    assert min(r[1] for r in shed) < 1.5, results  # answered at once, not after the queue


@pytest.mark.parametrize("grace_s", [8.0, 0.2])
def test_a_removed_replica_finishes_its_requests_within_the_grace_period(
    clean_endpoints: Served, grace_s: float,
) -> None:
    served = clean_endpoints
    doc = served.deploy("slow/v1", max_batch_size=1, graceful_shutdown_timeout_s=grace_s)
    url = f"{served.url}/models/slow/versions/v1/predict"
    answers: list[int] = []

    def call() -> None:  # x=1, delay=2 s: in flight while the endpoint goes
        try:
            status = httpx.post(url, json={"data": [[0, 1.0, 2.0]]}, timeout=60).status_code
        except httpx.TransportError:
            status = 0  # the connection was cut
        answers.append(status)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)
    serve.undeploy(str(doc["ref"]))
    caller.join()
    # drained within 8 s: answered; stopped after 0.2 s: cut short, never a 200
    assert (answers == [200]) if grace_s > 2 else (answers != [200]), answers


def test_a_killed_replica_gives_only_503s_then_recovers(clean_endpoints: Served) -> None:
    import ray

    served = clean_endpoints
    doc = served.deploy("iris/v1")
    app_name = next(r["app_name"] for r in serve.status() if r["ref"] == doc["ref"])
    with Traffic(f"{served.url}/models/iris/versions/v1/predict", ROW) as traffic:
        _wait(lambda: len(traffic.answers) > 10, 60, "traffic")
        actors = [a for a in ray.util.list_named_actors(all_namespaces=True)
                  if isinstance(a, dict) and app_name in a["name"] and "endpoint" in a["name"]]
        assert actors, ray.util.list_named_actors(all_namespaces=True)
        ray.kill(ray.get_actor(actors[0]["name"], namespace=actors[0]["namespace"]), no_restart=True)
        killed = time.monotonic()
        _wait(lambda: any(a[0] > killed + 1 and a[1] == 200 for a in traffic.answers[-3:]), 90,
              "recovery")
    statuses = Counter(a[1] for a in traffic.answers)
    assert set(statuses) <= {200, 503}, statuses


def test_autoscaling_goes_from_one_to_two_replicas_and_back(clean_endpoints: Served) -> None:
    served = clean_endpoints
    served.deploy("slow/v1", min_replicas=1, max_replicas=2, target_ongoing_requests=1,
                  upscale_delay_s=1, downscale_delay_s=3, max_batch_size=1,
                  max_ongoing_requests=4)

    def replicas() -> int:
        return int(next(r["replicas"] for r in serve.status() if r.get("name") == "SLOW"))

    assert replicas() == 1
    body = {"data": [[0, 1.0, 0.3]]}
    with Traffic(f"{served.url}/models/slow/versions/v1/predict", body, clients=4):
        _wait(lambda: replicas() == 2, 90, "a second replica")
    _wait(lambda: replicas() == 1, 120, "back to one replica")


def test_apply_adds_updates_and_removes(clean_endpoints: Served, tmp_path: Path) -> None:
    served = clean_endpoints
    config = tmp_path / "serve.yaml"
    config.write_text("endpoints:\n  - model: iris/v1\n    num_cpus: 0.1\n"
                      "  - model: iris/v2\n    num_cpus: 0.1\n")
    kw = {"catalog_url": served.catalog_url, "artifact_root": served.artifact_root}
    assert serve.apply(config, **kw)["added"] == ["ML.REGISTRY.IRIS/V1", "ML.REGISTRY.IRIS/V2"]
    config.write_text("endpoints:\n  - model: iris/v1\n    num_cpus: 0.1\n"
                      "    max_batch_size: 1\n")
    changes = serve.apply(config, **kw)
    assert changes["updated"] == ["ML.REGISTRY.IRIS/V1"]
    assert changes["removed"] == ["ML.REGISTRY.IRIS/V2"]
    rows = serve.status()
    assert [r["ref"] for r in rows] == ["ML.REGISTRY.IRIS/V1"]
    assert rows[0]["config"]["max_batch_size"] == 1
    assert serve.apply(config, **kw)["unchanged"] == ["ML.REGISTRY.IRIS/V1"]
    config.write_text("endpoints:\n  - model: iris/v1\n    max_replicas: 0\n")
    with pytest.raises(InvalidInput, match="line 3"):
        serve.apply(config, **kw)


def test_configs_serve_yaml_applies_as_written(clean_endpoints: Served) -> None:
    """configs/serve.yaml, applied exactly as it is written."""
    served = clean_endpoints
    config = Path(__file__).resolve().parents[2] / "configs" / "serve.yaml"
    changes = serve.apply(config, catalog_url=served.catalog_url,
                          artifact_root=served.artifact_root)
    assert changes["added"] == ["ML.REGISTRY.IRIS@DEFAULT", "ML.REGISTRY.IRIS/V1"]
    for path in ("models/iris/predict", "models/iris/versions/v1/predict"):
        assert httpx.post(f"{served.url}/{path}", json=ROW).status_code == 200


def test_undeploy_removes_only_its_endpoint(clean_endpoints: Served) -> None:
    served = clean_endpoints
    served.deploy("iris/v1")
    served.deploy("iris/v2")
    serve.undeploy("iris/v1")
    assert [r["ref"] for r in serve.status()] == ["ML.REGISTRY.IRIS/V2"]
    _wait(lambda: httpx.post(f"{served.url}/models/iris/versions/v1/predict", json=ROW)
          .status_code == 404, 10, "v1 gone")
    assert httpx.post(f"{served.url}/models/iris/versions/v2/predict", json=ROW).status_code == 200
    with pytest.raises(NotFound, match="floe serve list"):
        serve.undeploy("iris/v1")


def test_deploy_refuses_what_cannot_be_served(clean_endpoints: Served) -> None:
    with pytest.raises(NotFound, match="V9"):
        clean_endpoints.deploy("iris/v9")
    with pytest.raises(InvalidInput, match="min_replicas"):
        clean_endpoints.deploy("iris/v1", min_replicas=3, max_replicas=2)
    with pytest.raises(InvalidInput, match="--num-gpus 0"):
        clean_endpoints.deploy("iris/v1", num_gpus=1)
    with pytest.raises(InvalidInput, match="unknown_option"):
        clean_endpoints.deploy("iris/v1", unknown_option=1)
    assert serve.status() == []


def test_the_front_listens_on_loopback_only(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    with pytest.raises(InvalidInput, match="--allow-remote"):
        serve.start(host="0.0.0.0", port=port)
    # Every listening socket on the port, as the kernel lists them: the local address must be
    # 127.0.0.1 (no 0.0.0.0, no other interface, no IPv6 wildcard).
    listening = _listening_addresses(port)
    assert listening == {"127.0.0.1"}, listening


def _listening_addresses(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if len(address) == 8:  # IPv4, little-endian
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.add(f"ipv6:{address}")
    return found
