"""A real S3-protocol server on loopback for the artifact-store tests: moto's standalone
server, started once per session as a subprocess on a free port.

Import the fixtures into a test module (``from tests.s3server import s3_server_fixture``, and
``s3_prefix_fixture``); tests then take ``s3_server`` and ``s3_prefix``, a prefix of the one
bucket that no other test uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import pytest

from tests.net import free_port

__all__ = ["S3Server", "s3_prefix_fixture", "s3_server_fixture"]

BUCKET = "floe-test"
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port
    bucket: str

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=_ENV["AWS_REGION"])

    def root(self, prefix: str) -> str:
        """An artifact root URI for ``prefix`` in the bucket (pyarrow's S3 URI options)."""
        return f"s3://{self.bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http"

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log_file: IO[bytes]) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log_file.seek(0)
            out = log_file.read().decode(errors="replace")
            raise RuntimeError(f"moto server exited with {proc.returncode}:\n{out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on 127.0.0.1:{port} in {_STARTUP_TIMEOUT_S}s")


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture() -> Iterator[S3Server]:
    """moto's standalone S3 server on 127.0.0.1, with fake credentials in the environment."""
    saved = {name: os.environ.get(name) for name in _ENV}
    os.environ.update(_ENV)
    port = free_port()
    # The server logs every request: to a file, since an undrained pipe would block it.
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(proc, port, log_file)
            server = S3Server(f"127.0.0.1:{port}", BUCKET)
            server.client().create_bucket(Bucket=BUCKET)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(name="s3_prefix")
def s3_prefix_fixture(s3_server: S3Server) -> str:
    """A prefix of the bucket that no other test uses; ``s3_server.root(s3_prefix)`` is an
    artifact root under it."""
    return f"t-{uuid.uuid4().hex[:12]}"
