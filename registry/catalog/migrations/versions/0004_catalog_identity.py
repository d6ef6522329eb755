"""The catalog's id (one row of ``floe_catalog``): an artifact root records the catalog that
owns it, so ``floe gc`` of one catalog never removes the versions of another.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "floe_catalog",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("catalog_id", sa.String(32), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(
        table, [{"id": 1, "catalog_id": uuid.uuid4().hex, "created_on": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_table("floe_catalog")
