"""MLflow's process-wide tracking URI, set for a block of a test and put back after, so that
no MLflow setting leaks into other tests (or the subprocesses they start)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """mlflow's global tracking URI set to ``uri``, then as it was (``set_tracking_uri`` also
    sets ``MLFLOW_TRACKING_URI``, which subprocesses inherit: restored too)."""
    from mlflow.tracking._tracking_service import utils

    before, env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None: unset, env var too
        if env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env
