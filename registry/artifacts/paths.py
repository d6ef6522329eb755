"""Locations: a path inside a version, normalised so it cannot leave it, and an artifact root's
URI with its secrets hidden for messages and records."""

from __future__ import annotations

from registry.errors import InvalidInput

__all__ = ["redact_uri", "safe_relpath"]


def safe_relpath(path: str, *, what: str = "artifact path") -> str:
    """Normalise a path inside a version; refuse anything that could leave it."""
    if "\\" in path or "\x00" in path:
        raise InvalidInput(f"{what} {path!r} holds a backslash or NUL; use '/'-separated names")
    if path.startswith("/"):
        raise InvalidInput(f"{what} {path!r} is absolute; give a path relative to the version")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInput(f"{what} {path!r} leaves its version ('..'); remove the '..' parts")
    return "/".join(parts)


def redact_uri(root: str) -> str:
    """``root`` with its secrets replaced by ``***``: the password of
    ``scheme://USER:PASSWORD@host/...`` (whatever characters it holds, ``/`` and ``@``
    included) and the values of secret query parameters (``?secret_key=...``,
    ``session_token``, ``password``, ``token``). Text that is not a URI comes back as it was."""
    scheme, sep, rest = root.partition("://")
    if not sep:
        return root
    rest, qmark, query = rest.partition("?")
    if "@" in rest:  # the userinfo ends at the last '@': a password may hold '/' and '@'
        userinfo, host = rest.rsplit("@", 1)
        if ":" in userinfo:
            rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    if qmark:
        pairs = []
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            pairs.append(f"{key}=***" if eq and key.lower() in _SECRET_PARAMS else pair)
        query = "&".join(pairs)
    return f"{scheme}{sep}{rest}{qmark}{query}"


_SECRET_PARAMS = frozenset({"secret_key", "session_token", "password", "token", "access_token"})
