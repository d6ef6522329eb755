"""Roles and grants in the catalog: what each role holds, read in two small queries, and the
writes that change it. Deciding what a caller may do is ``registry.access.authorize``'s; this
module only stores and reads.

A role holds its own grants, PUBLIC's, and, transitively, those of every role granted to it
(``held_roles``). A model's owner is the role named on its row; USAGE and READ are rows of
``floe_model_grant``; CREATE MODEL and the FUTURE grants of a schema are rows of
``floe_schema_grant``, and a new model copies its schema's FUTURE grants when it is created
(``copy_future_grants``, in the transaction that creates it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from registry.catalog.audit import Actor, record
from registry.catalog.base import StoreBase, utcnow
from registry.catalog.tables import (
    ModelGrantRow,
    ModelRow,
    NamespaceRow,
    RoleGrantRow,
    RoleRow,
    SchemaGrantRow,
)
from registry.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from registry.identifiers import format_identifier

__all__ = [
    "ADMIN", "BUILTIN_ROLES", "FUTURE", "MODEL_PRIVILEGES", "ON_SCHEMA", "PUBLIC", "AccessOps",
    "copy_future_grants", "held_cte", "held_roles", "require_role", "visible_models",
]

ADMIN, PUBLIC = "ADMIN", "PUBLIC"
BUILTIN_ROLES = (ADMIN, PUBLIC)
# Model privileges in order: each includes those before it.
MODEL_PRIVILEGES = ("USAGE", "READ", "OWNERSHIP")
FUTURE, ON_SCHEMA = "FUTURE MODELS", "SCHEMA"

def held_cte(granted: Any) -> Any:
    """The roles whose names ``granted`` (a SELECT of one column) selects, PUBLIC, and every
    role granted to one of them, transitively (UNION: cycles end): a recursive CTE
    ``held(name)``, the one definition of what a role, or a user, holds."""
    held = select(sa.cast(sa.literal_column(f"'{PUBLIC}'"), sa.String(255)).label("name")) \
        .cte("held", recursive=True)
    return held.union(granted, select(RoleGrantRow.role_name).join(
        held, col(RoleGrantRow.grantee_name) == held.c.name))


_HELD = select(held_cte(select(sa.cast(sa.bindparam("role"), sa.String(255)))).c.name)


def held_roles(s: Session, role: str) -> list[str]:
    """``role`` and every role it holds, PUBLIC included, in one query."""
    return [name for (name,) in s.execute(_HELD, {"role": role})]


def copy_future_grants(s: Session, model: ModelRow) -> None:
    """In the transaction creating ``model``: the FUTURE grants of its schema, as model
    grants."""
    futures = s.exec(select(SchemaGrantRow).where(
        SchemaGrantRow.namespace_id == model.namespace_id, SchemaGrantRow.scope == FUTURE))
    for grant in futures:
        s.add(ModelGrantRow(model_id=model.id, role_name=grant.role_name,
                            privilege=grant.privilege, created_on=utcnow(),
                            granted_by=grant.granted_by))


def visible_models(s: Session, role: str) -> sa.ColumnElement[bool]:
    """A condition on ``floe_model`` rows: the models ``role`` holds any privilege on
    (every model, for a role that holds ADMIN)."""
    held = held_roles(s, role)
    if ADMIN in held:
        return sa.true()
    m = ModelRow.__table__  # type: ignore[attr-defined]
    g = ModelGrantRow.__table__  # type: ignore[attr-defined]
    return sa.or_(
        m.c.owner.in_(held),
        m.c.id.in_(sa.select(g.c.model_id).where(g.c.role_name.in_(held))),
    )


def _role_label(name: str) -> str:
    return format_identifier(name)


def require_role(s: Session, role: str) -> None:
    """``NotFound`` (naming the CREATE ROLE that fixes it) unless ``role`` exists."""
    if s.get(RoleRow, role) is None:
        raise NotFound(f"role {_role_label(role)} does not exist; create it first: "
                       f"CREATE ROLE {_role_label(role)}")


class AccessOps(StoreBase):
    # -- roles --------------------------------------------------------------------------------

    def find_role(self, name: str) -> RoleRow | None:
        with self.read() as s:
            return s.get(RoleRow, name)

    def list_roles(self) -> list[RoleRow]:
        with self.read() as s:
            return list(s.exec(select(RoleRow).order_by(col(RoleRow.name))))

    def create_role(
        self, name: str, *, by: str, if_not_exists: bool = False, actor: Actor | None = None
    ) -> bool:
        with self.write() as s:
            if s.get(RoleRow, name) is not None:
                if if_not_exists:
                    return False
                raise AlreadyExists(f"role {_role_label(name)} already exists; list roles: "
                                    "floe roles list")
            s.add(RoleRow(name=name, created_on=utcnow(), created_by=by))
            record(s, actor, "CREATE ROLE", _role_label(name), after={"role": name})
            return True

    def drop_role(
        self, name: str, *, if_exists: bool = False, actor: Actor | None = None
    ) -> bool:
        if name in BUILTIN_ROLES:
            raise InvalidInput(f"{name} is a built-in role and cannot be dropped")
        with self.write() as s:
            row = s.get(RoleRow, name)
            if row is None:
                if if_exists:
                    return False
                raise NotFound(f"role {_role_label(name)} does not exist; list roles: "
                               "floe roles list")
            owned = s.exec(select(ModelRow.name).where(ModelRow.owner == name)).first()
            owned_ns = s.exec(select(NamespaceRow.id).where(NamespaceRow.owner == name)).first()
            if owned is not None or owned_ns is not None:
                raise Conflict(
                    f"role {_role_label(name)} owns models or schemas; transfer them first "
                    f"(GRANT OWNERSHIP ON MODEL <model> TO ROLE <other role>), then drop it"
                )
            record(s, actor, "DROP ROLE", _role_label(name), before={"role": name})
            s.delete(row)  # its grants go with it (ON DELETE CASCADE)
            return True

    def grant_role(
        self, role: str, to_role: str, *, by: str, actor: Actor | None = None
    ) -> bool:
        """Grant ``role`` to ``to_role``; False when it was already granted."""
        with self.write() as s:
            for name in (role, to_role):
                require_role(s, name)
            if role == to_role or to_role in held_roles(s, role):
                raise InvalidInput(
                    f"granting role {_role_label(role)} to {_role_label(to_role)} would make a "
                    f"cycle ({_role_label(role)} already holds {_role_label(to_role)})"
                )
            if s.get(RoleGrantRow, (role, to_role)) is not None:
                return False
            s.add(RoleGrantRow(role_name=role, grantee_name=to_role, created_on=utcnow(),
                               granted_by=by))
            record(s, actor, "GRANT", f"ROLE {_role_label(role)}",
                        after={"role": role, "to_role": to_role})
            return True

    def revoke_role(self, role: str, from_role: str, *, actor: Actor | None = None) -> bool:
        with self.write() as s:
            row = s.get(RoleGrantRow, (role, from_role))
            if row is None:
                return False
            record(s, actor, "REVOKE", f"ROLE {_role_label(role)}",
                        before={"role": role, "from_role": from_role})
            s.delete(row)
            return True

    def role_grants(self) -> list[RoleGrantRow]:
        with self.read() as s:
            return list(s.exec(select(RoleGrantRow)))

    def held_roles(self, role: str) -> list[str]:
        with self.read() as s:
            return held_roles(s, role)

    # -- privileges held ----------------------------------------------------------------------

    def model_privilege(self, role: str, model_id: str) -> int:
        """What ``role`` holds on the model: 0 nothing, else 1 + the index in
        ``MODEL_PRIVILEGES`` of the highest privilege (3: OWNERSHIP, ADMIN's always)."""
        with self.read() as s:
            held = held_roles(s, role)
            if ADMIN in held:
                return len(MODEL_PRIVILEGES)
            owner = s.exec(select(ModelRow.owner).where(ModelRow.id == model_id)).first()
            if owner is None:
                return 0
            if owner in held:
                return len(MODEL_PRIVILEGES)
            granted = s.exec(
                select(ModelGrantRow.privilege).where(
                    ModelGrantRow.model_id == model_id, col(ModelGrantRow.role_name).in_(held)
                )
            ).all()
            return max((MODEL_PRIVILEGES.index(p) + 1 for p in granted), default=0)

    def schema_privileges(self, role: str, namespace_id: int) -> set[str]:
        """OWNERSHIP and/or CREATE MODEL, as ``role`` holds them on the namespace."""
        with self.read() as s:
            held = held_roles(s, role)
            ns = s.get(NamespaceRow, namespace_id)
            if ns is None:
                return set()
            if ADMIN in held or ns.owner in held:
                return {"OWNERSHIP", "CREATE MODEL"}
            granted = s.exec(
                select(SchemaGrantRow.privilege).where(
                    SchemaGrantRow.namespace_id == namespace_id, SchemaGrantRow.scope == ON_SCHEMA,
                    col(SchemaGrantRow.role_name).in_(held),
                )
            ).all()
            return set(granted)

    # -- grants -------------------------------------------------------------------------------

    def grant_on_models(
        self, model_ids: Sequence[str], privilege: str, role: str, *, by: str,
        actor: Actor | None = None, what: str = "",
    ) -> int:
        """USAGE or READ on each model (OWNERSHIP: the role becomes the owner); the number of
        grants that were new."""
        with self.write() as s:
            require_role(s, role)
            model_id = model_ids[0] if len(model_ids) == 1 else None
            if privilege == "OWNERSHIP":
                models = s.exec(select(ModelRow).where(col(ModelRow.id).in_(model_ids))
                                .with_for_update()).all()
                record(s, actor, "GRANT", what, model_id=model_id,
                            before={"owners": sorted({m.owner for m in models})},
                            after={"privilege": privilege, "role": role, "models": len(models)})
                for model in models:
                    model.owner = role
                    s.add(model)
                return len(models)
            existing = set(s.exec(select(ModelGrantRow.model_id).where(
                col(ModelGrantRow.model_id).in_(model_ids), ModelGrantRow.role_name == role,
                ModelGrantRow.privilege == privilege)))
            now = utcnow()
            new = [m for m in model_ids if m not in existing]
            for new_id in new:
                s.add(ModelGrantRow(model_id=new_id, role_name=role, privilege=privilege,
                                    created_on=now, granted_by=by))
            record(s, actor, "GRANT", what, model_id=model_id,
                        after={"privilege": privilege, "role": role, "models": len(new)})
            return len(new)

    def revoke_on_models(
        self, model_ids: Sequence[str], privilege: str, role: str, *,
        actor: Actor | None = None, what: str = "",
    ) -> int:
        if privilege == "OWNERSHIP":
            raise InvalidInput("OWNERSHIP cannot be revoked, only transferred: GRANT OWNERSHIP "
                               "ON MODEL <model> TO ROLE <new owner>")
        with self.write() as s:
            result = s.exec(delete(ModelGrantRow).where(
                col(ModelGrantRow.model_id).in_(model_ids), col(ModelGrantRow.role_name) == role,
                col(ModelGrantRow.privilege) == privilege))
            count = int(getattr(result, "rowcount", 0) or 0)
            record(s, actor, "REVOKE", what,
                        model_id=model_ids[0] if len(model_ids) == 1 else None,
                        before={"privilege": privilege, "role": role, "models": count})
            return count

    def grant_on_schema(
        self, namespace_id: int, privilege: str, scope: str, role: str, *, by: str,
        actor: Actor | None = None, what: str = "",
    ) -> bool:
        """CREATE MODEL on the schema (``scope`` SCHEMA) or a FUTURE MODELS grant."""
        with self.write() as s:
            require_role(s, role)
            key = (namespace_id, role, privilege, scope)
            if s.get(SchemaGrantRow, key) is not None:
                return False
            s.add(SchemaGrantRow(namespace_id=namespace_id, role_name=role, privilege=privilege,
                                 scope=scope, created_on=utcnow(), granted_by=by))
            record(s, actor, "GRANT", what,
                        after={"privilege": privilege, "scope": scope, "role": role})
            return True

    def revoke_on_schema(
        self, namespace_id: int, privilege: str, scope: str, role: str, *,
        actor: Actor | None = None, what: str = "",
    ) -> bool:
        with self.write() as s:
            row = s.get(SchemaGrantRow, (namespace_id, role, privilege, scope))
            if row is None:
                return False
            record(s, actor, "REVOKE", what,
                        before={"privilege": privilege, "scope": scope, "role": role})
            s.delete(row)
            return True

    def model_ids_in(self, namespace_id: int) -> list[str]:
        with self.read() as s:
            return list(s.exec(select(ModelRow.id).where(ModelRow.namespace_id == namespace_id)))

    # -- grants shown ---------------------------------------------------------------------------

    def grants_on_model(self, model_id: str) -> list[dict[str, Any]]:
        with self.read() as s:
            model = s.get(ModelRow, model_id)
            if model is None:
                return []
            rows = [dict(created_on=model.created_on, privilege="OWNERSHIP", model_id=model_id,
                         role=model.owner, granted_by=model.owner)]
            for g in s.exec(select(ModelGrantRow).where(ModelGrantRow.model_id == model_id)
                            .order_by(col(ModelGrantRow.privilege), col(ModelGrantRow.role_name))):
                rows.append(dict(created_on=g.created_on, privilege=g.privilege,
                                 model_id=model_id, role=g.role_name, granted_by=g.granted_by))
            return rows

    def grants_to_role(self, role: str) -> dict[str, list[Any]]:
        """Everything granted to ``role`` itself (not what it inherits): owned models, model
        grants, schema grants and roles."""
        with self.read() as s:
            return {
                "owned": list(s.exec(select(ModelRow).where(ModelRow.owner == role))),
                "models": list(s.exec(select(ModelGrantRow).where(ModelGrantRow.role_name == role))),
                "schemas": list(s.exec(select(SchemaGrantRow)
                                       .where(SchemaGrantRow.role_name == role))),
                "roles": list(s.exec(select(RoleGrantRow).where(RoleGrantRow.grantee_name == role))),
            }
