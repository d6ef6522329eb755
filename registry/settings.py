"""Where Floe keeps things, from arguments first, then ``FLOE_*`` variables, then defaults.

* ``FLOE_HOME`` (default ``~/.floe``): the embedded default's home.
* ``FLOE_CATALOG_URL`` (default ``sqlite:///$FLOE_HOME/catalog.db``): any SQLAlchemy URL.
* ``FLOE_ARTIFACT_ROOT`` (default ``$FLOE_HOME/artifacts``): a local path or an object-store URI.
* ``FLOE_DATABASE`` / ``FLOE_SCHEMA`` (defaults ``ML`` / ``REGISTRY``): the namespace opened.
* ``FLOE_USER`` (default: the OS user): the user recorded on what this process creates.
* ``FLOE_ROLE`` (default ``ADMIN``): the role this process acts as (``registry.access``).
* ``FLOE_REGISTRY_URL`` (default: none, direct mode): a registry server (``floe server
  start``) to use instead of opening the catalog and the artifact root; ``FLOE_TOKEN``: the
  bearer token sent to it (``floe tokens create``).
"""

from __future__ import annotations

import getpass
import ipaddress
import os
from pathlib import Path

__all__ = [
    "current_user",
    "default_artifact_root",
    "default_catalog_url",
    "default_database",
    "default_registry_url",
    "default_role",
    "default_schema",
    "default_token",
    "floe_home",
    "is_loopback",
]


def floe_home() -> Path:
    return Path(os.environ.get("FLOE_HOME") or Path.home() / ".floe").expanduser()


def default_catalog_url() -> str:
    url = os.environ.get("FLOE_CATALOG_URL")
    if url:
        return url
    return f"sqlite:///{floe_home() / 'catalog.db'}"


def default_artifact_root() -> str:
    return os.environ.get("FLOE_ARTIFACT_ROOT") or str(floe_home() / "artifacts")


def default_database() -> str:
    return os.environ.get("FLOE_DATABASE") or "ML"


def default_schema() -> str:
    return os.environ.get("FLOE_SCHEMA") or "REGISTRY"


def default_role() -> str:
    return os.environ.get("FLOE_ROLE") or "ADMIN"


def default_registry_url() -> str | None:
    return os.environ.get("FLOE_REGISTRY_URL") or None


def default_token() -> str | None:
    return os.environ.get("FLOE_TOKEN") or None


def current_user() -> str:
    user = os.environ.get("FLOE_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback interface: Floe's servers bind one unless told otherwise."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
