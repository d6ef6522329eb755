"""Bearer tokens: bound to one role, shown once, kept as a salted hash, refused alike when
missing, malformed, unknown, expired or revoked."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import InvalidInput, NotFound, PermissionDenied, Registry, Unauthenticated
from registry.access.tokens import parse_duration
from tests.models import iris_classifier


def test_a_token_acts_as_its_role_until_it_expires_or_is_revoked(
    reg: Registry, catalog_url: str, artifact_root: Path
) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    reg.sql("CREATE ROLE analyst")
    reg.sql("GRANT USAGE ON MODEL m TO ROLE analyst")
    token = reg.create_token("analyst", expires_in="30d")
    opened = {"catalog_url": catalog_url, "artifact_root": str(artifact_root)}
    as_token = Registry.from_token(f"Bearer {token}", **opened)
    assert as_token.role == "ANALYST"
    assert as_token.get_model("m").default.run(X[:2], function_name="predict").shape[0] == 2
    with pytest.raises(PermissionDenied):
        as_token.get_model("m").set_tag("k", "v")
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    engine = sa.create_engine(catalog_url)
    with engine.connect() as conn:  # only a salted hash is stored, never the secret
        stored = conn.execute(sa.text("SELECT * FROM floe_token")).mappings().one()
    engine.dispose()
    assert secret not in str(dict(stored)) and stored["id"] == token_id

    short = reg.create_token("analyst", expires_in=timedelta(seconds=1))
    Registry.from_token(short, **opened)
    time.sleep(1.2)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (None, "", "Bearer", "floe_nothex_x", forged, short,
                "floe_0123456789abcdef_" + "x" * 43):
        with pytest.raises(Unauthenticated, match="a valid token is required"):
            Registry.from_token(bad, **opened)
    with pytest.raises(PermissionDenied, match="only ADMIN"):
        as_token.create_token("admin")
    model = as_token.get_model("m")
    reg.revoke_token(token_id)
    with pytest.raises(Unauthenticated, match="a valid token is required"):
        Registry.from_token(token, **opened)
    # a registry opened with it before is refused from its next call, whatever the call
    for call in (lambda: model.default.run(X[:2], function_name="predict"), as_token.show_models,
                 lambda: as_token.get_model("m"), lambda: as_token.sql("SHOW ROLES"),
                 lambda: model.holds("USAGE")):
        with pytest.raises(Unauthenticated, match="a valid token is required"):
            call()
    with pytest.raises(NotFound, match="no active token"):
        reg.revoke_token(token_id)
    assert reg.show_tokens().set_index("id").loc[token_id, "status"] == "revoked"
    with pytest.raises(NotFound, match="role GHOST does not exist"):
        reg.create_token("ghost")
    actions = reg.show_audit()["action"].tolist()
    assert actions.count("CREATE TOKEN") == 2 and actions.count("REVOKE TOKEN") == 1


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("12h", 43200),
                                                ("30d", 2592000), (" 2 h ", 7200)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0s", "10", "3w", "-1d", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match="write a positive number and a unit"):
        parse_duration(text)
