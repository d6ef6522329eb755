"""The registry server's access-control routes: statements, privileges held, the audit log,
tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from registry.server.replies import FRAME, frame_reply
from registry.server.signin import API, Gate, Signed, SignedRoute

__all__ = ["router"]


class SqlStatement(BaseModel):
    statement: str


class NewToken(BaseModel):
    user: str | None = None
    role: str | None = None
    expires_in: str | None = None


def router(gate: Gate) -> APIRouter:
    """The access routes, signing in through ``gate``."""
    router = APIRouter(route_class=SignedRoute)

    @router.get(f"{API}/models/{{model}}/privileges/{{privilege}}", tags=["access"])
    def holds(who: Signed, model: str, privilege: str) -> dict[str, bool]:
        """Whether the role holds ``privilege`` (USAGE, READ, OWNERSHIP) on the model."""
        _, m = gate.locate(who, model)
        return {"held": m.holds(privilege)}

    @router.post(f"{API}/sql", tags=["access"], responses=FRAME)
    def sql(who: Signed, body: SqlStatement) -> Any:
        """One access-control statement (GRANT, REVOKE, CREATE/DROP ROLE|USER, SHOW ...). A
        model statement (SHOW MODELS, ALTER MODEL, GET, ...) is refused: a client runs those
        through the model routes, so that GET writes on the client's disk, never here."""
        reg = gate.open(who)
        return frame_reply(who.request, reg._local().sql(body.statement))

    @router.get(f"{API}/audit", tags=["access"], responses=FRAME)
    def audit(who: Signed, model: str | None = None, since: str | None = None) -> Any:
        reg = gate.open(who)
        frame = reg.show_audit(model=model, since=since)
        return frame_reply(who.request, frame)

    @router.get(f"{API}/tokens", tags=["access"], responses=FRAME)
    def list_tokens(who: Signed) -> Any:
        return frame_reply(who.request, gate.open(who).show_tokens())

    @router.post(f"{API}/tokens", tags=["access"])
    def create_token(who: Signed, body: NewToken) -> dict[str, str]:
        """A new token, shown this once."""
        reg = gate.open(who)
        return {"token": reg.create_token(body.role, user=body.user, expires_in=body.expires_in)}

    @router.delete(f"{API}/tokens/{{token_id}}", tags=["access"])
    def revoke_token(who: Signed, token_id: str) -> dict[str, str]:
        gate.open(who).revoke_token(token_id)
        return {"revoked": token_id}

    return router
