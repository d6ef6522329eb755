"""Locations: a path inside a version, normalised so it cannot leave it; an artifact root's
URI with its secrets hidden for messages and records; a local file written whole or not at
all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from registry.errors import InvalidInput

__all__ = ["redact_uri", "replacing", "safe_relpath"]


@contextlib.contextmanager
def replacing(dest: Path) -> Iterator[Path]:
    """A temporary file beside ``dest`` to write: ``os.replace``d over ``dest`` when the block
    ends, removed when it raises, so ``dest`` is the old file or the whole new one."""
    fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        yield Path(temp)
        os.replace(temp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


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
