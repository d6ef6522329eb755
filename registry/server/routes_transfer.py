"""The registry server's artifact routes: listings and downloads by ``floe://`` URL, uploads
(``log_model`` through the server), gc."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from registry.api.context import check_comment, check_metrics
from registry.catalog.base import SYSTEM_ALIASES
from registry.catalog.tables import VersionRow
from registry.errors import InvalidInput
from registry.identifiers import parse_identifier
from registry.server.replies import FRAME, frame_reply, info_json
from registry.server.signin import API, Gate, Signed, SignedRoute
from registry.server.transfer import (
    begin_upload,
    commit_upload,
    open_version_file,
    receive_file,
)

__all__ = ["router"]

log = logging.getLogger(__name__)
Purpose = Literal["run", "load", "export"]


class NewVersion(BaseModel):
    model: str
    version: str | None = None

    def names(self) -> tuple[str, str | None]:
        """The model's and version's names, resolved (as ``log_model`` checks them)."""
        name = parse_identifier(self.model, "model")
        version = parse_identifier(self.version, "version") if self.version else None
        if version in SYSTEM_ALIASES:
            raise InvalidInput(f"{version} is a system alias; choose another version_name")
        return name, version


class NewUpload(NewVersion):
    comment: str | None = None
    metrics: dict[str, Any] = {}
    manifest: str


class GcRequest(BaseModel):
    grace_period_s: float = 3600.0


def router(gate: Gate) -> APIRouter:
    """The transfer routes, signing in through ``gate``."""
    router = APIRouter(route_class=SignedRoute)

    @router.get(f"{API}/models/{{model}}/versions/{{version}}/files/{{path:path}}",
             tags=["artifacts"], response_class=StreamingResponse,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "the file's bytes; X-Floe-Sha256 is its sha256"}})
    def version_file(who: Signed, model: str, version: str, path: str, purpose: Annotated[Purpose, Query(
                         description="what the client does with it: run (USAGE), load or "
                                     "export (OWNERSHIP)")] = "run") -> StreamingResponse:
        """One file of a version (MANIFEST.yml included), for a client that runs, loads or
        exports it where it is; checked against the manifest as it is read."""
        reg, m = gate.locate(who, model)
        size, sha256, chunks = open_version_file(reg._local(), m.id, version, purpose, path)
        return StreamingResponse(chunks, media_type="application/octet-stream", headers={
            "x-floe-sha256": sha256, "content-length": str(size)})

    @router.post(f"{API}/uploads/check", tags=["uploads"])
    def check_upload(who: Signed, body: NewVersion) -> dict[str, bool]:
        """Whether the role may log this version now (the errors log_model would raise)."""
        reg = gate.open(who)
        name, version = body.names()
        reg._local().check_log(name, version)
        return {"ok": True}

    @router.post(f"{API}/uploads", tags=["uploads"])
    def open_upload(who: Signed, body: NewUpload) -> dict[str, str]:
        """Open the upload of a new version: its id; then PUT each file the manifest lists
        and POST .../commit."""
        reg = gate.open(who)
        name, version = body.names()
        upload = begin_upload(reg._local(), model=name, version=version,
                              comment=check_comment(body.comment, VersionRow),
                              metrics=check_metrics(body.metrics), manifest=body.manifest)
        return {"upload": upload}

    @router.put(f"{API}/uploads/{{upload}}/files/{{path:path}}", tags=["uploads"],
             openapi_extra={"requestBody": {"content": {"application/octet-stream": {}},
                                            "required": True}})
    async def upload_file(who: Signed, upload: str, path: str) -> Any:
        """One file of an open upload, streamed (any size, bounded memory); refused, and not
        kept, unless its size and sha256 are the manifest's."""
        reg = await run_in_threadpool(gate.open, who)
        receiver, sha256, size = await run_in_threadpool(receive_file, reg._local(), upload,
                                                         path)
        try:
            async for chunk in who.request.stream():
                if chunk:
                    await run_in_threadpool(receiver.write, chunk, limit=size)
        except ClientDisconnect:  # nobody to answer; gc collects the rest of the upload
            await run_in_threadpool(receiver.abort)
            log.info("upload %s: the client went away during %s", upload, path)
            raise InvalidInput(f"{path} was cut short; send it again") from None
        except BaseException:
            await run_in_threadpool(receiver.abort)
            raise
        await run_in_threadpool(receiver.finish, sha256, size)
        return {"path": path, "size": size, "sha256": sha256}

    @router.post(f"{API}/uploads/{{upload}}/commit", tags=["uploads"])
    def commit(who: Signed, upload: str) -> dict[str, Any]:
        """Check every file of the upload again and commit the version: visible from now."""
        reg = gate.open(who)
        model_id, info = commit_upload(reg._local(), upload)
        return {"model_id": model_id, "version": info_json(info)}

    @router.post(f"{API}/gc", tags=["artifacts"])
    def gc(who: Signed, body: GcRequest) -> dict[str, list[str]]:
        """Remove stored versions no catalog row references (failed logs, interrupted
        uploads) older than the grace period (ADMIN)."""
        reg = gate.open(who)
        return {"removed": reg.gc(grace_period_s=body.grace_period_s)}

    @router.get(f"{API}/artifacts", tags=["artifacts"], responses=FRAME)
    def list_artifacts(who: Signed, url: Annotated[str, Query(
                           description="floe://model/MODEL/versions/VERSION/[PATH]")]) -> Any:
        reg = gate.open(who)
        return frame_reply(who.request, reg.list_artifacts(url))

    @router.get(f"{API}/artifacts/file", tags=["artifacts"],
             response_class=StreamingResponse,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "the file's bytes; X-Floe-Sha256 is its sha256"}})
    def get_artifact(who: Signed, url: Annotated[str, Query(
                         description="floe://model/MODEL/versions/VERSION/PATH of one file")]) -> StreamingResponse:
        """One file of a version (READ), streamed; checked against the manifest before the
        first byte. Check X-Floe-Sha256 on what arrives before using it."""
        reg = gate.open(who)
        name, size, sha256, chunks = reg.open_artifact(url)
        quoted = urllib.parse.quote(name)
        return StreamingResponse(chunks, media_type="application/octet-stream", headers={
            "x-floe-sha256": sha256, "content-length": str(size),
            "content-disposition": f"attachment; filename*=UTF-8''{quoted}"})

    return router
