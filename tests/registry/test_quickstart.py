"""`make run`'s quickstart runs start to end on the embedded default, twice in a row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_quickstart_runs_on_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOE_")}
    env["FLOE_HOME"] = str(tmp_path / "home")
    for _ in range(2):  # a second run starts over from what the first left
        result = subprocess.run(
            [sys.executable, "-m", "registry.quickstart"], env=env, capture_output=True,
            text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for step in ("1. train", "2. log", "3. govern", "4. models", "5. load", "6. explain",
                 "7. artifacts", "done"):
        assert step in out
    assert "CHAMPION -> V2" in out
    assert (tmp_path / "home" / "catalog.db").is_file()
