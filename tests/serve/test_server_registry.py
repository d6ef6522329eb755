"""Serving against a registry server: replicas open it with the deployer's service token (the
spec holds its URL, no catalog), and the front asks it about each request's own token."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import httpx
import pytest

import serve
from tests.serve.conftest import Served
from tests.served import served as registry_server

TTL_S = 0.5


def test_an_endpoint_and_its_front_through_a_registry_server(
    clean_endpoints: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    s = clean_endpoints
    port = urlparse(s.url).port or 80
    url = f"{s.url}/models/iris/versions/v1/predict"
    body = {"data": [[0, *s.X.to_numpy()[0].tolist()], [1, *s.X.to_numpy()[60].tolist()]]}
    s.deploy("iris/v1")  # direct mode, the front open: what the server mode must answer too
    direct = httpx.post(url, json=body, timeout=30)
    assert direct.status_code == 200, direct.text

    reg = s.reg
    reg.sql("CREATE ROLE analyst")
    reg.sql("CREATE ROLE other")
    reg.sql("GRANT USAGE ON MODEL iris TO ROLE analyst")
    try:
        # the server refuses a client after 3 failed sign-ins (the front after 10)
        with registry_server(s.catalog_url, s.artifact_root, max_failures=3) as (
                server_url, _admin), \
                monkeypatch.context() as env:
            # the replicas' environment names no catalog: only the spec can lead them anywhere
            replica_env = ray.get(ray.remote(lambda: dict(os.environ)).remote())
            assert not {"FLOE_CATALOG_URL", "FLOE_ARTIFACT_ROOT"} & set(replica_env)
            env.setenv("FLOE_REGISTRY_URL", server_url)  # the defaults: no catalog_url passed
            env.setenv("FLOE_TOKEN", reg.create_token("analyst"))  # the replicas'
            doc = serve.deploy("iris/v1", num_cpus=0.1)  # updated in place, through the server
            assert doc["registry_url"] == server_url and doc["version"] == "V1"
            serve.start(port=port, auth=True, auth_ttl_s=TTL_S)  # FLOE_REGISTRY_URL too

            def post(token: str | None, target: str = url,
                     role: str | None = None) -> httpx.Response:
                headers = {"authorization": f"Bearer {token}"} if token else {}
                return httpx.post(target, json=body, timeout=30,
                                  headers={**headers, **({"x-floe-role": role} if role else {})})

            analyst = reg.create_token("analyst")
            answered = post(analyst)
            assert answered.status_code == 200, answered.text
            assert answered.json() == direct.json()
            for token in (None, "floe_0123456789abcdef_" + "x" * 43):
                refused = post(token)
                assert refused.status_code == 401, refused.text
                assert refused.json()["type"] == "Unauthenticated"
                assert refused.headers["www-authenticate"].startswith("Bearer")
            # no USAGE: the 404 of an endpoint never deployed, word for word but the name
            other = reg.create_token("other")
            hidden, absent = post(other), post(other, f"{s.url}/models/nope/versions/v1/predict")
            assert hidden.status_code == absent.status_code == 404
            assert hidden.json()["error"].replace("IRIS", "NOPE") == absent.json()["error"]
            reg.sql("CREATE USER alice DEFAULT_ROLE = analyst")
            refused = post(reg.create_token(user="alice"), role="other")  # not one of hers
            assert (refused.status_code, refused.json()["type"]) == (403, "PermissionDenied")
            listed = httpx.get(f"{s.url}/models", headers={"authorization": f"Bearer {analyst}"})
            assert [m["endpoint"] for m in listed.json()["models"]] == ["ML.REGISTRY.IRIS/V1"]
            # The front names each client to the server (X-Forwarded-For): a client that keeps
            # failing (another loopback address) is locked out by the server, not the front
            # with it, so everyone else still gets in.
            with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"),
                              timeout=30) as noisy:
                codes = [noisy.post(url, json=body, headers={
                    "authorization": f"Bearer floe_{i:016x}_" + "y" * 43}).status_code
                    for i in range(4)]  # distinct tokens: none answered from the front's cache
            assert codes == [401, 401, 401, 429], codes
            assert post(analyst).status_code == 200
    finally:
        serve.start(port=port)
        reg.sql("DROP USER IF EXISTS alice")
        for role in ("analyst", "other"):
            reg.sql(f"DROP ROLE IF EXISTS {role}")
