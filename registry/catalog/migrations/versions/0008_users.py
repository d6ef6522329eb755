"""Users: people (or services) that sign in with a token and act as one of the roles granted
to them. A token is bound to a user (the role chosen per request, among the user's) or, as
before, to one role (a service token): ``floe_token.role_name`` becomes nullable and
``user_name`` is added.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "floe_user",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("default_role", sa.String(255),
                  sa.ForeignKey("floe_role.name", ondelete="SET NULL"), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "floe_user_role",
        sa.Column("user_name", sa.String(255),
                  sa.ForeignKey("floe_user.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("role_name", sa.String(255),
                  sa.ForeignKey("floe_role.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_on", _TS, nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
    )
    with op.batch_alter_table("floe_token") as batch:  # SQLite rebuilds the table
        batch.alter_column("role_name", existing_type=sa.String(255), nullable=True)
        batch.add_column(sa.Column("user_name", sa.String(255), nullable=True))
        batch.create_foreign_key("fk_token_user", "floe_user", ["user_name"], ["name"],
                                 ondelete="CASCADE")
        batch.create_check_constraint(
            "ck_token_one_holder", "(role_name IS NULL) <> (user_name IS NULL)")


def downgrade() -> None:
    with op.batch_alter_table("floe_token") as batch:
        batch.drop_constraint("ck_token_one_holder", type_="check")
        batch.drop_constraint("fk_token_user", type_="foreignkey")
        batch.drop_column("user_name")
    op.execute("DELETE FROM floe_token WHERE role_name IS NULL")
    with op.batch_alter_table("floe_token") as batch:
        batch.alter_column("role_name", existing_type=sa.String(255), nullable=False)
    op.drop_table("floe_user_role")
    op.drop_table("floe_user")
