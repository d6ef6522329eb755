"""A registry server in front of a test's catalog: uvicorn in a thread on a loopback port,
with an ADMIN token, for the tests that run the same assertions through the server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry import Registry
from registry.server import create_app, running


@contextmanager
def served(catalog_url: str, artifact_root: Path | str,
           **options: Any) -> Iterator[tuple[str, str]]:
    """The URL of a server over the catalog (``create_app``'s ``options``) and an ADMIN
    service token for it."""
    token = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root)).create_token(
        role="ADMIN")
    app = create_app(catalog_url=catalog_url, artifact_root=str(artifact_root), **options)
    with running(app) as url:
        yield url, token
