"""``floe sql``, ``floe roles``, ``floe grant/revoke/grants``, ``floe tokens``, ``floe audit``
and ``floe --role``: the same statements and checks as the Python API, each failure one line
on stderr. Run in process through ``registry.cli.main`` (the entry point the ``floe`` script
calls; test_app.py runs it as a real process): dozens of commands, a second each otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry import Registry
from registry.cli import main
from tests.registry.access.test_authorize import HOLDERS, OWNERSHIP, READ, USAGE, setup_holders
from tests.registry.cli.test_app import log_iris


@dataclass
class Shell:
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = main(list(args))
        out = self.capsys.readouterr()
        return status, out.out, out.err

    def ok(self, *args: str) -> str:
        status, out, err = self.run(*args)
        assert status == 0, f"floe {' '.join(args)} failed: {err}"
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def error(self, *args: str) -> str:
        """The one ``error:`` line of a command that must fail."""
        status, out, err = self.run(*args)
        assert (status, out) == (1, ""), (status, out, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        return lines[0]


@pytest.fixture
def sh(catalog_url: str, artifact_root: Path, monkeypatch: pytest.MonkeyPatch,
       capsys: pytest.CaptureFixture[str]) -> Shell:
    monkeypatch.setenv("FLOE_CATALOG_URL", catalog_url)
    monkeypatch.setenv("FLOE_ARTIFACT_ROOT", str(artifact_root))
    return Shell(capsys)


def test_roles_grants_and_the_acting_role(
    reg: Registry, sh: Shell, artifact_root: Path
) -> None:
    log_iris(reg, "v1")
    assert sh.ok("sql", "CREATE ROLE analyst") == "Statement executed successfully.\n"
    sh.ok("roles", "create", "ops")
    assert [r["name"] for r in sh.json("roles", "list")] == ["ADMIN", "ANALYST", "OPS",
                                                                     "PUBLIC"]
    # no privilege: the model does not exist for the role, word for word
    missing = sh.error("--role", "analyst", "tags", "list", "nothing_here")
    assert sh.error("--role", "analyst", "tags", "list", "iris") == missing.replace(
        "NOTHING_HERE", "IRIS")
    assert sh.json("--role", "analyst", "models", "list") == []

    sh.ok("grant", "USAGE", "ON", "MODEL", "iris", "TO", "ROLE", "analyst")
    assert [m["name"] for m in sh.json("--role", "analyst", "models", "list")] == ["IRIS"]
    assert sh.error("--role", "analyst", "tags", "set", "iris", "stage", "prod") == (
        "error: role ANALYST holds USAGE on ML.REGISTRY.IRIS, but to set a tag of it needs "
        "OWNERSHIP; its owner can transfer it: GRANT OWNERSHIP ON MODEL ML.REGISTRY.IRIS TO "
        "ROLE ANALYST"
    )
    grants = sh.json("grants", "--model", "iris")
    assert [(g["privilege"], g["grantee_name"]) for g in grants] == [("OWNERSHIP", "ADMIN"),
                                                                     ("USAGE", "ANALYST")]
    assert sh.error("--role", "analyst", "roles", "create", "x").startswith(
        "error: role ANALYST cannot manage roles: only ADMIN manages roles")
    sh.ok("revoke", "USAGE", "ON", "MODEL", "iris", "FROM", "ROLE", "analyst")
    assert sh.json("--role", "analyst", "models", "list") == []
    assert sh.error("sql", "GRANT USAGE ON MODEL iris TOO ROLE analyst") == (
        "error: syntax error at 'TOO' (position 27): expected TO")
    assert sh.error("--role", "ghost", "models", "list").startswith(
        "error: role GHOST does not exist; list roles: floe roles list")
    assert reg.get_model("iris").show_tags() == {}  # nothing the refused commands tried stuck
    audit = sh.json("audit", "--model", "iris")
    assert [(r["action"], r["role"], r["outcome"]) for r in audit] == [
        ("LOG VERSION", "ADMIN", "OK"), ("use", "ANALYST", "REFUSED"), ("GRANT", "ADMIN", "OK"),
        ("set a tag of", "ANALYST", "REFUSED"), ("REVOKE", "ADMIN", "OK"),
    ]
    assert audit[2]["after"] == {"privilege": "USAGE", "role": "ANALYST", "models": 1}
    assert sh.error("--role", "ops", "audit").startswith(
        "error: role OPS cannot read the audit log: only ADMIN")


def test_tokens_from_the_shell(reg: Registry, sh: Shell) -> None:
    sh.ok("roles", "create", "svc")
    token = sh.ok("tokens", "create", "--role", "svc", "--expires-in", "30d").strip()
    assert token.startswith("floe_") and len(token.splitlines()) == 1
    token_id = token.split("_")[1]
    listed = sh.json("tokens", "list")
    assert [(t["id"], t["role"], t["status"]) for t in listed] == [(token_id, "SVC", "active")]
    assert token not in json.dumps(listed)
    assert sh.ok("tokens", "revoke", token_id) == f"revoked token {token_id}\n"
    assert sh.json("tokens", "list")[0]["status"] == "revoked"
    assert sh.error("tokens", "create", "--role", "svc", "--expires-in", "soon") == (
        "error: expires in 'soon': write a positive number and a unit, such as 90s, 15m, 12h "
        "or 30d")


def test_every_kind_of_holder_from_the_shell(
    catalog_url: str, artifact_root: Path, sh: Shell
) -> None:
    """USAGE (the listing), READ (metrics) and OWNERSHIP (a tag) as each kind of holder of
    ML.REGISTRY.M: allowed, or the API's error as one line."""
    state = setup_holders(catalog_url, artifact_root)
    missing = sh.error("metrics", "list", "no_such_model", "v1")
    for role, held in HOLDERS.items():
        listed = [m["name"] for m in sh.json("--role", role, "models", "list")]
        assert ("M" in listed) == (held >= USAGE), role
        if held >= READ:
            assert sh.json("--role", role, "metrics", "list", "m", "v1") == {"acc": 0.9}
        elif held == 0:
            assert sh.error("--role", role, "metrics", "list", "m", "v1") == (
                missing.replace("NO_SUCH_MODEL", "M")), role
        else:
            assert "needs READ" in sh.error("--role", role, "metrics", "list", "m", "v1")
        if held < OWNERSHIP:
            line = sh.error("--role", role, "tags", "set", "m", "k", "v")
            assert ("needs OWNERSHIP" in line) == (held > 0), (role, line)
    assert state["admin"].get_model("m").show_tags() == {"TEAM": "risk"}  # nothing stuck
    sh.ok("--role", "owner", "tags", "set", "m", "k", "v")
    assert state["admin"].get_model("m").show_tags() == {"K": "v", "TEAM": "risk"}
