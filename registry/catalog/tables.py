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
    "CatalogRow",
    "FunctionRow",
    "MetricRow",
    "ModelRow",
    "ModelTagRow",
    "NamespaceRow",
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
}


class NamespaceRow(SQLModel, table=True):
    __tablename__ = "floe_namespace"
    __table_args__ = (sa.UniqueConstraint("database_name", "schema_name", name="uq_namespace"),)

    id: int | None = Field(default=None, primary_key=True)
    database_name: str = Field(sa_type=sa.String(255))
    schema_name: str = Field(sa_type=sa.String(255))
    created_on: datetime = Field(sa_type=_TS)


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
