"""The pipeline tests' catalog and table, fresh per test (``test_jobs`` shares one per
module: its own fixtures of the same names)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.pipelines.pipeline_data import Catalog, log_iris, write_iris_table


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return log_iris(tmp_path / "catalog")


@pytest.fixture
def table(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    data = tmp_path / "data"
    return data, write_iris_table(data)
