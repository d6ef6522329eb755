"""`make run`: examples/quickstart.py runs start to end on the embedded default, ending with
the main job, configs/quickstart.yaml, scored on a local Ray, and starts over from what an
earlier run left (the model with its versions, an old patients table and old scores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from registry import Registry
from tests.models import iris

ROOT = Path(__file__).resolve().parents[1]


def _leave_an_earlier_run(home: Path) -> None:
    """What a finished quickstart leaves in FLOE_HOME (set to ``home``), made without its 45
    seconds: the model with versions V1 and V2 (this run logs both names again), a patients
    table with a partition this run does not write, scores with an old run record."""
    reg = Registry(database_name="ML", schema_name="REGISTRY")  # FLOE_HOME's, as the script's
    X, y = iris()
    for version in ("v1", "v2"):
        reg.log_model(LogisticRegression(max_iter=300).fit(X, y), model_name="breast_cancer",
                      version_name=version, sample_input_data=X[:5])
    reg.get_model("breast_cancer").version("v1").set_alias("champion")
    stale = home / "data" / "patients" / "clinic=GONE" / "month=2026-11"
    stale.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1.0]}), stale / "part-0.parquet")
    scores = home / "out" / "patient_scores"
    (scores / "clinic=GONE").mkdir(parents=True)
    pq.write_table(pa.table({"output_feature_1": [9.0]}), scores / "clinic=GONE" / "p.parquet")
    (scores / "_floe_runs").mkdir()
    (scores / "_floe_runs" / "old.json").write_text(json.dumps({"resolved_version": "V1"}))


def test_quickstart_runs_on_the_embedded_default(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "RAY_ADDRESS"))}
    home = tmp_path / "home"
    env["FLOE_HOME"] = str(home)
    monkeypatch.setenv("FLOE_HOME", str(home))
    _leave_an_earlier_run(home)
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env,
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in ("1. train", "removed the model a previous quickstart left", "2. log",
                 "3. govern", "4. models", "5. load", "6. explain", "7. artifacts",
                 "8. the main job", "floe pipeline run configs/quickstart.yaml",
                 "resolved to ML.REGISTRY.BREAST_CANCER/V2", "9. serve", "serves V2",
                 "Snowflake", "MLflow", "Open Inference", "shut down Serve and Ray", "done"):
        assert step in out
    scores = pd.read_parquet(home / "out" / "patient_scores")
    assert len(scores) == 4 * 2 * 2 * 4_000  # 4 clinics, months 2026-10 and 2026-11, 2 files
    assert set(scores["clinic"].astype(str)) == {"NORTH", "SOUTH", "EAST", "WEST"}
    assert scores["output_feature_1"].between(0, 1).all()
    records = list((home / "out" / "patient_scores" / "_floe_runs").glob("*.json"))
    assert len(records) == 1  # overwrite: this run's record replaced the earlier one
    assert json.loads(records[0].read_text())["resolved_version"] == "V2"
    assert Registry("ML", "REGISTRY").get_model("breast_cancer").version("v1").show_metrics()  # logged anew
