"""Bearer tokens, each bound to one role: a salted sha256 of the secret, never the secret.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "floe_token",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("role_name", sa.String(255),
                  sa.ForeignKey("floe_role.name", ondelete="CASCADE"), nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("expires_on", _TS, nullable=True),
        sa.Column("revoked_on", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("floe_token")
