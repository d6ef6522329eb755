"""The registry as a client of a registry server (``Registry(url=..., token=...)``)."""

from registry.client.remote import RemoteBackend, raise_for_error

__all__ = ["RemoteBackend", "raise_for_error"]
