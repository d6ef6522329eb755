"""Bearer tokens: ``floe_<id>_<secret>``, each bound to one role, for callers that cannot be
trusted to choose their role (the serving front's clients).

The id finds the token's row; the 256-bit secret is checked against a salted sha256 of it in
constant time (a secret this long needs no slow hash). The token is shown once, when created;
the catalog keeps only the salt and the digest. ``authenticate`` answers every token that is
absent, malformed, unknown, expired or revoked with the same ``Unauthenticated``, so a caller
learns nothing about which it was.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from registry.errors import InvalidInput, Unauthenticated

__all__ = ["NewToken", "check_secret", "new_token", "parse_duration", "split_token"]

_PREFIX = "floe_"
_TOKEN = re.compile(r"^floe_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
REFUSED = "a valid token is required: send Authorization: Bearer <token> (floe tokens create)"


@dataclass(frozen=True)
class NewToken:
    """A token as created: ``token`` is shown to its user once; the rest is stored."""

    id: str
    token: str
    salt: str
    digest: str


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def new_token() -> NewToken:
    token_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_hex(16)
    return NewToken(token_id, f"{_PREFIX}{token_id}_{secret}", salt, _digest(salt, secret))


def split_token(authorization: str | None) -> tuple[str, str]:
    """The id and secret of an ``Authorization: Bearer <token>`` header (or a bare token)."""
    text = (authorization or "").strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    match = _TOKEN.match(text)
    if match is None:
        raise Unauthenticated(REFUSED)
    return match.group(1), match.group(2)


def check_secret(secret: str, salt: str, digest: str, *, expires_on: datetime | None,
                 revoked_on: datetime | None, now: datetime | None = None) -> None:
    """Refuse (``Unauthenticated``) a secret that does not match, or a token expired or
    revoked."""
    if not hmac.compare_digest(_digest(salt, secret), digest):
        raise Unauthenticated(REFUSED)
    check_active(expires_on=expires_on, revoked_on=revoked_on, now=now)


def check_active(*, expires_on: datetime | None, revoked_on: datetime | None,
                 now: datetime | None = None) -> None:
    """Refuse (``Unauthenticated``) a token expired or revoked."""
    now = now or datetime.now(UTC)
    if revoked_on is not None or (expires_on is not None and expires_on <= now):
        raise Unauthenticated(REFUSED)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``12h`` or ``30d``."""
    match = _DURATION.match(text or "")
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"expires in {text!r}: write a positive number and a unit, such as "
                           "90s, 15m, 12h or 30d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
