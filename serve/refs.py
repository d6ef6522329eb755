"""Endpoint references: ``NAME`` (the DEFAULT version), ``NAME@ALIAS`` or ``NAME/VERSION``,
plain or qualified, and the key and Serve application name each one maps to."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from registry import InvalidInput, format_identifier, parse_identifier, parse_qualified_name

__all__ = ["APP_PREFIX", "EndpointKey", "EndpointRef", "parse_endpoint_ref"]

#: Every endpoint's Serve application name starts with this; the front is ``floe``.
APP_PREFIX = "floe-"

_HELP = (
    "write NAME (its DEFAULT version), NAME@ALIAS or NAME/VERSION, plain or qualified, "
    "e.g. churn, ML.PROD.CHURN@LIVE or churn/v3"
)


@dataclass(frozen=True)
class EndpointKey:
    """What identifies an endpoint: the resolved names (database and schema may be absent
    until the deployer's namespace fills them in)."""

    database: str | None
    schema: str | None
    name: str
    selector: str


@dataclass(frozen=True)
class EndpointRef:
    key: EndpointKey
    is_alias: bool

    def qualified(self, database: str, schema: str) -> EndpointRef:
        """This reference with the namespace filled in where it names none."""
        k = self.key
        return EndpointRef(
            EndpointKey(k.database or database, k.schema or schema, k.name, k.selector),
            self.is_alias,
        )

    @property
    def model_name(self) -> str:
        k = self.key
        return ".".join(format_identifier(p) for p in (k.database, k.schema, k.name) if p)

    def __str__(self) -> str:
        return f"{self.model_name}{'@' if self.is_alias else '/'}{format_identifier(self.key.selector)}"

    @property
    def app_name(self) -> str:
        """The Serve application's name: readable, and unique per key."""
        digest = hashlib.sha256(repr(self.key).encode()).hexdigest()[:10]
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.key.name}-{self.key.selector}".lower())
        return f"{APP_PREFIX}{slug.strip('-')[:40]}-{digest}"


def parse_endpoint_ref(text: str) -> EndpointRef:
    """Parse a reference; ``InvalidInput`` names the accepted forms."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"model {text!r} is not a model reference; {_HELP}")
    cut, separator, quoted = -1, "", False
    for pos, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "@/":
            if cut >= 0:
                raise InvalidInput(f"model {text!r} has more than one '@' or '/'; {_HELP}")
            cut, separator = pos, char
    name_text, selector_text = (text, "DEFAULT") if cut < 0 else (text[:cut], text[cut + 1:])
    try:
        qualified = parse_qualified_name(name_text.strip(), "model")
        selector = parse_identifier(selector_text.strip(), "version")
    except InvalidInput as exc:
        raise InvalidInput(f"model {text!r} is not a model reference: {exc.message}") from None
    if qualified.schema is None and qualified.database is not None:
        raise InvalidInput(f"model {text!r} names a database without a schema; {_HELP}")
    key = EndpointKey(qualified.database, qualified.schema, qualified.name, selector)
    return EndpointRef(key, is_alias=separator != "/")
