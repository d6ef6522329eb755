"""Namespaces, models, versions, aliases, metrics and model tags.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "floe_namespace",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("database_name", sa.String(255), nullable=False),
        sa.Column("schema_name", sa.String(255), nullable=False),
        sa.Column("created_on", _TS, nullable=False),
        sa.UniqueConstraint("database_name", "schema_name", name="uq_namespace"),
    )
    op.create_table(
        "floe_model",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "namespace_id",
            sa.Integer,
            sa.ForeignKey("floe_namespace.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("default_version_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("namespace_id", "name", name="uq_model_name"),
    )
    op.create_table(
        "floe_version",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "model_id",
            sa.String(32),
            sa.ForeignKey("floe_model.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("framework", sa.String(64), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("user_data", sa.JSON, nullable=False),
        sa.UniqueConstraint("model_id", "name", name="uq_version_name"),
    )
    op.create_index("ix_version_model_created", "floe_version", ["model_id", "created_on"])
    op.create_table(
        "floe_alias",
        sa.Column(
            "model_id",
            sa.String(32),
            sa.ForeignKey("floe_model.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column(
            "version_id",
            sa.String(32),
            sa.ForeignKey("floe_version.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_table(
        "floe_metric",
        sa.Column(
            "version_id",
            sa.String(32),
            sa.ForeignKey("floe_version.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
    )
    op.create_table(
        "floe_model_tag",
        sa.Column(
            "model_id",
            sa.String(32),
            sa.ForeignKey("floe_model.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("floe_model_tag", "floe_metric", "floe_alias"):
        op.drop_table(table)
    op.drop_index("ix_version_model_created", table_name="floe_version")
    for table in ("floe_version", "floe_model", "floe_namespace"):
        op.drop_table(table)
