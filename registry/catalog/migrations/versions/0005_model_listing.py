"""Each model's listing summary on its own row (versions, aliases and default as show_models
lists them; see catalog/listing.py), built here for the models that exist.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registry.catalog.listing import refresh_listings

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("floe_model") as batch:
        batch.add_column(sa.Column("listing_versions", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("listing_aliases", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("listing_default", sa.Text, nullable=True))
    refresh_listings(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("floe_model") as batch:
        batch.drop_column("listing_default")
        batch.drop_column("listing_aliases")
        batch.drop_column("listing_versions")
