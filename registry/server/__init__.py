"""The registry server: the registry's API over HTTP (FastAPI), identity from bearer tokens."""

from registry.server.app import create_app
from registry.server.running import running

__all__ = ["create_app", "running"]
