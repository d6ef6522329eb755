"""Per-version functions (name, target method, signature) and the version's task.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("floe_version") as batch:
        batch.add_column(
            sa.Column("task", sa.String(64), nullable=False, server_default="UNKNOWN")
        )
    op.create_table(
        "floe_function",
        sa.Column(
            "version_id",
            sa.String(32),
            sa.ForeignKey("floe_version.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("target_method", sa.String(255), nullable=False),
        sa.Column("is_partitioned", sa.Boolean, nullable=False),
        sa.Column("signature", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("floe_function")
    with op.batch_alter_table("floe_version") as batch:
        batch.drop_column("task")
