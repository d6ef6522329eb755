"""Access control: roles (ADMIN and PUBLIC to start), role grants, model and schema grants, the
owner role of each namespace and model, and the append-only audit log. Everything that existed
stays owned by ADMIN. On PostgreSQL a trigger refuses UPDATE and DELETE on the audit log.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _role(name: str, *, primary_key: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(255), sa.ForeignKey("floe_role.name", ondelete="CASCADE"),
                     primary_key=primary_key, nullable=False)


def upgrade() -> None:
    roles = op.create_table(
        "floe_role",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    now = datetime.now(UTC)
    op.bulk_insert(roles, [
        {"name": "ADMIN", "comment": "owns what is created without a role; holds every privilege",
         "created_on": now, "created_by": "floe"},
        {"name": "PUBLIC", "comment": "held by every caller", "created_on": now,
         "created_by": "floe"},
    ])
    op.create_table(
        "floe_role_grant",
        _role("role_name"), _role("grantee_name"),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_role_grant_grantee", "floe_role_grant", ["grantee_name", "role_name"])
    op.create_table(
        "floe_model_grant",
        sa.Column("model_id", sa.String(32), sa.ForeignKey("floe_model.id", ondelete="CASCADE"),
                  primary_key=True),
        _role("role_name"),
        sa.Column("privilege", sa.String(32), primary_key=True),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_model_grant_role", "floe_model_grant",
                    ["role_name", "model_id", "privilege"])
    op.create_table(
        "floe_schema_grant",
        sa.Column("namespace_id", sa.Integer,
                  sa.ForeignKey("floe_namespace.id", ondelete="CASCADE"), primary_key=True),
        _role("role_name"),
        sa.Column("privilege", sa.String(32), primary_key=True),
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "floe_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("role_name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.Text, nullable=False),
        sa.Column("model_id", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_at", "floe_audit", ["at"])
    op.create_index("ix_audit_model", "floe_audit", ["model_id", "at"])
    with op.batch_alter_table("floe_namespace") as batch:
        batch.add_column(
            sa.Column("owner", sa.String(255), nullable=False, server_default="ADMIN")
        )
    op.execute(sa.text("UPDATE floe_model SET owner = 'ADMIN'"))  # was the creating user's name
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(
            "CREATE FUNCTION floe_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'floe_audit is append-only: % refused', TG_OP; END $$"
        ))
        op.execute(sa.text(
            "CREATE TRIGGER floe_audit_append_only BEFORE UPDATE OR DELETE "
            "ON floe_audit FOR EACH STATEMENT EXECUTE FUNCTION floe_audit_append_only()"
        ))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP TRIGGER floe_audit_append_only ON floe_audit"))
        op.execute(sa.text("DROP FUNCTION floe_audit_append_only()"))
    with op.batch_alter_table("floe_namespace") as batch:
        batch.drop_column("owner")
    for table in ("floe_audit", "floe_schema_grant", "floe_model_grant", "floe_role_grant",
                  "floe_role"):
        op.drop_table(table)
