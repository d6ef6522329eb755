"""The registry server's version routes: versions, their comments, metrics, aliases, functions
and files (sent checked, for a client that runs, loads or exports the version)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from registry.server.replies import FRAME, frame_reply, info_json, reply, version_details
from registry.server.signin import API, Gate, Signed, SignedRoute

__all__ = ["router"]



class Comment(BaseModel):
    comment: str | None


class MetricValue(BaseModel):
    value: Any


def router(gate: Gate) -> APIRouter:
    """The versions routes, signing in through ``gate``."""
    router = APIRouter(route_class=SignedRoute)

    @router.get(f"{API}/models/{{model}}/versions", tags=["versions"], responses=FRAME)
    def list_versions(who: Signed, model: str) -> Any:
        _, m = gate.locate(who, model)
        return frame_reply(who.request, m.show_versions())

    @router.get(f"{API}/models/{{model}}/versions/{{version}}", tags=["versions"])
    def show_version(who: Signed, model: str, version: str) -> Any:
        _, m = gate.locate(who, model)
        return reply(version_details(m.version(version), m.holds("READ")))

    @router.delete(f"{API}/models/{{model}}/versions/{{version}}", tags=["versions"])
    def delete_version(who: Signed, model: str, version: str) -> dict[str, str]:
        _, m = gate.locate(who, model)
        label = m.fully_qualified_name
        m.delete_version(version)  # OWNERSHIP is checked before the version is looked up
        return {"deleted": f"{label} version {version}"}

    @router.put(f"{API}/models/{{model}}/versions/{{version}}/comment", tags=["versions"])
    def set_version_comment(who: Signed, model: str, version: str, body: Comment) -> Any:
        mv = gate.version(who, model, version)
        mv.comment = body.comment
        return {"comment": mv.comment}

    @router.get(f"{API}/models/{{model}}/versions/{{version}}/metrics", tags=["metrics"])
    def list_metrics(who: Signed, model: str, version: str) -> Any:
        return reply(gate.version(who, model, version).show_metrics())

    @router.put(f"{API}/models/{{model}}/versions/{{version}}/metrics/{{name:path}}", tags=["metrics"])
    def set_metric(who: Signed, model: str, version: str, name: str, body: MetricValue) -> Any:
        mv = gate.version(who, model, version)
        mv.set_metric(name, body.value)
        return reply(mv.show_metrics())

    @router.delete(f"{API}/models/{{model}}/versions/{{version}}/metrics/{{name:path}}",
                   tags=["metrics"])
    def delete_metric(who: Signed, model: str, version: str, name: str) -> Any:
        mv = gate.version(who, model, version)
        mv.delete_metric(name)
        return reply(mv.show_metrics())

    @router.get(f"{API}/models/{{model}}/version-infos", tags=["versions"])
    def version_infos(who: Signed, model: str) -> Any:
        """Every version's id, name, comment and manifest sha256, oldest first."""
        _, m = gate.locate(who, model)
        return [info_json(mv._fixed_info()) for mv in m.versions()]

    @router.get(f"{API}/models/{{model}}/versions/{{version}}/info", tags=["versions"])
    def show_version_info(who: Signed, model: str, version: str) -> Any:
        return info_json(gate.version(who, model, version)._fixed_info())

    @router.get(f"{API}/models/{{model}}/versions/{{version}}/comment", tags=["versions"])
    def get_version_comment(who: Signed, model: str, version: str) -> Any:
        return {"comment": gate.version(who, model, version).comment}

    @router.get(f"{API}/models/{{model}}/versions/{{version}}/aliases", tags=["aliases"])
    def version_aliases(who: Signed, model: str, version: str) -> list[str]:
        return gate.version(who, model, version).aliases

    @router.delete(f"{API}/models/{{model}}/versions/{{version}}/aliases/{{alias:path}}",
                   tags=["aliases"])
    def unset_version_alias(who: Signed, model: str, version: str, alias: str) -> Any:
        """Unset ``alias`` if it points at this version (else 404)."""
        mv = gate.version(who, model, version)
        mv.unset_alias(alias)
        return {"version": mv.version_name, "aliases": mv.aliases}

    @router.get(f"{API}/models/{{model}}/versions/{{version}}/functions", tags=["versions"])
    def version_functions(who: Signed, model: str, version: str) -> Any:
        return reply([f.to_dict() for f in gate.version(who, model, version).show_functions()])

    return router
