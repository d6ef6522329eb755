"""One Serve instance (front on a free loopback port) for the serve tests, on the session's
local Ray; endpoints are deployed per test and removed after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import serve
from registry import CustomModel, ModelContext, Registry, inference_api
from tests.models import iris
from tests.net import free_port
from tests.ray_fixtures import ray_local  # noqa: F401


class Slow(CustomModel):
    """Sleeps ``delay`` seconds (the largest in the batch), then answers ``x * 2``."""

    @inference_api
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        import time

        time.sleep(float(frame["delay"].max()))
        return pd.DataFrame({"y": frame["x"].to_numpy() * 2})


@dataclass
class Served:
    url: str
    reg: Registry
    X: pd.DataFrame
    catalog_url: str
    artifact_root: str

    def deploy(self, ref: str, **options: object) -> dict[str, object]:
        options.setdefault("num_cpus", 0.1)
        # a removed replica is stopped as soon as it is idle (checked every 0.25 s), not
        # after Serve's 2-second first look: each test's undeploy takes seconds less
        options.setdefault("graceful_shutdown_timeout_s", 1.0)
        return serve.deploy(ref, catalog_url=self.catalog_url, artifact_root=self.artifact_root,
                            **options)


@pytest.fixture(scope="package")  # Serve stops when the serve tests end
def served(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:  # noqa: F811
    from ray import serve as ray_serve

    root: Path = tmp_path_factory.mktemp("serve")
    catalog_url, artifact_root = f"sqlite:///{root / 'catalog.db'}", str(root / "artifacts")
    reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
    X, y = iris()
    reg.log_model(LogisticRegression(max_iter=500).fit(X, y), model_name="iris",
                  version_name="v1", sample_input_data=X[:10])
    reg.log_model(LogisticRegression(max_iter=500).fit(X, y + 10), model_name="iris",
                  version_name="v2", sample_input_data=X[:10])
    reg.log_model(Slow(ModelContext()), model_name="slow", version_name="v1",
                  sample_input_data=pd.DataFrame({"x": [1.0], "delay": [0.0]}))
    url = serve.start(port=free_port())
    try:
        yield Served(url, reg, X, catalog_url, artifact_root)
    finally:
        import ray

        if ray.is_initialized():  # never start a Ray just to stop Serve
            ray_serve.shutdown()


@pytest.fixture
def clean_endpoints(served: Served) -> Iterator[Served]:
    """The session's Serve; the endpoints the test deployed are removed after it (those a
    module deployed for all its tests stay)."""
    before = {str(row["ref"]) for row in serve.status()}
    yield served
    for row in serve.status():
        if str(row["ref"]) not in before:
            serve.undeploy(str(row["ref"]))
