"""Every pipeline config in configs/ is valid, and every one runs end to end.

The examples read ``${FLOE_DATA}/iris`` and write under ``${FLOE_OUT}``; the catalog comes from
``FLOE_CATALOG_URL``/``FLOE_ARTIFACT_ROOT``. Here those point at a small generated table and a
fresh catalog holding ML.REGISTRY.IRIS, so the files are run exactly as they are written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipelines
from tests.pipelines.pipeline_data import FEATURES, Catalog, log_iris, write_iris_table
from tests.ray_fixtures import ray_local  # noqa: F401

ALL_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.y*ml"))
# configs/quickstart.yaml scores the quickstart's own model and table: tests/test_quickstart.py
# runs it the way `make run` does; configs/serve.yaml is a serve config, applied by the serve
# tests. Every other example scores the iris classifier below.
RUN_ELSEWHERE = {"quickstart.yaml": "tests/test_quickstart.py",
                 "serve.yaml": "tests/serve/test_control.py"}
CONFIGS = [p for p in ALL_CONFIGS if p.name not in RUN_ELSEWHERE]


def test_configs_holds_examples() -> None:
    assert CONFIGS, "configs/ holds no YAML files"
    assert all(p.suffix == ".yaml" for p in ALL_CONFIGS), "name configs *.yaml"
    assert {p.name for p in ALL_CONFIGS} >= set(RUN_ELSEWHERE)
    for name, test in RUN_ELSEWHERE.items():
        assert f"configs/{name}" in (Path(__file__).resolve().parents[1] / test).read_text()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Catalog, pd.DataFrame, Path]:
    catalog = log_iris(tmp_path / "catalog")
    frame = write_iris_table(tmp_path / "data" / "iris")
    monkeypatch.setenv("FLOE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FLOE_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("FLOE_CATALOG_URL", catalog.url)
    monkeypatch.setenv("FLOE_ARTIFACT_ROOT", catalog.artifact_root)
    return catalog, frame, tmp_path / "out"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_each_config_validates_and_resolves(
    path: Path, env: tuple[Catalog, pd.DataFrame, Path]
) -> None:
    cfg = pipelines.load_config(path)
    prepared = pipelines.prepare(cfg)
    assert prepared.resolved_model == "ML.REGISTRY.IRIS/V1"
    assert cfg.output.path.startswith(str(env[2]))


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_each_config_runs_end_to_end(path: Path, env: tuple[Catalog, pd.DataFrame, Path]) -> None:
    catalog, frame, _ = env
    cfg = pipelines.load_config(path)
    result = pipelines.run(path)

    scored = pd.read_parquet(cfg.output.path).sort_values("id").reset_index(drop=True)
    regions = set(frame["region"])
    for f in cfg.input.filters or []:  # the examples filter on the partition key only
        assert f.column == "region"
        regions = regions & ({f.value} if f.op == "==" else set(f.value))  # type: ignore[arg-type]
    expected = frame[frame["region"].isin(regions)].sort_values("id").reset_index(drop=True)
    assert result.rows_in == result.rows_out == len(scored) == len(expected) > 0
    assert scored["id"].tolist() == expected["id"].tolist()

    model = catalog.model
    method = {"predict": model.predict, "predict_proba": model.predict_proba}[result.function]
    want = np.asarray(method(expected[FEATURES]))
    outputs = sorted((c for c in scored.columns if c.startswith("output_feature_")),
                     key=lambda c: int(c.rsplit("_", 1)[1]))
    np.testing.assert_allclose(scored[outputs].to_numpy(), want.reshape(len(expected), -1))
    if cfg.explain:
        assert any(c.endswith("_explanation") for c in scored.columns)
    if cfg.output.partition_by:
        assert result.partitions == len(regions)
    assert Path(result.record_path).is_file()
