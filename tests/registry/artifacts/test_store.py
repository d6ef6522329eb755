"""Artifacts: listing and fetching, integrity, environment checks, and garbage collection."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from registry import (
    EnvironmentMismatch,
    IntegrityError,
    InvalidInput,
    NotFound,
    Registry,
)
from registry.packaging.environment import EnvironmentWarning
from tests.models import iris_classifier


def test_manifest_records_hashes_and_environment(logged, artifact_root: Path) -> None:
    _reg, mv, _, _ = logged
    folder = artifact_root / "versions" / mv.id
    manifest = yaml.safe_load((folder / "MANIFEST.yml").read_text())
    assert set(manifest["files"]) == {"model/model.pkl", "env/conda.yml", "env/requirements.txt",
                                      "explain/background.parquet"}
    assert manifest["env"]["python"].count(".") == 2
    assert "scikit-learn" in manifest["env"]["frameworks"]
    requirements = (folder / "env" / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "requests>=2" in requirements
    conda = yaml.safe_load((folder / "env" / "conda.yml").read_text())
    assert "scikit-learn" in conda["dependencies"]


def test_list_and_get_artifacts(logged, tmp_path: Path, artifact_root: Path) -> None:
    reg, _mv, _, _ = logged
    listed = reg.list_artifacts("floe://model/m/versions/v1/")
    assert list(listed.columns) == ["name", "size", "md5", "sha256", "last_modified"]
    assert set(listed["name"]) == {
        "versions/V1/MANIFEST.yml", "versions/V1/model/model.pkl",
        "versions/V1/env/conda.yml", "versions/V1/env/requirements.txt",
        "versions/V1/explain/background.parquet",
    }
    assert (listed["size"] > 0).all() and listed["sha256"].str.len().eq(64).all()
    # Every row has both digests; the manifest's own md5 was NaN before.
    assert listed["md5"].notna().all() and listed["md5"].str.len().eq(32).all()
    manifest = (artifact_root / "versions" / _mv.id / "MANIFEST.yml").read_bytes()
    row = listed.set_index("name").loc["versions/V1/MANIFEST.yml"]
    assert row["md5"] == hashlib.md5(manifest).hexdigest()
    assert row["sha256"] == hashlib.sha256(manifest).hexdigest()
    by_alias = reg.list_artifacts("floe://model/ML.REGISTRY.M/versions/DEFAULT/env")
    assert set(by_alias["name"]) == {"versions/V1/env/conda.yml", "versions/V1/env/requirements.txt"}

    files = reg.get_artifact("floe://model/m/versions/LAST/env/conda.yml", tmp_path / "one")
    assert files == [tmp_path / "one" / "conda.yml"]
    folder = reg.get_artifact("floe://model/m/versions/v1/env/", tmp_path / "env")
    assert sorted(p.name for p in folder) == ["conda.yml", "requirements.txt"]
    whole = reg.get_artifact("floe://model/m/versions/v1/", tmp_path / "all")
    assert (tmp_path / "all" / "MANIFEST.yml") in whole
    with pytest.raises(NotFound, match="names no file"):
        reg.list_artifacts("floe://model/m/versions/v1/nope.txt")


def test_symlinks_in_a_version_are_refused(logged, artifact_root: Path, tmp_path: Path) -> None:
    reg, mv, _, _ = logged
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, artifact_root / "versions" / mv.id / "model" / "leak.txt")
    with pytest.raises(InvalidInput, match="symbolic link"):
        reg.list_artifacts("floe://model/m/versions/v1/")
    with pytest.raises((InvalidInput, NotFound),
                       match=r"names no file or folder of .*; list them: floe artifacts list"
                       r"|is a symbolic link; Floe never follows links"):
        reg.get_artifact("floe://model/m/versions/v1/model/leak.txt", tmp_path / "out")
    assert not (tmp_path / "out" / "leak.txt").exists()


def test_tampered_artifact_is_detected_before_unpickling(
    reg: Registry, artifact_root: Path, tmp_path: Path
) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    marker = tmp_path / "pwned"
    payload = textwrap.dedent(
        f"""
        import os, pickle
        class Evil:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        pickle.dump(Evil(), open({str(artifact_root / "versions" / mv.id / "model" / "model.pkl")!r}, "wb"))
        """
    )
    subprocess.run([sys.executable, "-c", payload], check=True)
    with pytest.raises(IntegrityError, match=r"model/model.pkl \(sha256 differs\)"):
        mv.load()
    assert not marker.exists()
    with pytest.raises(IntegrityError, match=r"model/model\.pkl \(sha256 differs\); nothing was loaded: "
                                             r"restore the artifact root from a backup"):
        mv.run(X, function_name="predict")


def test_tampered_manifest_is_detected(reg: Registry, artifact_root: Path) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    manifest = artifact_root / "versions" / mv.id / "MANIFEST.yml"
    manifest.write_text(manifest.read_text().replace("cloudpickle", "xgboost-ubj"))
    with pytest.raises(IntegrityError, match="manifest .* was modified after logging"):
        mv.load()


def test_environment_mismatch_is_refused_and_forced(reg: Registry) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(
        clf, model_name="m", version_name="v1", sample_input_data=X[:5], python_version="3.9"
    )
    with pytest.raises(EnvironmentMismatch, match=r"Python 3.9 \(logged\) vs 3.11 \(here\)"):
        mv.load()
    with pytest.warns(EnvironmentWarning, match="force=True"):
        loaded = mv.load(force=True)
    assert np.array_equal(loaded.predict(X), clf.predict(X))


def test_framework_major_mismatch_is_refused(
    reg: Registry, catalog_url: str, artifact_root: Path
) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    # Rewrite the version as if it had been logged under scikit-learn 0.x, keeping the
    # catalog's record of the manifest's hash consistent (as a genuine old version would be).
    path = artifact_root / "versions" / mv.id / "MANIFEST.yml"
    doc = yaml.safe_load(path.read_text())
    doc["env"]["frameworks"]["scikit-learn"] = "0.24.2"
    data = yaml.safe_dump(doc, sort_keys=False).encode()
    path.write_bytes(data)
    import hashlib

    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE floe_version SET manifest_sha256 = :h WHERE id = :i"),
            {"h": hashlib.sha256(data).hexdigest(), "i": mv.id},
        )
    engine.dispose()
    mv = reg.get_model("m").version("v1")  # read afresh: the handle kept the logged hash
    with pytest.raises(EnvironmentMismatch, match=r"scikit-learn 0.24.2 \(logged\) vs 1\."):
        mv.load()
    with pytest.warns(EnvironmentWarning):
        mv.load(force=True)


def test_killed_log_leaves_no_version_and_gc_removes_its_files(
    reg: Registry, catalog_url: str, artifact_root: Path, tmp_path: Path
) -> None:
    clf, X = iris_classifier()
    live = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    script = textwrap.dedent(
        f"""
        import os, signal
        from registry import Registry
        from registry.catalog.store import CatalogStore
        from tests.models import iris_classifier

        def die(*args, **kwargs):  # the process dies after the files are written
            os.kill(os.getpid(), signal.SIGKILL)

        CatalogStore.add_version = die
        clf, X = iris_classifier()
        reg = Registry(catalog_url={catalog_url!r}, artifact_root={str(artifact_root)!r})
        reg.log_model(clf, model_name="m", version_name="v2", sample_input_data=X[:5])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[3], capture_output=True
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    stored = {p.name for p in (artifact_root / "versions").iterdir()}
    assert len(stored) == 2  # the orphan is on storage ...
    assert [v.version_name for v in reg.get_model("m").versions()] == ["V1"]  # ... not visible
    assert reg.gc() == []  # younger than the grace period: could be a log in progress
    removed = reg.gc(grace_period_s=0)
    assert removed == list(stored - {live.id})
    assert {p.name for p in (artifact_root / "versions").iterdir()} == {live.id}
    assert len(live.run(X, function_name="predict")) == len(X)


def test_failed_log_removes_what_it_wrote(reg: Registry, artifact_root: Path) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    before = {p.name for p in (artifact_root / "versions").iterdir()}
    with pytest.raises(InvalidInput, match="value inf is not valid JSON; store finite numbers or None"):
        reg.log_model(clf, model_name="m", version_name="v2", sample_input_data=X[:5],
                      metrics={"bad": float("inf")})
    with pytest.raises(InvalidInput, match="/does/not/exist is not a file; pass existing file paths"):
        reg.log_model(clf, model_name="m", version_name="v2", sample_input_data=X[:5],
                      user_files={"data": ["/does/not/exist"]})
    assert {p.name for p in (artifact_root / "versions").iterdir()} == before
    assert [v.version_name for v in reg.get_model("m").versions()] == ["V1"]
