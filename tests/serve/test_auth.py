"""The front with access control on: every request needs a bearer token of a role with USAGE
on the model; revocations hold within the front's bound (``auth_ttl_s``), on a running front."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import httpx
import pytest

import serve
from registry import Registry
from tests.serve.conftest import Served

TTL_S = 0.5  # the bound under test; the default is serve.control.AUTH_TTL_S


@pytest.fixture
def guarded(clean_endpoints: Served) -> Iterator[Served]:
    """The package's front, restarted with access control on, and off again afterwards."""
    port = urlparse(clean_endpoints.url).port or 80
    clean_endpoints.deploy("iris/v1")
    serve.start(port=port, auth=True, catalog_url=clean_endpoints.catalog_url,
                artifact_root=clean_endpoints.artifact_root, auth_ttl_s=TTL_S)
    try:
        yield clean_endpoints
    finally:
        serve.start(port=port)
        for role in ("analyst", "other"):
            clean_endpoints.reg.sql(f"DROP ROLE IF EXISTS {role}")


def _within(seconds: float, check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_tokens_roles_and_revocations_on_a_running_front(guarded: Served) -> None:
    reg: Registry = guarded.reg
    reg.sql("CREATE ROLE analyst")
    reg.sql("CREATE ROLE other")
    reg.sql("GRANT USAGE ON MODEL iris TO ROLE analyst")
    analyst, other = reg.create_token("analyst"), reg.create_token("other")
    url = f"{guarded.url}/models/iris/versions/v1/predict"
    body = {"data": [[0, *guarded.X.to_numpy()[0].tolist()]]}

    def post(token: str | None, target: str = url) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(target, json=body, headers=headers, timeout=30)

    assert post(analyst).status_code == 200
    # every kind of holder: run needs USAGE, however it is held
    holders = {"owner_r": 200, "user_r": 200, "reader": 200, "all_r": 200, "top": 200,
               "nobody": 404}
    for role in [*holders, "base", "mid"]:
        reg.sql(f"CREATE ROLE {role}")
    reg.sql("GRANT OWNERSHIP ON MODEL iris TO ROLE owner_r")
    reg.sql("GRANT USAGE ON MODEL iris TO ROLE user_r")
    reg.sql("GRANT READ ON MODEL iris TO ROLE reader")
    reg.sql("GRANT USAGE ON ALL MODELS IN SCHEMA ML.REGISTRY TO ROLE all_r")
    reg.sql("GRANT USAGE ON MODEL iris TO ROLE base")
    reg.sql("GRANT ROLE base TO ROLE mid")
    reg.sql("GRANT ROLE mid TO ROLE top")
    try:
        got = {role: post(reg.create_token(role)).status_code for role in holders}
    finally:
        reg.sql("GRANT OWNERSHIP ON MODEL iris TO ROLE admin")
        for role in [*holders, "base", "mid"]:
            reg.sql(f"DROP ROLE {role}")
    assert got == holders
    for token in (None, "floe_0123456789abcdef_" + "x" * 43, "not a token"):
        refused = post(token)
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"] == "Unauthenticated"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    # a role without USAGE: exactly what a model never deployed gets, apart from its name
    hidden, absent = post(other), post(other, f"{guarded.url}/models/nope/versions/v1/predict")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"].replace("IRIS", "NOPE") == absent.json()["error"]
    listed = httpx.get(f"{guarded.url}/models", headers={"authorization": f"Bearer {other}"})
    assert listed.status_code == 200 and listed.json()["models"] == []
    listed = httpx.get(f"{guarded.url}/models", headers={"authorization": f"Bearer {analyst}"})
    assert [m["endpoint"] for m in listed.json()["models"]] == ["ML.REGISTRY.IRIS/V1"]

    short = reg.create_token("analyst", expires_in="2s")
    assert post(short).status_code == 200
    assert _within(4, lambda: post(short).status_code == 401)  # expired

    reg.revoke_token(analyst.split("_")[1])
    started = time.monotonic()
    assert _within(3, lambda: post(analyst).status_code == 401)
    assert time.monotonic() - started < TTL_S + 1.0  # the documented bound, and a margin

    second = reg.create_token("analyst")
    assert post(second).status_code == 200
    reg.sql("REVOKE USAGE ON MODEL iris FROM ROLE analyst")  # a revoked grant, a running front
    assert _within(TTL_S + 1.0, lambda: post(second).status_code == 404)
    assert httpx.get(f"{guarded.url}/-/healthz").status_code == 200  # health stays open

    tokens = reg.show_tokens().set_index("id")
    assert tokens.loc[analyst.split("_")[1], "status"] == "revoked"
    assert tokens.loc[short.split("_")[1], "status"] == "expired"
    assert "secret" not in "".join(tokens.columns) and analyst not in tokens.to_string()
