"""`make run`: examples/quickstart.py runs start to end on the embedded default, twice in a row,
ending with the main job, configs/quickstart.yaml, scored on a local Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_on_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "RAY_ADDRESS"))}
    home = tmp_path / "home"
    env["FLOE_HOME"] = str(home)
    for _ in range(2):  # a second run starts over from what the first left
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env,
            capture_output=True, text=True, timeout=600, cwd=ROOT,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in ("1. train", "2. log", "3. govern", "4. models", "5. load", "6. explain",
                 "7. artifacts", "8. the main job", "floe pipeline run configs/quickstart.yaml",
                 "resolved to ML.REGISTRY.BREAST_CANCER/V2", "9. serve", "serves V2", "Snowflake",
                 "MLflow", "Open Inference", "shut down Serve and Ray", "done"):
        assert step in out
    scores = pd.read_parquet(home / "out" / "patient_scores")
    assert len(scores) == 4 * 2 * 2 * 4_000  # 4 clinics, months 2026-10 and 2026-11, 2 files
    assert set(scores["clinic"].astype(str)) == {"NORTH", "SOUTH", "EAST", "WEST"}
    assert scores["output_feature_1"].between(0, 1).all()
    records = list((home / "out" / "patient_scores" / "_floe_runs").glob("*.json"))
    assert len(records) == 1  # overwrite: the second run replaced the first
    assert json.loads(records[0].read_text())["resolved_version"] == "V2"
