"""Users sign in with a token of theirs and act as one of the roles granted to them, never as
one they were not granted; revoking a role from a user, dropping the user or revoking the
token counts from the next call. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import InvalidInput, NotFound, PermissionDenied, Registry, Unauthenticated
from tests.models import iris_classifier


def _open(catalog_url: str, artifact_root: Path) -> dict[str, str]:
    return {"catalog_url": catalog_url, "artifact_root": str(artifact_root)}


def test_a_user_acts_only_as_a_role_granted_to_them(
    reg: Registry, catalog_url: str, artifact_root: Path
) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    for role in ("analyst", "base", "other"):
        reg.sql(f"CREATE ROLE {role}")
    reg.sql("GRANT ROLE base TO ROLE analyst")  # ANALYST holds BASE
    reg.sql("GRANT USAGE ON MODEL m TO ROLE base")
    reg.sql("CREATE USER alice DEFAULT_ROLE = analyst")  # the default role is granted too
    reg.create_user("bob")
    users = reg.show_users().set_index("name")
    assert users.loc["ALICE", "default_role"] == "ANALYST"
    assert users.loc["ALICE", "granted_roles"] == "ANALYST"
    assert users.loc["BOB", "granted_roles"] == ""
    token = reg.create_token(user="alice", expires_in="1h")
    opened = _open(catalog_url, artifact_root)

    alice = Registry.from_token(token, **opened)  # the default role
    assert alice.role == "ANALYST"
    assert alice.get_model("m").default.run(X[:2], function_name="predict").shape[0] == 2
    assert Registry.from_token(token, role="base", **opened).role == "BASE"  # held by ANALYST
    assert Registry.from_token(token, role="public", **opened).role == "PUBLIC"
    for refused in ("admin", "other"):
        with pytest.raises(PermissionDenied, match=(
                rf"user ALICE may not act as role {refused.upper()}: it is not granted to "
                rf"them; ask ADMIN: GRANT ROLE {refused.upper()} TO USER ALICE")):
            Registry.from_token(token, role=refused, **opened)
    with pytest.raises(NotFound, match="role GHOST"):
        reg.sql("GRANT ROLE ghost TO USER alice")
    with pytest.raises(NotFound, match="user CAROL does not exist"):
        reg.sql("GRANT ROLE analyst TO USER carol")

    reg.sql("GRANT ROLE other TO USER alice")
    assert Registry.from_token(token, role="other", **opened).role == "OTHER"
    grants = reg.show_grants(to_user="alice")
    assert grants.equals(reg.sql("SHOW GRANTS TO USER alice"))
    assert grants[["role", "granted_to", "grantee_name"]].values.tolist() == [
        ["ANALYST", "USER", "ALICE"], ["OTHER", "USER", "ALICE"]]

    # revoking the role a user acts as counts from the next call of a registry already open
    model = alice.get_model("m")
    reg.sql("REVOKE ROLE analyst FROM USER alice")
    with pytest.raises(PermissionDenied, match="may not act as role ANALYST"):
        model.show_tags()
    # without the default role granted, a user's token acts as PUBLIC, as in Snowflake
    assert Registry.from_token(token, **opened).role == "PUBLIC"
    with pytest.raises(NotFound):
        Registry.from_token(token, **opened).get_model("m")

    # dropping the user takes their tokens and grants with them
    bob_token = reg.create_token(user="bob")
    assert Registry.from_token(bob_token, **opened).role == "PUBLIC"
    bob = Registry.from_token(bob_token, **opened)
    reg.drop_user("bob")
    for call in (bob.show_models, lambda: Registry.from_token(bob_token, **opened)):
        with pytest.raises(Unauthenticated):
            call()
    assert reg.show_users()["name"].tolist() == ["ALICE"]
    assert reg.sql("DROP USER IF EXISTS bob")["status"][0] == "user BOB did not exist"
    tokens = reg.show_tokens()
    assert tokens[["user", "role"]].values.tolist() == [["ALICE", None]]

    actions = [a for a in reg.show_audit()["action"] if "USER" in a or a in ("GRANT", "REVOKE")]
    assert actions[:2] == ["GRANT", "GRANT"] and "CREATE USER" in actions
    assert "DROP USER" in actions


def test_a_service_token_acts_only_as_its_role(
    reg: Registry, catalog_url: str, artifact_root: Path
) -> None:
    reg.sql("CREATE ROLE svc")
    token = reg.create_token("svc")
    opened = _open(catalog_url, artifact_root)
    assert Registry.from_token(token, **opened).role == "SVC"
    assert Registry.from_token(token, role="svc", **opened).role == "SVC"
    with pytest.raises(PermissionDenied, match="this token is bound to role SVC and cannot act "
                       "as role ADMIN"):
        Registry.from_token(token, role="admin", **opened)
    with pytest.raises(InvalidInput, match="pass one of user= or role="):
        reg.create_token("svc", user="alice")
    with pytest.raises(InvalidInput, match="pass one of user= or role="):
        reg.create_token()
    with pytest.raises(NotFound, match="user NOBODY does not exist"):
        reg.create_token(user="nobody")


def test_only_admin_manages_users(reg: Registry, catalog_url: str, artifact_root: Path) -> None:
    reg.sql("CREATE ROLE analyst")
    analyst = Registry(role="analyst", **_open(catalog_url, artifact_root))
    for statement in ("CREATE USER eve", "SHOW USERS", "GRANT ROLE analyst TO USER eve"):
        with pytest.raises(PermissionDenied, match="cannot manage users: only ADMIN"):
            analyst.sql(statement)
    assert reg.show_users().empty
    with pytest.raises(NotFound, match="role GHOST does not exist"):
        reg.create_user("eve", default_role="ghost")
    assert reg.show_users().empty  # refused whole: no user without its default role
