"""The registry API tests run on three backends with the same assertions: SQLite and
PostgreSQL opened directly, and a registry server in front of each (``Registry(url=...,
token=...)``, real HTTP on a loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import Registry
from tests.served import served


@pytest.fixture(params=["direct", "server"])
def reg(request: pytest.FixtureRequest, catalog_url: str, artifact_root: Path) -> Iterator[Registry]:
    if request.param == "direct":
        yield Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
        return
    with served(catalog_url, artifact_root) as (url, token):
        yield Registry(url=url, token=token)
