"""The registry server over real HTTP (uvicorn on a loopback port, httpx), on SQLite and
PostgreSQL: identity from tokens only, the same checks and errors as the Python API, one
JSON error body per failure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry import Registry
from registry.server import create_app, running
from tests.models import iris_classifier


@dataclass
class Server:
    url: str
    admin: Registry
    tokens: dict[str, str]

    def call(self, method: str, path: str, who: str | None = None, *,
             role: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {}
        if who is not None:
            headers["authorization"] = f"Bearer {self.tokens.get(who, who)}"
        if role is not None:
            headers["x-floe-role"] = role
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


def rows(reply: httpx.Response) -> list[dict[str, Any]]:
    """A listing's rows: the server sends a DataFrame as {"columns": [...], "data": [...]}."""
    assert reply.status_code == 200, reply.text
    frame = reply.json()
    return [dict(zip(frame["columns"], row, strict=True)) for row in frame["data"]]


@pytest.fixture
def server(catalog_url: str, artifact_root: Path) -> Iterator[Server]:
    admin = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    clf, X = iris_classifier()
    mv = admin.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5],
                         metrics={"acc": 0.9})
    mv.set_alias("champion")
    admin.log_model(clf, model_name="hidden", version_name="v1", sample_input_data=X[:5])
    admin.sql("CREATE ROLE analyst")
    admin.sql("GRANT USAGE ON MODEL m TO ROLE analyst")
    admin.sql("CREATE USER alice DEFAULT_ROLE = analyst")
    admin.sql("CREATE USER root DEFAULT_ROLE = admin")
    tokens = {"alice": admin.create_token(user="alice"), "root": admin.create_token(user="root")}
    app = create_app(catalog_url=catalog_url, artifact_root=str(artifact_root), max_failures=5)
    with running(app) as url:
        yield Server(url, admin, tokens)


def test_every_request_signs_in_and_acts_as_a_role_of_its_token(server: Server) -> None:
    assert server.call("GET", "/-/healthz").json() == {"status": "ok"}  # open, for probes
    for who in (None, "floe_0123456789abcdef_" + "x" * 43, "garbage"):
        refused = server.call("GET", "/api/v1/models", who)
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"] == "Unauthenticated"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    listed = server.call("GET", "/api/v1/models", "alice")
    assert [m["name"] for m in rows(listed)] == ["M"]  # only what ANALYST holds USAGE on
    direct = server.admin.show_models()
    assert rows(listed)[0] == {**direct[direct["name"] == "M"].iloc[0].to_dict(),
                               "created_on": rows(listed)[0]["created_on"]}
    assert rows(listed)[0]["aliases"] == '{"CHAMPION": "V1"}'  # JSON text, as show_models
    assert [m["name"] for m in rows(server.call("GET", "/api/v1/models", "root"))] == [
        "HIDDEN", "M"]
    # a user granted only ANALYST asking for ADMIN is refused, whatever the header says
    escalated = server.call("GET", "/api/v1/models", "alice", role="ADMIN")
    assert escalated.status_code == 403
    assert escalated.json() == {
        "error": "user ALICE may not act as role ADMIN: it is not granted to them; ask ADMIN: "
                 "GRANT ROLE ADMIN TO USER ALICE", "type": "PermissionDenied"}


