"""Covering indexes for listing models: versions by model in creation order with their names,
aliases by model, and version names by id (SQLite then answers show_models from indexes).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_version_model_listing", "floe_version", ["model_id", "created_on", "id", "name"]
    )
    op.create_index("ix_version_id_name", "floe_version", ["id", "name"])
    op.create_index("ix_alias_model_listing", "floe_alias", ["model_id", "name", "version_id"])


def downgrade() -> None:
    op.drop_index("ix_alias_model_listing", table_name="floe_alias")
    op.drop_index("ix_version_id_name", table_name="floe_version")
    op.drop_index("ix_version_model_listing", table_name="floe_version")
