"""Endpoint references: ``NAME`` (the DEFAULT version), ``NAME@ALIAS`` or ``NAME/VERSION``,
plain or qualified, and the key and Serve application name each one maps to."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from registry import InvalidInput, format_identifier, parse_identifier, parse_model_ref

__all__ = ["APP_PREFIX", "EndpointKey", "EndpointRef", "parse_endpoint_ref", "running_replicas"]

#: Every endpoint's Serve application name starts with this; the front is ``floe``.
APP_PREFIX = "floe-"


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
    """Parse a reference (``registry.parse_model_ref``, plain names meaning DEFAULT) and
    resolve its identifiers; ``InvalidInput`` names the accepted forms."""
    ref = parse_model_ref(text, default_alias="DEFAULT")
    try:
        key = EndpointKey(
            parse_identifier(ref.database, "database") if ref.database else None,
            parse_identifier(ref.schema, "schema") if ref.schema else None,
            parse_identifier(ref.name, "model"),
            parse_identifier(ref.selector, "version"),
        )
    except InvalidInput as exc:
        raise InvalidInput(f"model {text!r} is not a model reference: {exc.message}") from None
    return EndpointRef(key, is_alias=ref.is_alias)


def running_replicas(app_status: Any) -> int:
    """Running replicas of a Serve application (its ``ApplicationStatusOverview``)."""
    return sum(
        count for deployment in app_status.deployments.values()
        for state, count in deployment.replica_states.items()
        if getattr(state, "value", state) == "RUNNING"
    )
