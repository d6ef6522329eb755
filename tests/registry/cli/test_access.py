"""``floe sql``, ``floe roles``, ``floe grant/revoke/grants``, ``floe tokens``, ``floe audit``
and ``floe --role``: the same statements and checks as the Python API, each failure one line
on stderr. Run in process (``sh``, tests/registry/cli/conftest.py): dozens of commands, a
second each as real processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from registry import Registry
from tests.registry.access.test_authorize import (
    HOLDERS,
    OWNERSHIP,
    READ,
    USAGE,
    setup_holders,
    snapshot,
)
from tests.registry.cli.conftest import Shell
from tests.registry.cli.test_app import log_iris


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
        "error: role ANALYST cannot manage roles: only ADMIN may")
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


def test_users_from_the_shell(reg: Registry, sh: Shell) -> None:
    sh.ok("roles", "create", "analyst")
    sh.ok("roles", "create", "other")
    assert sh.ok("users", "create", "alice", "--default-role", "analyst") == (
        "Statement executed successfully.\n")
    sh.ok("grant", "ROLE", "other", "TO", "USER", "alice")
    users = sh.json("users", "list")
    assert [(u["name"], u["default_role"], u["granted_roles"]) for u in users] == [
        ("ALICE", "ANALYST", "ANALYST, OTHER")]
    grants = sh.json("grants", "--to-user", "alice")
    assert [(g["role"], g["grantee_name"]) for g in grants] == [("ANALYST", "ALICE"),
                                                                ("OTHER", "ALICE")]
    token = sh.ok("tokens", "create", "--user", "alice", "--expires-in", "12h").strip()
    assert Registry.from_token(token, role="other").role == "OTHER"  # $FLOE_CATALOG_URL's
    assert [(t["user"], t["role"]) for t in sh.json("tokens", "list")] == [("ALICE", None)]
    assert sh.error("tokens", "create", "--user", "alice", "--role", "other") == (
        "error: a token is for a user or bound to a role: pass one of user= or role= "
        "(floe tokens create --user NAME | --role ROLE)")
    assert sh.error("--role", "other", "users", "list").startswith(
        "error: role OTHER cannot manage users: only ADMIN may")
    sh.ok("revoke", "ROLE", "other", "FROM", "USER", "alice")
    sh.ok("users", "drop", "alice")
    assert sh.json("users", "list") == [] and sh.json("tokens", "list") == []
    assert sh.error("users", "drop", "alice") == (
        "error: user ALICE does not exist; list users: floe users list")


# Each command, written for a model: (name, privilege needed, argv(model, n)). Reads first,
# then changes that keep the model, then the ones that remove or move it (the owner runs
# them in this order).
Command = tuple[str, int, Callable[[str, int], list[str]]]
COMMANDS: list[Command] = [
    ("models show", USAGE, lambda m, n: ["models", "show", m]),
    ("versions list", USAGE, lambda m, n: ["versions", "list", m]),
    ("versions show", USAGE, lambda m, n: ["versions", "show", m, "champion"]),
    ("tags list", USAGE, lambda m, n: ["tags", "list", m]),
    ("tags get", USAGE, lambda m, n: ["tags", "get", m, "team"]),
    ("grants", USAGE, lambda m, n: ["grants", "--model", m]),
    ("metrics list", READ, lambda m, n: ["metrics", "list", m, "v1"]),
    ("metrics get", READ, lambda m, n: ["metrics", "get", m, "v1", "acc"]),
    ("artifacts list", READ, lambda m, n: ["artifacts", "list", f"floe://model/{m}/versions/v1/"]),
    ("artifacts get", READ, lambda m, n: [
        "artifacts", "get", f"floe://model/{m}/versions/v1/MANIFEST.yml", f"get-{n}"]),
    ("comment set", OWNERSHIP, lambda m, n: ["comment", "set", m, "new"]),
    ("comment set --version", OWNERSHIP, lambda m, n: ["comment", "set", m, "x", "--version",
                                                       "v1"]),
    ("tags set", OWNERSHIP, lambda m, n: ["tags", "set", m, "stage", "prod"]),
    ("tags unset", OWNERSHIP, lambda m, n: ["tags", "unset", m, "team"]),
    ("metrics set", OWNERSHIP, lambda m, n: ["metrics", "set", m, "v1", "f1", "0.5"]),
    ("metrics delete", OWNERSHIP, lambda m, n: ["metrics", "delete", m, "v1", "acc"]),
    ("alias set", OWNERSHIP, lambda m, n: ["alias", "set", m, "v2", "prod"]),
    ("alias unset", OWNERSHIP, lambda m, n: ["alias", "unset", m, "champion"]),
    ("default set", OWNERSHIP, lambda m, n: ["default", "set", m, "v2"]),
    ("export", OWNERSHIP, lambda m, n: ["export", m, "v1", f"export-{n}"]),
    ("grant on it", OWNERSHIP, lambda m, n: ["grant", "USAGE", "ON", "MODEL", m, "TO", "ROLE",
                                             "nobody"]),
    ("sql revoke on it", OWNERSHIP, lambda m, n: ["sql", f"REVOKE USAGE ON MODEL {m} FROM ROLE "
                                                 "nobody"]),
    ("versions delete", OWNERSHIP, lambda m, n: ["versions", "delete", m, "v1", "--yes"]),
    ("models rename", OWNERSHIP, lambda m, n: ["models", "rename", m, f"{m}_renamed"]),
    ("models delete", OWNERSHIP, lambda m, n: ["models", "delete", m, "--yes"]),
]


def test_every_command_as_every_holder(
    catalog_url: str, artifact_root: Path, sh: Shell, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every model command as each kind of holder of ML.REGISTRY.M: what the privilege allows
    succeeds, anything else is the API's error as one line: the missing model's, word for
    word, for a role that cannot see M; the missing privilege and its GRANT otherwise. A
    refused command leaves the catalog as it was; then the owner runs every command."""
    state = setup_holders(catalog_url, artifact_root)
    admin: Registry = state["admin"]
    admin.log_model(state["clf"], model_name="m", version_name="v2",
                    sample_input_data=state["X"][:5])
    monkeypatch.chdir(tmp_path)  # where export and artifacts get write
    by_role = [role for role in HOLDERS if role != "OWNER"] + ["OWNER"]
    for role in by_role:
        held = HOLDERS[role]
        listed = [m["name"] for m in sh.json("--role", role, "models", "list")]
        assert ("M" in listed) == (held >= USAGE), role
        target = "m"  # until the owner renames it
        for n, (name, needed, argv) in enumerate(COMMANDS):
            label = f"floe --role {role} {name}"
            if held >= needed:
                sh.ok("--role", role, *argv(target, n))
                target = "m_renamed" if name == "models rename" else target
                continue
            before = snapshot(admin)
            line = sh.error("--role", role, *argv("m", n))
            if held == 0:
                missing = sh.error("--role", role, *argv("no_such_model", n))
                assert line == missing.replace("NO_SUCH_MODEL", "M"), label
            else:
                privilege = {READ: "READ", OWNERSHIP: "OWNERSHIP"}[needed]
                assert f"needs {privilege}; " in line, (label, line)
                assert f"GRANT {privilege} ON MODEL ML.REGISTRY.M TO ROLE {role}" in line, label
            assert snapshot(admin) == before, f"{label} changed something"
    assert "M" not in admin.show_models()["name"].tolist()  # the owner's last command
    assert "M_RENAMED" not in admin.show_models()["name"].tolist()
