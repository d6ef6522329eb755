"""The registry as a client of a registry server (``Registry(url=..., token=...)``)."""

from registry.client.http import raise_for_error
from registry.client.remote import RemoteBackend

__all__ = ["RemoteBackend", "raise_for_error"]
