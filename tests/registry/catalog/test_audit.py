"""The audit log: one row per change, written with the change (or not at all), one per refused
attempt, readable by ADMIN only, and never changed: on PostgreSQL a trigger refuses UPDATE and
DELETE on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import AlreadyExists, NotFound, PermissionDenied, Registry
from tests.models import iris_classifier


def _log(reg: Registry, name: str, version: str):
    clf, X = iris_classifier()
    return reg.log_model(clf, model_name=name, version_name=version, sample_input_data=X[:5])


def test_every_change_and_every_refusal_is_recorded(
    reg: Registry, catalog_url: str, artifact_root: Path
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    v1 = _log(reg, "m", "v1")
    v2 = _log(reg, "m", "v2")
    m = reg.get_model("m")
    m.comment = "first"
    m.set_tag("stage", "dev")
    m.set_tag("stage", "prod")
    m.unset_tag("stage")
    v1.set_metric("acc", 0.9)
    v1.delete_metric("acc")
    v1.comment = "v1 notes"
    v1.set_alias("champion")
    v2.set_alias("champion")  # moves
    with pytest.raises(AlreadyExists):
        v2.set_alias("v1")  # refused by the catalog: no row
    m.default = "v2"
    v2.unset_alias("champion")
    reg.sql("CREATE ROLE analyst")
    reg.sql("GRANT USAGE ON MODEL m TO ROLE analyst")
    analyst = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root), role="analyst")
    with pytest.raises(PermissionDenied):
        analyst.get_model("m").set_tag("stage", "hacked")
    with pytest.raises(NotFound):
        analyst.delete_model("nope")  # nothing to refuse: no such model, no row
    reg.sql("REVOKE USAGE ON MODEL m FROM ROLE analyst")
    m.delete_version("v1")
    m.rename("renamed")
    reg.delete_model("renamed")
    reg.sql("DROP ROLE analyst")

    audit = reg.show_audit(since=started.isoformat())
    assert list(audit.columns) == ["at", "user", "role", "action", "object", "outcome",
                                   "before", "after"]
    assert audit["action"].tolist() == [
        "LOG VERSION", "LOG VERSION", "SET COMMENT", "SET TAG", "SET TAG", "UNSET TAG",
        "SET METRIC", "DELETE METRIC", "SET COMMENT", "SET ALIAS", "SET ALIAS", "SET DEFAULT",
        "UNSET ALIAS", "CREATE ROLE", "GRANT", "set a tag of", "REVOKE", "DELETE VERSION",
        "RENAME MODEL", "DELETE MODEL", "DROP ROLE",
    ]
    rows = audit.to_dict("records")
    assert all(datetime.fromisoformat(r["at"]).tzinfo is not None for r in rows)
    refused = [r for r in rows if r["outcome"] == "REFUSED"]
    assert [(r["role"], r["object"]) for r in refused] == [("ANALYST", "ML.REGISTRY.M")]
    assert {r["role"] for r in rows if r["outcome"] == "OK"} == {"ADMIN"}
    by_action = {(r["action"], r["before"], r["after"]) for r in rows}
    assert ("SET TAG", json.dumps({"STAGE": "dev"}), json.dumps({"STAGE": "prod"})) in by_action
    assert ("SET ALIAS", json.dumps({"CHAMPION": "V1"}), json.dumps({"CHAMPION": "V2"})) in by_action
    assert ("SET DEFAULT", json.dumps({"default": "V1"}), json.dumps({"default": "V2"})) in by_action
    assert rows[0]["object"] == "ML.REGISTRY.M version V1"
    assert json.loads(rows[0]["after"])["is_new_model"] is True
    assert rows[-3]["before"] == json.dumps({"name": "ML.REGISTRY.M"})
    assert reg.show_audit(since=datetime.now(UTC) + timedelta(hours=1)).empty
    with pytest.raises(PermissionDenied, match="only ADMIN"):
        Registry(catalog_url=catalog_url, artifact_root=str(artifact_root),
                 role="public").show_audit()


def test_a_model_s_rows_and_a_failed_change_leaves_no_row(reg: Registry) -> None:
    _log(reg, "a", "v1")
    mv = _log(reg, "b", "v1")
    mv.set_alias("prod")
    with pytest.raises(AlreadyExists):
        mv.set_alias("v1")  # an alias may not be a version name: refused, nothing recorded
    assert reg.show_audit(model="b")["action"].tolist() == ["LOG VERSION", "SET ALIAS"]


@pytest.mark.postgres
@pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)  # emptied afterwards
def test_postgres_refuses_changes_to_the_audit_log(catalog_url: str, artifact_root: Path) -> None:
    reg = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    _log(reg, "m", "v1")
    engine = sa.create_engine(catalog_url)
    try:
        for statement in ("UPDATE floe_audit SET role_name = 'X'", "DELETE FROM floe_audit"):
            with pytest.raises(sa.exc.DBAPIError, match="floe_audit is append-only"), \
                    engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert reg.show_audit()["role"].tolist() == ["ADMIN"]
