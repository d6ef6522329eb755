"""``floe://model/<model>/versions/<version or alias>/[path]`` URLs (Snowflake's ``snow://``).

The model may be ``NAME`` or ``DB.SCHEMA.NAME``; the version may be any alias. A URL whose
path could leave its version (``..``, an absolute path, a backslash, a percent-encoded
separator or dot) is refused before anything is read.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from registry.artifacts.paths import safe_relpath
from registry.errors import InvalidInput

__all__ = ["ArtifactURL", "parse_artifact_url"]

_PREFIX = "floe://model/"
_FORBIDDEN_ESCAPES = re.compile(r"%(2[fFeE]|5[cC]|00)")
_FORM = "floe://model/<model>/versions/<version or alias>/[path]"


@dataclass(frozen=True)
class ArtifactURL:
    model: str
    version: str
    path: str  # relative to the version, '/'-separated, '' for the whole version


def parse_artifact_url(url: str) -> ArtifactURL:
    if not isinstance(url, str) or not url.startswith(_PREFIX):
        raise InvalidInput(f"{url!r} is not a Floe artifact URL; write it as {_FORM}")
    if _FORBIDDEN_ESCAPES.search(url):
        raise InvalidInput(
            f"{url!r} holds a percent-encoded separator, dot or NUL; write the path plainly"
        )
    rest = urllib.parse.unquote(url[len(_PREFIX) :])
    if "?" in rest or "#" in rest:
        raise InvalidInput(f"{url!r} has a query or fragment; write it as {_FORM}")
    parts = rest.split("/", 3)
    if len(parts) < 3 or parts[1] != "versions" or not parts[0] or not parts[2]:
        raise InvalidInput(f"{url!r} is malformed; write it as {_FORM}")
    path = parts[3] if len(parts) == 4 else ""
    return ArtifactURL(parts[0], parts[2], safe_relpath(path, what=f"path in {url!r}"))
