"""The catalog's tables (SQLModel). Schema changes go through ``migrations/``, never ``create_all``.

Every unique rule lives here as a database constraint, so concurrent writers cannot break it:
one model name per namespace, one version name and one alias name per model.
Artifacts are keyed by the version's immutable ``id``: a rename or a move to another
namespace edits rows here and never touches storage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = [
    "FIELD_LABELS",
    "TABLE_LABELS",
    "AliasRow",
    "AuditRow",
    "CatalogRow",
    "FunctionRow",
    "MetricRow",
    "ModelGrantRow",
    "ModelRow",
    "ModelTagRow",
    "NamespaceRow",
    "RoleGrantRow",
    "RoleRow",
    "SchemaGrantRow",
    "TokenRow",
    "VersionRow",
    "metadata",
]

metadata = SQLModel.metadata
_TS = sa.DateTime(timezone=True)

# What a user calls each table's row and each column that holds user text: errors name these.
TABLE_LABELS = {
    "floe_namespace": "namespace",
    "floe_model": "model",
    "floe_version": "model version",
    "floe_alias": "alias",
    "floe_metric": "metric",
    "floe_model_tag": "tag",
    "floe_function": "function",
    "floe_role": "role",
    "floe_role_grant": "role grant",
    "floe_model_grant": "grant",
    "floe_schema_grant": "grant",
    "floe_audit": "audit record",
    "floe_token": "token",
}
FIELD_LABELS = {
    ("floe_namespace", "database_name"): "database name",
    ("floe_namespace", "schema_name"): "schema name",
    ("floe_model", "name"): "model name",
    ("floe_model", "comment"): "model comment",
    ("floe_model", "owner"): "model owner",
    ("floe_version", "name"): "version name",
    ("floe_version", "comment"): "version comment",
    ("floe_version", "created_by"): "version creator (created_by)",
    ("floe_alias", "name"): "alias name",
    ("floe_metric", "name"): "metric name",
    ("floe_model_tag", "name"): "tag name",
    ("floe_model_tag", "value"): "tag value",
    ("floe_function", "name"): "function name",
    ("floe_function", "target_method"): "function target method",
    ("floe_role", "name"): "role name",
    ("floe_role", "comment"): "role comment",
}


class NamespaceRow(SQLModel, table=True):
    __tablename__ = "floe_namespace"
    __table_args__ = (sa.UniqueConstraint("database_name", "schema_name", name="uq_namespace"),)

    id: int | None = Field(default=None, primary_key=True)
    database_name: str = Field(sa_type=sa.String(255))
    schema_name: str = Field(sa_type=sa.String(255))
    created_on: datetime = Field(sa_type=_TS)
    # The role that owns the namespace (migration 0006): it may grant on it.
    owner: str = Field(default="ADMIN", sa_column_kwargs={"server_default": "ADMIN"},
                       sa_type=sa.String(255))


class ModelRow(SQLModel, table=True):
    __tablename__ = "floe_model"
    __table_args__ = (sa.UniqueConstraint("namespace_id", "name", name="uq_model_name"),)

    id: str = Field(primary_key=True, sa_type=sa.String(32))
    namespace_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("floe_namespace.id", ondelete="RESTRICT"), nullable=False
        )
    )
    name: str = Field(sa_type=sa.String(255))
    comment: str | None = Field(default=None, sa_type=sa.Text)
    owner: str = Field(sa_type=sa.String(255))
    created_on: datetime = Field(sa_type=_TS)
    # The version that DEFAULT resolves to. Enforced by the store (every write goes through
    # it) rather than a foreign key, which would make model and version a reference cycle.
    default_version_id: str | None = Field(default=None, sa_type=sa.String(32))
    # What show_models lists, as it lists it, rewritten by every write that changes the
    # model's versions, aliases or default (catalog/listing.py): one table to read, no joins.
    listing_versions: str = Field(
        default="[]", sa_column_kwargs={"server_default": "[]"}, sa_type=sa.Text
    )
    listing_aliases: str = Field(
        default="{}", sa_column_kwargs={"server_default": "{}"}, sa_type=sa.Text
    )
    listing_default: str | None = Field(default=None, sa_type=sa.Text)


class VersionRow(SQLModel, table=True):
    __tablename__ = "floe_version"
    __table_args__ = (
        sa.UniqueConstraint("model_id", "name", name="uq_version_name"),
        sa.Index("ix_version_model_created", "model_id", "created_on"),
        sa.Index("ix_version_model_listing", "model_id", "created_on", "id", "name"),
        sa.Index("ix_version_id_name", "id", "name"),
    )

    id: str = Field(primary_key=True, sa_type=sa.String(32))
    model_id: str = Field(
        sa_column=sa.Column(
            sa.String(32), sa.ForeignKey("floe_model.id", ondelete="CASCADE"), nullable=False
        )
    )
    name: str = Field(sa_type=sa.String(255))
    comment: str | None = Field(default=None, sa_type=sa.Text)
    created_on: datetime = Field(sa_type=_TS)
    created_by: str = Field(sa_type=sa.String(255))
    framework: str = Field(sa_type=sa.String(64))
    task: str = Field(default="UNKNOWN", sa_type=sa.String(64))
    manifest_sha256: str = Field(sa_type=sa.String(64))
    size_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    user_data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class AliasRow(SQLModel, table=True):
    __tablename__ = "floe_alias"
    __table_args__ = (sa.Index("ix_alias_model_listing", "model_id", "name", "version_id"),)

    model_id: str = Field(
        sa_column=sa.Column(
            sa.String(32),
            sa.ForeignKey("floe_model.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    name: str = Field(primary_key=True, sa_type=sa.String(255))
    version_id: str = Field(
        sa_column=sa.Column(
            sa.String(32), sa.ForeignKey("floe_version.id", ondelete="CASCADE"), nullable=False
        )
    )


class MetricRow(SQLModel, table=True):
    __tablename__ = "floe_metric"

    version_id: str = Field(
        sa_column=sa.Column(
            sa.String(32),
            sa.ForeignKey("floe_version.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    name: str = Field(primary_key=True, sa_type=sa.String(255))
    value: Any = Field(default=None, sa_type=sa.JSON, nullable=True)


class ModelTagRow(SQLModel, table=True):
    __tablename__ = "floe_model_tag"

    model_id: str = Field(
        sa_column=sa.Column(
            sa.String(32),
            sa.ForeignKey("floe_model.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    name: str = Field(primary_key=True, sa_type=sa.String(255))
    value: str = Field(sa_type=sa.Text)


class FunctionRow(SQLModel, table=True):
    """One callable function of a version (added by migration 0002)."""

    __tablename__ = "floe_function"

    version_id: str = Field(
        sa_column=sa.Column(
            sa.String(32),
            sa.ForeignKey("floe_version.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    name: str = Field(primary_key=True, sa_type=sa.String(255))
    target_method: str = Field(sa_type=sa.String(255))
    is_partitioned: bool = Field(default=False)
    signature: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class CatalogRow(SQLModel, table=True):
    """The catalog's own id, one row (added by migration 0004): an artifact root records the
    id of the catalog that owns it, so a second catalog cannot share (and gc) it."""

    __tablename__ = "floe_catalog"

    id: int = Field(default=1, primary_key=True)
    catalog_id: str = Field(sa_type=sa.String(32))
    created_on: datetime = Field(sa_type=_TS)


# -- access control (migration 0006) --------------------------------------------------------------
# Roles are keyed by name (roles are never renamed). A model's and a namespace's owner is the
# ``owner`` role name on its row; every other privilege is a grant row. ``ON ALL MODELS`` writes
# one model grant per model at grant time; ``ON FUTURE MODELS`` is a schema grant that each new
# model of the schema copies into model grants when it is created (as Snowflake does).


def _role_fk(*, primary_key: bool = False) -> Any:
    return Field(
        sa_column=sa.Column(
            sa.String(255), sa.ForeignKey("floe_role.name", ondelete="CASCADE"),
            primary_key=primary_key, nullable=False,
        )
    )


class RoleRow(SQLModel, table=True):
    __tablename__ = "floe_role"

    name: str = Field(primary_key=True, sa_type=sa.String(255))
    comment: str | None = Field(default=None, sa_type=sa.Text)
    created_on: datetime = Field(sa_type=_TS)
    created_by: str = Field(sa_type=sa.String(255))


class RoleGrantRow(SQLModel, table=True):
    """Role ``role_name`` granted to role ``grantee_name``: the grantee holds what it holds."""

    __tablename__ = "floe_role_grant"
    __table_args__ = (sa.Index("ix_role_grant_grantee", "grantee_name", "role_name"),)

    role_name: str = _role_fk(primary_key=True)
    grantee_name: str = _role_fk(primary_key=True)
    created_on: datetime = Field(sa_type=_TS)
    granted_by: str = Field(sa_type=sa.String(255))


class ModelGrantRow(SQLModel, table=True):
    """USAGE or READ on one model, held by one role."""

    __tablename__ = "floe_model_grant"
    __table_args__ = (sa.Index("ix_model_grant_role", "role_name", "model_id", "privilege"),)

    model_id: str = Field(
        sa_column=sa.Column(
            sa.String(32), sa.ForeignKey("floe_model.id", ondelete="CASCADE"), primary_key=True
        )
    )
    role_name: str = _role_fk(primary_key=True)
    privilege: str = Field(primary_key=True, sa_type=sa.String(32))
    created_on: datetime = Field(sa_type=_TS)
    granted_by: str = Field(sa_type=sa.String(255))


class SchemaGrantRow(SQLModel, table=True):
    """On a namespace: CREATE MODEL (``scope`` SCHEMA), or USAGE/READ on the models created in
    it later (``scope`` FUTURE MODELS)."""

    __tablename__ = "floe_schema_grant"

    namespace_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("floe_namespace.id", ondelete="CASCADE"), primary_key=True
        )
    )
    role_name: str = _role_fk(primary_key=True)
    privilege: str = Field(primary_key=True, sa_type=sa.String(32))
    scope: str = Field(primary_key=True, sa_type=sa.String(32))
    created_on: datetime = Field(sa_type=_TS)
    granted_by: str = Field(sa_type=sa.String(255))


class AuditRow(SQLModel, table=True):
    """One change, or one refused attempt. Append-only: nothing in Floe updates or deletes it
    (and on PostgreSQL a trigger refuses both)."""

    __tablename__ = "floe_audit"
    __table_args__ = (sa.Index("ix_audit_at", "at"), sa.Index("ix_audit_model", "model_id", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=_TS)
    user_name: str = Field(sa_type=sa.String(255))
    role_name: str = Field(sa_type=sa.String(255))
    action: str = Field(sa_type=sa.String(64))
    object: str = Field(sa_type=sa.Text)
    model_id: str | None = Field(default=None, sa_type=sa.String(32))
    outcome: str = Field(default="OK", sa_type=sa.String(16))
    before: Any = Field(default=None, sa_type=sa.JSON, nullable=True)
    after: Any = Field(default=None, sa_type=sa.JSON, nullable=True)


class UserRow(SQLModel, table=True):
    """Someone who signs in with a token (migration 0008) and acts as one of the roles granted
    to them: the one a request names, else ``default_role``, else PUBLIC."""

    __tablename__ = "floe_user"

    name: str = Field(primary_key=True, sa_type=sa.String(255))
    default_role: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.String(255), sa.ForeignKey("floe_role.name", ondelete="SET NULL"),
                            nullable=True),
    )
    comment: str | None = Field(default=None, sa_type=sa.Text)
    created_on: datetime = Field(sa_type=_TS)
    created_by: str = Field(sa_type=sa.String(255))


class UserRoleRow(SQLModel, table=True):
    """Role ``role_name`` granted to user ``user_name``: the user may act as it, and as every
    role it holds."""

    __tablename__ = "floe_user_role"

    user_name: str = Field(
        sa_column=sa.Column(sa.String(255), sa.ForeignKey("floe_user.name", ondelete="CASCADE"),
                            primary_key=True)
    )
    role_name: str = _role_fk(primary_key=True)
    created_on: datetime = Field(sa_type=_TS)
    granted_by: str = Field(sa_type=sa.String(255))


class TokenRow(SQLModel, table=True):
    """A bearer token (migration 0007), bound to one user (who picks a role per request, among
    theirs; migration 0008) or to one role (a service token). Only a salted sha256 of its
    secret is kept: the token itself is shown once, when it is created."""

    __tablename__ = "floe_token"
    __table_args__ = (
        sa.CheckConstraint("(role_name IS NULL) <> (user_name IS NULL)",
                           name="ck_token_one_holder"),
    )

    id: str = Field(primary_key=True, sa_type=sa.String(16))
    role_name: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.String(255), sa.ForeignKey("floe_role.name", ondelete="CASCADE"),
                            nullable=True),
    )
    user_name: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.String(255),
                            sa.ForeignKey("floe_user.name", ondelete="CASCADE",
                                          name="fk_token_user"), nullable=True),
    )
    salt: str = Field(sa_type=sa.String(32))
    digest: str = Field(sa_type=sa.String(64))
    created_on: datetime = Field(sa_type=_TS)
    created_by: str = Field(sa_type=sa.String(255))
    expires_on: datetime | None = Field(default=None, sa_type=_TS)
    revoked_on: datetime | None = Field(default=None, sa_type=_TS)
