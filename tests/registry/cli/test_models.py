"""``floe models list`` on a namespace that does not exist: a note, no rows, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa


def floe(catalog_url: str, artifact_root: Path, floe_home: Path, *args: str) -> tuple[
    int, str, str
]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(FLOE_CATALOG_URL=catalog_url, FLOE_ARTIFACT_ROOT=str(artifact_root),
               FLOE_HOME=str(floe_home))
    done = subprocess.run([sys.executable, "-m", "registry.cli", *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_listing_a_namespace_that_does_not_exist_notes_it_and_creates_nothing(
    catalog_url: str, artifact_root: Path, floe_home: Path
) -> None:
    status, out, err = floe(catalog_url, artifact_root, floe_home,
                            "models", "list", "--database", "TYPO", "--json")
    assert (status, json.loads(out), err) == (0, [], "note: TYPO.REGISTRY does not exist\n")
    status, out, err = floe(catalog_url, artifact_root, floe_home, "--schema", "x", "models",
                            "list")
    assert (status, err) == (0, "note: ML.X does not exist\n")
    assert "no models" in out
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM floe_namespace")).scalar()
    finally:
        engine.dispose()
    assert count == 0  # TYPO.REGISTRY and ML.X were created by listing them before
