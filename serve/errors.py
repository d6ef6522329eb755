"""The one HTTP error edge: every exception a request meets becomes one JSON response here.

* a ``FloeError`` (raised in the front, or in a replica and carried back by Ray, recovered
  with ``registry.unwrap_ray_error``): its ``http_status`` (404 unknown model, version or
  function; 400 input the signature refuses; 413 a body over the limit; ...);
* Serve shedding load (``BackPressureError``: more than ``max_ongoing_requests`` +
  ``max_queued_requests`` per replica), an endpoint with no replica (``DeploymentUnavailable``)
  or a replica that died mid-request (``RayActorError``): 503 with ``Retry-After``, at once;
* anything else: 500, logged with its traceback; the client sees the class name only.

Bodies are ``{"error": message, "type": ErrorClass}``; on MLflow's ``/invocations`` path,
MLflow's own ``{"error_code": ..., "message": ...}``.
"""

from __future__ import annotations

import json
import logging

from registry import FloeError, unwrap_ray_error

__all__ = ["BodyTooLarge", "ErrorReply", "error_reply"]

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1

_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_ALREADY_EXISTS",
    413: "REQUEST_LIMIT_EXCEEDED",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


class BodyTooLarge(FloeError):
    http_status = 413


class ErrorReply:
    """A status, JSON body bytes and headers: what the ingress turns into a response."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def error_reply(exc: BaseException, *, mlflow: bool = False) -> ErrorReply:
    status, kind, message = _classify(exc)
    headers = {"content-type": "application/json"}
    if status == 503:
        headers["retry-after"] = str(RETRY_AFTER_S)
    found = unwrap_ray_error(exc)
    if isinstance(found, FloeError):
        headers.update(found.http_headers)  # WWW-Authenticate on a 401, Retry-After on a 429
    if mlflow:
        doc = {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    else:
        doc = {"error": message, "type": kind}
    return ErrorReply(status, json.dumps(doc).encode(), headers)


def _classify(exc: BaseException) -> tuple[int, str, str]:
    from ray.exceptions import ActorUnavailableError, RayActorError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

    if isinstance(exc, BackPressureError):
        return 503, "Overloaded", (
            "the endpoint is at capacity (max_ongoing_requests + max_queued_requests per "
            f"replica); retry after {RETRY_AFTER_S} s, or raise --max-replicas"
        )
    if isinstance(exc, (DeploymentUnavailableError, RayActorError, ActorUnavailableError)):
        return 503, "Unavailable", (
            f"the endpoint's replica is unavailable (restarting); retry after {RETRY_AFTER_S} s"
        )
    found = unwrap_ray_error(exc)
    if isinstance(found, FloeError):
        return found.http_status, type(found).__name__, found.message
    log.error("request failed", exc_info=exc)
    return 500, "InternalError", f"the server failed on this request ({type(exc).__name__}); see its log"
