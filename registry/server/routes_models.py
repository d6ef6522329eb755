"""The registry server's model routes: listing, one model, its name, comment, tags, default and
aliases. Each calls the Python API as the request's caller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from registry.api.records import frame_records
from registry.identifiers import format_identifier, parse_qualified_name
from registry.server.replies import FRAME, frame_reply, reply
from registry.server.signin import API, Gate, Signed, SignedRoute

__all__ = ["router"]


class Comment(BaseModel):
    comment: str | None


class TagValue(BaseModel):
    value: str


class VersionRef(BaseModel):
    version: str


class NewName(BaseModel):
    name: str


def router(gate: Gate) -> APIRouter:
    """The model routes, signing in through ``gate``."""
    router = APIRouter(route_class=SignedRoute)

    @router.get(f"{API}/models", tags=["models"], responses=FRAME)
    def list_models(who: Signed) -> Any:
        reg = gate.open(who)
        return frame_reply(who.request, reg.show_models())

    @router.get(f"{API}/namespace", tags=["models"])
    def namespace(who: Signed) -> dict[str, Any]:
        reg = gate.open(who)
        return {"database": reg.database_name, "schema": reg.schema_name,
                "exists": reg.exists(), "role": reg.role}

    @router.get(f"{API}/schemas", tags=["models"])
    def schemas(who: Signed) -> dict[str, list[str]]:
        """The schemas of the request's database that exist (``SHOW MODELS IN DATABASE``)."""
        backend = gate.open(who)._local()
        names = backend.schema_names(backend.namespace.database_name)
        return {"schemas": [format_identifier(name) for name in names]}

    @router.get(f"{API}/model-ids", tags=["models"])
    def model_ids(who: Signed) -> dict[str, list[str]]:
        """The ids of the namespace's models the role may see, ordered by name."""
        reg = gate.open(who)
        return {"ids": [m.id for m in reg.models()]}

    @router.get(f"{API}/models/{{model}}", tags=["models"])
    def show_model(who: Signed, model: str) -> Any:
        _, m = gate.locate(who, model)
        versions = frame_records(m.show_versions(), json_columns=("aliases",))
        return reply({
            "id": m.id, "name": m.name, "fully_qualified_name": m.fully_qualified_name,
            "comment": m.comment, "tags": m.show_tags(),
            "default_version_name": next(
                (v["name"] for v in versions if v["is_default_version"]), None),
            "versions": [v["name"] for v in versions],
        })

    @router.delete(f"{API}/models/{{model}}", tags=["models"])
    def delete_model(who: Signed, model: str) -> dict[str, str]:
        reg, m = gate.locate(who, model)
        label = m.fully_qualified_name
        reg.delete_model(m.name)
        return {"deleted": label}

    @router.post(f"{API}/models/{{model}}/rename", tags=["models"])
    def rename_model(who: Signed, model: str, body: NewName) -> dict[str, str]:
        _, m = gate.locate(who, model)
        m.rename(body.name)
        return {"fully_qualified_name": m.fully_qualified_name}

    @router.put(f"{API}/models/{{model}}/comment", tags=["models"])
    def set_comment(who: Signed, model: str, body: Comment) -> Any:
        _, m = gate.locate(who, model)
        m.comment = body.comment
        return {"comment": m.comment}

    @router.get(f"{API}/models/{{model}}/name", tags=["models"])
    def model_name(who: Signed, model: str) -> dict[str, str]:
        _, m = gate.locate(who, model)
        qualified = m.fully_qualified_name  # one read: the name is its last part
        name = format_identifier(parse_qualified_name(qualified, "model").name)
        return {"id": m.id, "name": name, "fully_qualified_name": qualified}

    @router.get(f"{API}/models/{{model}}/comment", tags=["models"])
    def get_comment(who: Signed, model: str) -> Any:
        _, m = gate.locate(who, model)
        return {"comment": m.comment}

    @router.get(f"{API}/models/{{model}}/tags", tags=["tags"])
    def list_tags(who: Signed, model: str) -> dict[str, str]:
        _, m = gate.locate(who, model)
        return m.show_tags()

    @router.put(f"{API}/models/{{model}}/tags/{{tag:path}}", tags=["tags"])
    def set_tag(who: Signed, model: str, tag: str, body: TagValue) -> dict[str, str]:
        _, m = gate.locate(who, model)
        m.set_tag(tag, body.value)
        return m.show_tags()

    @router.delete(f"{API}/models/{{model}}/tags/{{tag:path}}", tags=["tags"])
    def unset_tag(who: Signed, model: str, tag: str) -> dict[str, str]:
        _, m = gate.locate(who, model)
        m.unset_tag(tag)
        return m.show_tags()

    @router.put(f"{API}/models/{{model}}/default", tags=["aliases"])
    def set_default(who: Signed, model: str, body: VersionRef) -> dict[str, str]:
        _, m = gate.locate(who, model)
        m.default = body.version
        return {"default_version_name": m.default.version_name}

    @router.put(f"{API}/models/{{model}}/aliases/{{alias:path}}", tags=["aliases"])
    def set_alias(who: Signed, model: str, alias: str, body: VersionRef) -> Any:
        mv = gate.version(who, model, body.version)
        mv.set_alias(alias)
        return {"version": mv.version_name, "aliases": mv.aliases}

    @router.delete(f"{API}/models/{{model}}/aliases/{{alias:path}}", tags=["aliases"])
    def unset_alias(who: Signed, model: str, alias: str) -> Any:
        mv = gate.version(who, model, alias)
        mv.unset_alias(alias)
        return {"version": mv.version_name, "aliases": mv.aliases}

    return router
