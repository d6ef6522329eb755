"""What pipeline tests score: the iris classifier in a fresh catalog, and a small Hive-partitioned
Parquet table of its features (``region=EU|US|APAC``, an ``id`` per row)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

from registry import ModelVersion, Registry
from tests.models import iris, iris_classifier

REGIONS = ("EU", "US", "APAC")
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

#: A full pipeline config, every section given: the text the config tests edit.
GOOD = """\
model: ML.PROD.CHURN@DEFAULT
function: predict
input:
  path: /data/customers
  filters:
    - {column: day, op: ">=", value: 2026-11-01}
    - {column: tag, op: "==", value: "2026-11-01"}
output:
  path: /data/scores
  partition_by: [region]
  mode: overwrite
compute:
  max_actors: 4
  num_cpus: 0.5
explain: true
"""


@dataclass
class Catalog:
    url: str
    artifact_root: str
    registry: Registry
    model: LogisticRegression
    version: ModelVersion

    def keys(self) -> dict[str, str]:
        """The config keys that point a pipeline at this catalog."""
        return {"catalog_url": self.url, "artifact_root": self.artifact_root}


def log_iris(root: Path) -> Catalog:
    """A catalog under ``root`` holding ML.REGISTRY.IRIS version V1 (the default)."""
    url = f"sqlite:///{root / 'catalog.db'}"
    artifacts = str(root / "artifacts")
    reg = Registry(catalog_url=url, artifact_root=artifacts)
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:20])
    return Catalog(url, artifacts, reg, clf, mv)


def write_iris_table(root: Path, *, files_per_region: int = 2) -> pd.DataFrame:
    """The 150 iris rows under ``root/region=R/part-N.parquet``; returns them with ``region``."""
    frame = iris()[0].copy().reset_index(drop=True)
    frame["id"] = np.arange(len(frame), dtype=np.int64)
    frame["region"] = [REGIONS[i % len(REGIONS)] for i in range(len(frame))]
    for region in REGIONS:
        part = frame[frame["region"] == region].drop(columns="region")
        folder = root / f"region={region}"
        folder.mkdir(parents=True)
        bounds = np.linspace(0, len(part), files_per_region + 1).astype(int)
        for n, (start, stop) in enumerate(itertools.pairwise(bounds)):
            pq.write_table(pa.Table.from_pandas(part.iloc[start:stop], preserve_index=False),
                           folder / f"part-{n}.parquet")
    return frame


def read_output(path: Path) -> pd.DataFrame:
    """An output table as pandas reads it (``_``-prefixed bookkeeping is skipped), by id."""
    frame = pd.read_parquet(path)
    return frame.sort_values("id").reset_index(drop=True)


def pipeline_config(data: Path, out: Path, catalog: Catalog, **overrides: Any) -> dict[str, Any]:
    """A small pipeline: predict with IRIS@DEFAULT, one actor, output partitioned by region."""
    config: dict[str, Any] = {
        "model": "ML.REGISTRY.IRIS@DEFAULT",
        "function": "predict",
        "input": {"path": str(data)},
        "output": {"path": str(out), "partition_by": ["region"]},
        "compute": {"max_actors": 1, "batch_size": 64, "num_cpus": 0.25},
        **catalog.keys(),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config
