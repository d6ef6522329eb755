"""Fixtures for the pipelines.io tests: the session's shared local Ray, the S3 (moto) server,
and the shared input table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.io import write_events
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.s3server import s3_prefix_fixture, s3_server_fixture  # noqa: F401


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared input table; tests must not modify it (copy it first)."""
    return write_events(tmp_path_factory.mktemp("in") / "events")
