"""``floe sql``, ``floe roles``, ``floe grant/revoke/grants`` and ``floe --role``: the same
statements and checks as the Python API, each failure one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from registry import Registry
from tests.registry.access.test_authorize import HOLDERS, OWNERSHIP, READ, USAGE, setup_holders
from tests.registry.cli.test_app import env, floe, floe_error, floe_json, log_iris, sqlite_only

__all__ = ["env"]  # the fixture, used by name


@sqlite_only
def test_roles_grants_and_the_acting_role(
    reg: Registry, env: dict[str, str], artifact_root: Path
) -> None:
    log_iris(reg, "v1")
    assert floe(env, "sql", "CREATE ROLE analyst") == "Statement executed successfully.\n"
    floe(env, "roles", "create", "ops")
    assert [r["name"] for r in floe_json(env, "roles", "list")] == ["ADMIN", "ANALYST", "OPS",
                                                                     "PUBLIC"]
    # no privilege: the model does not exist for the role, word for word
    missing = floe_error(env, "--role", "analyst", "tags", "list", "nothing_here")
    assert floe_error(env, "--role", "analyst", "tags", "list", "iris") == missing.replace(
        "NOTHING_HERE", "IRIS")
    assert floe_json(env, "--role", "analyst", "models", "list") == []

    floe(env, "grant", "USAGE", "ON", "MODEL", "iris", "TO", "ROLE", "analyst")
    assert [m["name"] for m in floe_json(env, "--role", "analyst", "models", "list")] == ["IRIS"]
    assert floe_error(env, "--role", "analyst", "tags", "set", "iris", "stage", "prod") == (
        "error: role ANALYST holds USAGE on ML.REGISTRY.IRIS, but to set a tag of it needs "
        "OWNERSHIP; its owner can transfer it: GRANT OWNERSHIP ON MODEL ML.REGISTRY.IRIS TO "
        "ROLE ANALYST"
    )
    grants = floe_json(env, "grants", "--model", "iris")
    assert [(g["privilege"], g["grantee_name"]) for g in grants] == [("OWNERSHIP", "ADMIN"),
                                                                     ("USAGE", "ANALYST")]
    assert floe_error(env, "--role", "analyst", "roles", "create", "x").startswith(
        "error: role ANALYST cannot manage roles: only ADMIN manages roles")
    floe(env, "revoke", "USAGE", "ON", "MODEL", "iris", "FROM", "ROLE", "analyst")
    assert floe_json(env, "--role", "analyst", "models", "list") == []
    assert floe_error(env, "sql", "GRANT USAGE ON MODEL iris TOO ROLE analyst") == (
        "error: syntax error at 'TOO' (position 27): expected TO")
    assert floe_error(env, "--role", "ghost", "models", "list").startswith(
        "error: role GHOST does not exist; list roles: floe roles list")
    assert reg.get_model("iris").show_tags() == {}  # nothing the refused commands tried stuck
    audit = floe_json(env, "audit", "--model", "iris")
    assert [(r["action"], r["role"], r["outcome"]) for r in audit] == [
        ("LOG VERSION", "ADMIN", "OK"), ("use", "ANALYST", "REFUSED"), ("GRANT", "ADMIN", "OK"),
        ("set a tag of", "ANALYST", "REFUSED"), ("REVOKE", "ADMIN", "OK"),
    ]
    assert audit[2]["after"] == {"privilege": "USAGE", "role": "ANALYST", "models": 1}
    assert floe_error(env, "--role", "ops", "audit").startswith(
        "error: role OPS cannot read the audit log: only ADMIN")


@sqlite_only
def test_tokens_from_the_shell(reg: Registry, env: dict[str, str]) -> None:
    floe(env, "roles", "create", "svc")
    token = floe(env, "tokens", "create", "--role", "svc", "--expires-in", "30d").strip()
    assert token.startswith("floe_") and len(token.splitlines()) == 1
    token_id = token.split("_")[1]
    listed = floe_json(env, "tokens", "list")
    assert [(t["id"], t["role"], t["status"]) for t in listed] == [(token_id, "SVC", "active")]
    assert token not in json.dumps(listed)
    assert floe(env, "tokens", "revoke", token_id) == f"revoked token {token_id}\n"
    assert floe_json(env, "tokens", "list")[0]["status"] == "revoked"
    assert floe_error(env, "tokens", "create", "--role", "svc", "--expires-in", "soon") == (
        "error: expires in 'soon': write a positive number and a unit, such as 90s, 15m, 12h "
        "or 30d")


@sqlite_only
def test_every_kind_of_holder_from_the_shell(
    catalog_url: str, artifact_root: Path, env: dict[str, str]
) -> None:
    """USAGE (the listing), READ (metrics) and OWNERSHIP (a tag) as each kind of holder of
    ML.REGISTRY.M: allowed, or the API's error as one line."""
    state = setup_holders(catalog_url, artifact_root)
    missing = floe_error(env, "metrics", "list", "no_such_model", "v1")
    for role, held in HOLDERS.items():
        listed = [m["name"] for m in floe_json(env, "--role", role, "models", "list")]
        assert ("M" in listed) == (held >= USAGE), role
        if held >= READ:
            assert floe_json(env, "--role", role, "metrics", "list", "m", "v1") == {"acc": 0.9}
        elif held == 0:
            assert floe_error(env, "--role", role, "metrics", "list", "m", "v1") == (
                missing.replace("NO_SUCH_MODEL", "M")), role
        else:
            assert "needs READ" in floe_error(env, "--role", role, "metrics", "list", "m", "v1")
        if held < OWNERSHIP:
            line = floe_error(env, "--role", role, "tags", "set", "m", "k", "v")
            assert ("needs OWNERSHIP" in line) == (held > 0), (role, line)
    assert state["admin"].get_model("m").show_tags() == {"TEAM": "risk"}  # nothing stuck
    floe(env, "--role", "owner", "tags", "set", "m", "k", "v")
    assert state["admin"].get_model("m").show_tags() == {"K": "v", "TEAM": "risk"}
