"""The front with access control on: every request needs a bearer token of a role with USAGE
on the model; revocations hold within the front's bound (``auth_ttl_s``), on a running front."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

import serve
from registry import Registry
from tests.registry.access.test_authorize import HOLDERS, USAGE, setup_holders
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

    # a user's token acts as a role of theirs (X-Floe-Role), never one they were not granted
    reg.sql("GRANT USAGE ON MODEL iris TO ROLE analyst")
    reg.sql("CREATE USER alice DEFAULT_ROLE = analyst")
    reg.sql("GRANT ROLE other TO USER alice")
    alice = reg.create_token(user="alice")

    def as_alice(role: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {alice}", **({"x-floe-role": role} if role else {})}
        return httpx.post(url, json=body, headers=headers, timeout=30)

    assert as_alice().status_code == 200  # the default role, ANALYST, holds USAGE
    assert as_alice("other").status_code == 404  # a role of hers without USAGE
    refused = as_alice("admin")
    assert (refused.status_code, refused.json()["type"]) == (403, "PermissionDenied")
    assert "GRANT ROLE ADMIN TO USER ALICE" in refused.json()["error"]
    reg.sql("REVOKE ROLE analyst FROM USER alice")  # her role, taken away on a running front
    assert _within(TTL_S + 1.0, lambda: as_alice("analyst").status_code == 403)
    reg.sql("DROP USER alice")

    tokens = reg.show_tokens().set_index("id")
    assert tokens.loc[analyst.split("_")[1], "status"] == "revoked"
    assert tokens.loc[short.split("_")[1], "status"] == "expired"
    assert "secret" not in "".join(tokens.columns) and analyst not in tokens.to_string()

    # failed sign-ins from one address: at the limit, every attempt is 429 until they age out
    statuses = [post("floe_0123456789abcdef_" + "y" * 43).status_code for _ in range(10)]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    limited = post(second)  # a good token too: a guesser must not learn when one is right
    assert limited.status_code == 429 and limited.json()["type"] == "TooManyAttempts"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert httpx.get(f"{guarded.url}/-/healthz").status_code == 200


def test_run_over_http_as_every_holder(
    clean_endpoints: Served, catalog_url: str, artifact_root: Path
) -> None:
    """``run`` through the front with each kind of holder's token, on SQLite and PostgreSQL:
    200 for every way of holding USAGE, the undeployed endpoint's 404 for the rest; revoking
    the role a role inherits USAGE through closes the endpoint to it within the bound."""
    state = setup_holders(catalog_url, artifact_root)
    admin: Registry = state["admin"]
    port = urlparse(clean_endpoints.url).port or 80
    serve.deploy("m/v1", catalog_url=catalog_url, artifact_root=str(artifact_root), num_cpus=0.1)
    serve.start(port=port, auth=True, catalog_url=catalog_url, artifact_root=str(artifact_root),
                auth_ttl_s=TTL_S)
    try:
        url = f"{clean_endpoints.url}/models/m/versions/v1/predict"
        body = {"data": [[0, *state["X"].to_numpy()[0].tolist()]]}

        def post(token: str, target: str = url) -> httpx.Response:
            return httpx.post(target, json=body, headers={"authorization": f"Bearer {token}"},
                              timeout=30)

        tokens = {role: admin.create_token(role) for role in HOLDERS}
        got = {role: post(token).status_code for role, token in tokens.items()}
        assert got == {role: 200 if held >= USAGE else 404 for role, held in HOLDERS.items()}
        absent = post(tokens["NOBODY"], f"{clean_endpoints.url}/models/nope/versions/v1/predict")
        assert post(tokens["CREATOR"]).json()["error"].replace(" M/", " NOPE/") == (
            absent.json()["error"])
        admin.sql("REVOKE ROLE mid FROM ROLE top")  # TOP held USAGE through MID, then BASE
        started = time.monotonic()
        assert _within(TTL_S + 1.0, lambda: post(tokens["TOP"]).status_code == 404)
        assert time.monotonic() - started < TTL_S + 1.0
        assert post(tokens["USER_R"]).status_code == 200  # nobody else lost anything
    finally:
        serve.start(port=port)
