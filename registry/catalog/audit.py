"""The audit log (``floe_audit``): who changed what, with the before and after values, and
every attempt the authorization point refused. Rows are only ever appended: nothing here
updates or deletes one (and on PostgreSQL a trigger refuses both, migration 0006)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from registry.catalog.base import StoreBase, utcnow
from registry.catalog.tables import AuditRow
from registry.errors import CatalogError

__all__ = ["Actor", "AuditOps", "record"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log records it: the user and the role acted as."""

    user: str
    role: str


def record(
    s: Session, actor: Actor | None, action: str, obj: str, *,
    model_id: str | None = None, before: Any = None, after: Any = None, outcome: str = "OK",
) -> None:
    """Append one audit row in the write ``s``: it commits with the change, or not at all.
    ``actor`` None: a change Floe makes itself, not recorded."""
    if actor is None:
        return
    s.add(AuditRow(at=utcnow(), user_name=actor.user, role_name=actor.role, action=action,
                   object=obj, model_id=model_id, outcome=outcome, before=before, after=after))


class AuditOps(StoreBase):
    def record_refusal(self, actor: Actor, action: str, obj: str, model_id: str | None) -> None:
        """Append the audit row of an attempt the authorization point refused (its own
        transaction: the refused change has none). A catalog that cannot be written (a
        read-only replica) still answers the refusal: the row is then only logged."""
        try:
            with self.write() as s:
                record(s, actor, action, obj, model_id=model_id, outcome="REFUSED")
        except CatalogError as exc:
            log.warning("refused %s %s as %s; not recorded in the audit log: %s",
                        action, obj, actor.role, exc)

    def audit_rows(
        self, *, model_id: str | None = None, since: datetime | None = None
    ) -> list[AuditRow]:
        with self.read() as s:
            statement = select(AuditRow)
            if model_id is not None:
                statement = statement.where(AuditRow.model_id == model_id)
            if since is not None:
                statement = statement.where(col(AuditRow.at) >= since)
            return list(s.exec(statement.order_by(col(AuditRow.at), col(AuditRow.id))))