def test_the_apis_checks_and_errors_over_http(server: Server) -> None:
    version = server.call("GET", "/api/v1/models/m/versions/champion", "alice").json()
    assert (version["name"], version["metrics"]) == ("V1", None)  # no metrics without READ
    assert version["aliases"] == ["DEFAULT", "FIRST", "LAST", "CHAMPION"]
    assert "predict" in [f["name"] for f in version["functions"]]
    # USAGE may not read metrics nor change anything: 403 naming the grant that fixes it
    metrics = server.call("GET", "/api/v1/models/m/versions/v1/metrics", "alice")
    assert metrics.status_code == 403 and "GRANT READ ON MODEL ML.REGISTRY.M TO ROLE ANALYST" in (
        metrics.json()["error"])
    tag = server.call("PUT", "/api/v1/models/m/tags/stage", "alice", json={"value": "prod"})
    assert tag.status_code == 403 and tag.json()["type"] == "PermissionDenied"
    assert server.admin.get_model("m").show_tags() == {}  # nothing stuck
    # a model the role holds nothing on is exactly a missing one, apart from its name
    hidden = server.call("GET", "/api/v1/models/hidden", "alice")
    absent = server.call("GET", "/api/v1/models/nope", "alice")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"].replace("HIDDEN", "NOPE") == absent.json()["error"]
    # the owner's changes go through, audited as the user and role that made them
    assert server.call("PUT", "/api/v1/models/ML.REGISTRY.M/tags/stage", "root",
                       json={"value": "prod"}).json() == {"STAGE": "prod"}
    assert server.call("PUT", "/api/v1/models/m/versions/v1/metrics/f1", "root",
                       json={"value": 0.5}).json() == {"acc": 0.9, "f1": 0.5}
    assert server.call("GET", "/api/v1/models/m/versions/v1", "root").json()["metrics"] == {
        "acc": 0.9, "f1": 0.5}
    audit = rows(server.call("GET", "/api/v1/audit?model=m", "root"))
    assert (audit[-1]["action"], audit[-1]["user"], audit[-1]["role"]) == (
        "SET METRIC", "ROOT", "ADMIN")
    assert server.call("GET", "/api/v1/audit", "alice").status_code == 403
    # input FastAPI refuses, and unknown routes: the same JSON body
    bad = server.call("PUT", "/api/v1/models/m/tags/stage", "root", json={"valeu": "x"})
    assert bad.status_code == 400 and bad.json()["type"] == "InvalidInput"
    assert "body.value: Field required" in bad.json()["error"]
    nowhere = server.call("GET", "/api/v1/nowhere", "root")
    assert nowhere.status_code == 404 and nowhere.json()["type"] == "NotFound"
    statement = rows(server.call("POST", "/api/v1/sql", "root",
                                 json={"statement": "SHOW GRANTS ON MODEL m"}))
    assert [(g["privilege"], g["grantee_name"]) for g in statement] == [
        ("OWNERSHIP", "ADMIN"), ("USAGE", "ANALYST")]
    schema = server.call("GET", "/openapi.json").json()
    assert "/api/v1/models/{model}/versions/{version}" in schema["paths"]


def test_revocations_and_failed_sign_ins(server: Server) -> None:
    assert server.call("GET", "/api/v1/models/m", "alice").status_code == 200
    server.admin.sql("REVOKE USAGE ON MODEL m FROM ROLE analyst")  # the next request sees it
    assert server.call("GET", "/api/v1/models/m", "alice").status_code == 404
    server.admin.revoke_token(server.tokens["alice"].split("_")[1])
    assert server.call("GET", "/api/v1/models", "alice").status_code == 401
    # alice's revoked token has failed once; four more reach the limit of 5
    for _ in range(4):
        assert server.call("GET", "/api/v1/models", "garbage").status_code == 401
    limited = server.call("GET", "/api/v1/models", "root")  # a good token too
    assert limited.status_code == 429 and limited.json()["type"] == "TooManyAttempts"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_artifacts_stream_checked_against_the_manifest(server: Server, artifact_root: Path,
                                                       tmp_path: Path) -> None:
    import hashlib

    url = "/api/v1/artifacts/file?url=floe://model/m/versions/v1/MANIFEST.yml"
    got = server.call("GET", url, "root")
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    assert hashlib.sha256(got.content).hexdigest() == got.headers["x-floe-sha256"]
    local = server.admin.get_artifact("floe://model/m/versions/v1/MANIFEST.yml", tmp_path)
    assert got.content == local[0].read_bytes()
    assert int(got.headers["content-length"]) == len(got.content)
    # USAGE is not enough; a folder is not a file
    assert server.call("GET", url, "alice").status_code == 403
    folder = server.call("GET", "/api/v1/artifacts/file?url=floe://model/m/versions/v1/", "root")
    assert folder.status_code == 404 and "names a folder" in folder.json()["error"]
    # a stored file changed behind Floe's back is refused before a byte of it is sent
    files = rows(server.call("GET", "/api/v1/artifacts?url=floe://model/m/versions/v1/", "root"))
    name = next(f["name"] for f in files if not f["name"].endswith("MANIFEST.yml"))
    rel = name.split("/", 2)[2]  # versions/V1/<rel>
    stored = artifact_root / "versions" / server.admin.get_model("m").version("v1").id / rel
    stored.write_bytes(stored.read_bytes() + b"tampered")
    refused = server.call("GET", f"/api/v1/artifacts/file?url=floe://model/m/versions/v1/{rel}",
                          "root")
    assert refused.status_code == 500 and refused.json()["type"] == "IntegrityError"
    assert "does not match its sha256" in refused.json()["error"]
