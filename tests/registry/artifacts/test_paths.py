"""Locations: artifact-root URIs with their secrets hidden."""

from __future__ import annotations

import pytest

from registry import redact_uri


@pytest.mark.parametrize(
    ("uri", "redacted"),
    [
        ("s3://AK:SE/CR@ET@bucket/p?endpoint_override=h", "s3://AK:***@bucket/p?endpoint_override=h"),
        ("postgresql+psycopg://u:pw@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
        ("s3://bucket/p?access_key=AK&secret_key=SK&region=eu",
         "s3://bucket/p?access_key=AK&secret_key=***&region=eu"),
        ("s3://[x", "s3://[x"),
        ("/a/local/path", "/a/local/path"),
    ],
)
def test_redact_uri_hides_every_secret(uri: str, redacted: str) -> None:
    """Regression: a password holding '/' raised ValueError, and query secrets were kept."""
    assert redact_uri(uri) == redacted
