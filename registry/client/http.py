"""The registry server's client side of HTTP: one pooled ``httpx.Client`` per server
(``ServerConnection``), idempotent requests (GET, PUT, DELETE) retried with backoff when the
connection fails or the server answers 502/503/504, and every error reply raised as the
``FloeError`` class it names, with its message (``raise_for_error``). Path segments are
percent-encoded here (``segment``), ``@ID`` kept as it is."""

from __future__ import annotations

import copy
import functools
import time
import urllib.parse
from typing import Any

import httpx
import pandas as pd

from registry.api.records import ARROW_STREAM, frame_from_arrow, frame_from_json
from registry.errors import CatalogError, FloeError, InvalidInput, TooManyAttempts
from registry.identifiers import format_identifier, id_ref, parse_identifier

__all__ = ["API", "ServerConnection", "raise_for_error", "ref", "segment"]

API = "/api/v1"
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_RETRY_STATUSES = frozenset({502, 503, 504})
_ACCEPT_FRAME = {"accept": f"{ARROW_STREAM}, application/json"}


@functools.cache
def _error_classes() -> dict[str, type[FloeError]]:
    classes: dict[str, type[FloeError]] = {}
    pending: list[type[FloeError]] = [FloeError]
    while pending:
        cls = pending.pop()
        classes.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return classes


def raise_for_error(response: httpx.Response) -> None:
    """A server's error reply as the ``FloeError`` it stands for: the class its ``type``
    names (``FloeError`` itself for one this client does not know), with its message."""
    if response.is_success:
        return
    try:
        body = response.json()
        message, kind = str(body["error"]), str(body["type"])
    except (ValueError, KeyError, TypeError):
        message = f"the registry server answered {response.status_code} without an error body"
        kind = "FloeError"
    if kind == "TooManyAttempts":
        raise TooManyAttempts(message, int(response.headers.get("retry-after", "60")))
    known = _error_classes()
    if kind not in known:  # a class defined since the first error: look again
        known = _error_classes.__wrapped__()
    raise known.get(kind, FloeError)(message)


def _segment(text: str) -> str:
    return urllib.parse.quote(text, safe="@")


def _ref(version: str) -> str:
    """A version's resolved name or alias as a path segment; ``@ID`` as it is."""
    return _segment(version if id_ref(version) is not None else format_identifier(version))


def segment(text: str) -> str:
    return urllib.parse.quote(text, safe="@")


def ref(version: str) -> str:
    """A version's resolved name or alias as a path segment; ``@ID`` as it is."""
    return segment(version if id_ref(version) is not None else format_identifier(version))


class ServerConnection:
    """Requests to the server at ``url`` with the caller's token (and role, and the client a
    proxy asks for), each carrying ``params`` (the namespace)."""

    def __init__(self, url: str, token: str | None, *, params: dict[str, str],
                 role: str | None = None, timeout_s: float | None = None, retries: int = 3,
                 forwarded_for: str | None = None) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"registry URL {url!r} is not http:// or https://; write it as "
                               "http://host:8080 (FLOE_REGISTRY_URL)")
        self.url = url.rstrip("/")
        self._params = params
        self._retries = retries
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if role is not None:
            headers["x-floe-role"] = format_identifier(parse_identifier(role, "role"))
        if forwarded_for is not None:  # a proxy's client (the server believes it from loopback)
            headers["x-forwarded-for"] = forwarded_for
        self._client = httpx.Client(base_url=self.url + API, headers=headers,
                                    timeout=timeout_s if timeout_s is not None else 30.0)

    def close(self) -> None:
        self._client.close()

    def with_params(self, params: dict[str, str]) -> ServerConnection:
        """This connection (its pool, token and role) sending ``params`` with each request."""
        other = copy.copy(self)
        other._params = params
        return other


    def send(self, method: str, path: str, *, stream: bool = False,
              **kwargs: Any) -> httpx.Response:
        """One request, retried (idempotent ones only) while the server cannot be reached or
        answers 502/503/504; an error reply raises its ``FloeError``."""
        params = {**self._params, **kwargs.pop("params", {})}
        attempts = self._retries + 1 if method in _IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                request = self._client.build_request(method, path, params=params, **kwargs)
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise CatalogError(
                    f"the registry server at {self.url} cannot be reached ({type(exc).__name__}: "
                    f"{exc}); check the URL (FLOE_REGISTRY_URL) and that floe server runs there"
                ) from exc
            if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                response.close()
                time.sleep(0.1 * 2**attempt)
                continue
            if stream and not response.is_success:
                response.read()
            raise_for_error(response)
            return response
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.send(method, path, **kwargs).json()

    def frame(self, method: str, path: str, **kwargs: Any) -> pd.DataFrame:
        """A DataFrame the server returns: as Arrow where it can send it, else JSON."""
        response = self.send(method, path, headers=_ACCEPT_FRAME, **kwargs)
        if response.headers.get("content-type", "").startswith(ARROW_STREAM):
            return frame_from_arrow(response.content)
        return frame_from_json(response.json())
