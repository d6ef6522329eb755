"""Alembic migrations: the schema they build equals the tables, and old catalogs upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from registry import Registry
from registry.catalog.engine import create_catalog_engine, head_revision, migrate
from registry.catalog.tables import metadata


def test_migrated_schema_matches_the_tables(catalog_url: str, artifact_root: Path) -> None:
    Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    engine = create_catalog_engine(catalog_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert diff == []
    assert revision == head_revision()


def test_catalog_made_at_the_first_migration_upgrades_without_loss(
    tmp_path: Path, artifact_root: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_catalog_engine(url)
    migrate(engine, "0001")
    now = datetime.now(UTC).replace(tzinfo=None)  # UTC, as SQLAlchemy writes it on SQLite
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO floe_namespace (id, database_name, schema_name, created_on) "
            "VALUES (1, 'ML', 'REGISTRY', :t)"), {"t": now})
        conn.execute(sa.text(
            "INSERT INTO floe_model (id, namespace_id, name, comment, owner, created_on, "
            "default_version_id) VALUES ('m1', 1, 'OLD', 'kept', 'alice', :t, 'v1')"), {"t": now})
        conn.execute(sa.text(
            "INSERT INTO floe_version (id, model_id, name, comment, created_on, created_by, "
            "framework, manifest_sha256, size_bytes, user_data) VALUES ('v1', 'm1', 'V1', "
            "'first', :t, 'alice', 'sklearn', :h, 10, '{}')"), {"t": now, "h": "0" * 64})
        conn.execute(sa.text(
            "INSERT INTO floe_alias (model_id, name, version_id) VALUES ('m1', 'PROD', 'v1')"))
        conn.execute(sa.text(
            "INSERT INTO floe_metric (version_id, name, value) VALUES ('v1', 'acc', '0.9')"))
        conn.execute(sa.text(
            "INSERT INTO floe_model_tag (model_id, name, value) VALUES ('m1', 'TEAM', 'risk')"))
        assert not sa.inspect(conn).has_table("floe_function")
    engine.dispose()

    reg = Registry(catalog_url=url, artifact_root=str(artifact_root))  # migrates to head
    m = reg.get_model("old")
    assert (m.comment, m.show_tags()) == ("kept", {"TEAM": "risk"})
    mv = m.version("prod")
    assert (mv.version_name, mv.comment, mv.show_metrics()) == ("V1", "first", {"acc": 0.9})
    assert m.default == mv
    listed = reg.show_models().iloc[0]  # migration 0005 summarised the old rows
    assert listed["owner"] == "ADMIN"  # migration 0006: what existed stays the admin role's
    assert reg.show_grants(model="old")[["privilege", "grantee_name"]].values.tolist() == [
        ["OWNERSHIP", "ADMIN"]]
    assert reg.show_roles()["name"].tolist() == ["ADMIN", "PUBLIC"]
    assert (listed["versions"], listed["aliases"], listed["default_version_name"]) == (
        '["V1"]', '{"PROD": "V1"}', "V1"
    )
    assert mv.show_functions() == []
    versions = m.show_versions()
    assert '"task": "UNKNOWN"' in versions["metadata"][0]
    engine = create_catalog_engine(url)
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("floe_function")
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
    engine.dispose()


def test_a_service_token_made_before_users_still_signs_in(
    unmigrated_catalog_url: str, artifact_root: Path
) -> None:
    """Migration 0008 rebuilds floe_token (on SQLite, a copy): a 0007 token keeps working,
    bound to its role, and a token with neither a role nor a user is refused by the catalog."""
    from registry.access.tokens import new_token

    catalog_url = unmigrated_catalog_url
    engine = create_catalog_engine(catalog_url)
    migrate(engine, "0007")
    with engine.connect() as conn:
        assert "user_name" not in {c["name"] for c in sa.inspect(conn).get_columns("floe_token")}
    made = new_token()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO floe_role (name, created_on, created_by) "
                             "VALUES ('SVC', :t, 'test')"), {"t": datetime.now(UTC)})
        conn.execute(sa.text(
            "INSERT INTO floe_token (id, role_name, salt, digest, created_on, created_by) "
            "VALUES (:id, 'SVC', :salt, :digest, :t, 'test')"),
            {"id": made.id, "salt": made.salt, "digest": made.digest, "t": datetime.now(UTC)})
    migrate(engine, "head")
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text(
            "INSERT INTO floe_token (id, salt, digest, created_on, created_by) "
            "VALUES ('0123456789abcdef', 's', 'd', :t, 'test')"), {"t": datetime.now(UTC)})
    engine.dispose()
    opened = {"catalog_url": catalog_url, "artifact_root": str(artifact_root)}
    assert Registry.from_token(made.token, **opened).role == "SVC"
    tokens = Registry(**opened).show_tokens()
    assert tokens[["user", "role", "status"]].values.tolist() == [[None, "SVC", "active"]]
