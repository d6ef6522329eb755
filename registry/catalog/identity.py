"""Who signs in (migration 0008): users, the roles granted to them, and bearer tokens. Deciding
what a caller may do is ``registry.access.authorize``'s; this module only stores and reads.

A token is bound to a user, who acts per request as any role they may use (``user_roles``:
the roles granted to them, every role those hold, and PUBLIC), or, as a service token, to
exactly one role. Only a salted sha256 of a token's secret is stored.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.catalog.access import PUBLIC, held_cte, require_role
from registry.catalog.audit import Actor, record
from registry.catalog.base import StoreBase, as_utc, utcnow
from registry.catalog.tables import TokenRow, UserRoleRow, UserRow
from registry.errors import AlreadyExists, InvalidInput, NotFound
from registry.identifiers import format_identifier

__all__ = ["IdentityOps", "user_roles"]

_USER_ROLES = select(held_cte(  # the roles a user may act as
    select(UserRoleRow.role_name).where(col(UserRoleRow.user_name) == sa.bindparam("user"))
).c.name)


def _sign_in_query() -> sa.Select[tuple[TokenRow, str | None, str | None]]:
    """A token's row with its user's default role, once per role the user may act as
    (one row, role NULL, for a service token)."""
    token: sa.BindParameter[str] = sa.bindparam("token")
    held = held_cte(select(UserRoleRow.role_name)
                 .join(TokenRow, col(TokenRow.user_name) == col(UserRoleRow.user_name))
                 .where(col(TokenRow.id) == token))
    return (select(TokenRow, UserRow.default_role, held.c.name)  # type: ignore[return-value]
            .outerjoin(UserRow, col(UserRow.name) == col(TokenRow.user_name))
            .outerjoin(held, col(TokenRow.user_name).is_not(None))
            .where(col(TokenRow.id) == token))


_SIGN_IN = _sign_in_query()


def user_roles(s: Session, user: str) -> list[str]:
    """The roles ``user`` may act as, in one query."""
    return [name for (name,) in s.execute(_USER_ROLES, {"user": user})]


def _label(name: str) -> str:
    return format_identifier(name)


def _missing_user(name: str) -> NotFound:
    return NotFound(f"user {_label(name)} does not exist; list users: floe users list")


def _in_utc(row: TokenRow) -> TokenRow:
    row.expires_on = as_utc(row.expires_on) if row.expires_on else None
    row.revoked_on = as_utc(row.revoked_on) if row.revoked_on else None
    return row


class IdentityOps(StoreBase):
    # -- users --------------------------------------------------------------------------------

    def find_user(self, name: str) -> UserRow | None:
        with self.read() as s:
            return s.get(UserRow, name)

    def list_users(self) -> list[tuple[UserRow, list[str]]]:
        """Every user, by name, with the roles granted to them directly."""
        with self.read() as s:
            granted: dict[str, list[str]] = {}
            for g in s.exec(select(UserRoleRow).order_by(col(UserRoleRow.role_name))):
                granted.setdefault(g.user_name, []).append(g.role_name)
            users = s.exec(select(UserRow).order_by(col(UserRow.name))).all()
            return [(u, granted.get(u.name, [])) for u in users]

    def create_user(
        self, name: str, *, default_role: str | None, by: str, if_not_exists: bool = False,
        actor: Actor | None = None,
    ) -> bool:
        """Create the user; a ``default_role`` is granted to them too (as Snowflake needs a
        grant for it to take effect, Floe makes both in one step)."""
        with self.write() as s:
            if s.get(UserRow, name) is not None:
                if if_not_exists:
                    return False
                raise AlreadyExists(f"user {_label(name)} already exists; list users: "
                                    "floe users list")
            if default_role is not None:
                require_role(s, default_role)
            s.add(UserRow(name=name, default_role=default_role, created_on=utcnow(),
                          created_by=by))
            s.flush()
            if default_role is not None and default_role != PUBLIC:
                s.add(UserRoleRow(user_name=name, role_name=default_role, created_on=utcnow(),
                                  granted_by=by))
            record(s, actor, "CREATE USER", f"USER {_label(name)}",
                   after={"user": name, "default_role": default_role})
            return True

    def drop_user(self, name: str, *, if_exists: bool = False, actor: Actor | None = None) -> bool:
        """Drop the user: their role grants and tokens go with them."""
        with self.write() as s:
            row = s.get(UserRow, name)
            if row is None:
                if if_exists:
                    return False
                raise _missing_user(name)
            record(s, actor, "DROP USER", f"USER {_label(name)}",
                   before={"user": name, "default_role": row.default_role})
            s.delete(row)  # grants and tokens: ON DELETE CASCADE
            return True

    def grant_role_to_user(
        self, role: str, user: str, *, by: str, actor: Actor | None = None
    ) -> bool:
        """Grant ``role`` to ``user``; False when it was already granted."""
        with self.write() as s:
            require_role(s, role)
            if s.get(UserRow, user) is None:
                raise _missing_user(user)
            if s.get(UserRoleRow, (user, role)) is not None:
                return False
            s.add(UserRoleRow(user_name=user, role_name=role, created_on=utcnow(), granted_by=by))
            record(s, actor, "GRANT", f"ROLE {_label(role)}", after={"role": role, "to_user": user})
            return True

    def revoke_role_from_user(self, role: str, user: str, *, actor: Actor | None = None) -> bool:
        with self.write() as s:
            row = s.get(UserRoleRow, (user, role))
            if row is None:
                return False
            record(s, actor, "REVOKE", f"ROLE {_label(role)}",
                   before={"role": role, "from_user": user})
            s.delete(row)
            return True

    def user_role_grants(self, user: str) -> list[UserRoleRow]:
        """The roles granted to ``user`` directly."""
        with self.read() as s:
            return list(s.exec(select(UserRoleRow).where(UserRoleRow.user_name == user)
                               .order_by(col(UserRoleRow.role_name))))

    def user_roles(self, user: str) -> list[str]:
        with self.read() as s:
            return user_roles(s, user)

    # -- tokens -------------------------------------------------------------------------------

    def add_token(
        self, token_id: str, salt: str, digest: str, *, role: str | None = None,
        user: str | None = None, expires_on: datetime | None, by: str,
        actor: Actor | None = None,
    ) -> TokenRow:
        """Store a token bound to ``role`` (a service token) or to ``user``: exactly one."""
        if (role is None) == (user is None):
            raise InvalidInput("a token is bound to a role or to a user: pass one of them")
        with self.write() as s:
            if role is not None:
                require_role(s, role)
            elif s.get(UserRow, user) is None:
                raise _missing_user(str(user))
            row = TokenRow(id=token_id, role_name=role, user_name=user, salt=salt,
                           digest=digest, created_on=utcnow(), created_by=by,
                           expires_on=expires_on)
            s.add(row)
            record(s, actor, "CREATE TOKEN", f"TOKEN {token_id}",
                   after={"role": role, "user": user,
                          "expires_on": expires_on.isoformat() if expires_on else None})
            return row

    def find_token(self, token_id: str) -> TokenRow | None:
        """The token's row, its times in UTC."""
        with self.read() as s:
            row = s.get(TokenRow, token_id)
        return _in_utc(row) if row is not None else None

    def token_and_roles(self, token_id: str) -> tuple[TokenRow | None, list[str], str | None]:
        """The token's row (times in UTC), the roles its user may act as (empty for a
        service token) and its user's default role, in one statement (every request to a
        registry server signs in with it)."""
        with self.read() as s:
            rows = s.execute(_SIGN_IN, {"token": token_id}).all()
        if not rows:
            return None, [], None
        token = rows[0][0]
        if token.user_name is None:
            return _in_utc(token), [], None
        return _in_utc(token), sorted({role for _, _, role in rows if role is not None}), rows[0][1]

    def list_tokens(self) -> list[TokenRow]:
        with self.read() as s:
            return list(s.exec(select(TokenRow).order_by(col(TokenRow.created_on))))

    def revoke_token(self, token_id: str, *, actor: Actor | None = None) -> bool:
        """Revoke the token (its row stays, for the record); False when it was unknown or
        already revoked."""
        with self.write() as s:
            row = s.get(TokenRow, token_id)
            if row is None or row.revoked_on is not None:
                return False
            row.revoked_on = utcnow()
            s.add(row)
            record(s, actor, "REVOKE TOKEN", f"TOKEN {token_id}",
                   before={"role": row.role_name, "user": row.user_name})
            return True
