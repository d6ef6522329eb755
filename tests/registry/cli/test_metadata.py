"""``floe metrics/tags/comment``: values the catalog cannot store fail with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from registry import Registry
from tests.models import iris_classifier


def test_an_over_long_metric_name_is_one_line_without_sql(
    reg: Registry, catalog_url: str, artifact_root: Path, floe_home: Path
) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:5])
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(FLOE_CATALOG_URL=catalog_url, FLOE_ARTIFACT_ROOT=str(artifact_root),
               FLOE_HOME=str(floe_home))
    done = subprocess.run(
        [sys.executable, "-m", "registry.cli", "metrics", "set", "iris", "v1", "x" * 300, "1"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    # PostgreSQL: "error: DataError: (psycopg.errors.StringDataRightTruncation) ... [SQL: ...";
    # SQLite stored the name.
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "error: metric name is 300 characters long, at most 255 are allowed; shorten it\n"
    )
    assert reg.get_model("iris").version("v1").show_metrics() == {}
