"""Staging a version: the typed manifest it builds, how code paths are recorded, and what it
refuses before saving."""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import InvalidInput, ModelFunctionInfo, NotFound, Registry, Task
from registry.packaging.environment import EnvironmentSpec
from registry.packaging.manifest import ExplainSpec, FileEntry, Manifest, parse_manifest
from registry.packaging.options import LogOptions
from registry.packaging.stage import StagedVersion, stage_version
from tests.models import iris_classifier


def _stage(model: object, **overrides: object) -> StagedVersion:
    kwargs: dict[str, object] = dict(
        version_id="abc123", sample_input_data=None, signatures=None, task=None, options=None,
        code_paths=None, ext_modules=None, conda_dependencies=None, pip_requirements=None,
        python_version=None, user_files=None,
    )
    kwargs.update(overrides)
    return stage_version(model, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def staged() -> Iterator[StagedVersion]:
    clf, X = iris_classifier()
    version = _stage(clf, sample_input_data=X[:10], task="tabular_multi_classification",
                     pip_requirements=["requests>=2"])
    yield version
    version.cleanup()


def test_staging_builds_a_typed_manifest(staged: StagedVersion) -> None:
    manifest = staged.manifest
    assert isinstance(manifest, Manifest)
    assert (manifest.version_id, manifest.framework) == ("abc123", "sklearn")
    assert manifest.task == staged.task == Task.TABULAR_MULTI_CLASSIFICATION
    assert isinstance(manifest.env, EnvironmentSpec)
    assert manifest.env.python == platform.python_version()
    assert manifest.env.pip_requirements == ("requests>=2",)
    assert isinstance(manifest.explain, ExplainSpec)
    assert manifest.explain.explains == "predict_proba" and manifest.explain.kind == "linear"
    assert manifest.model["format"] == "cloudpickle"
    assert all(isinstance(f, FileEntry) for f in manifest.files.values())
    assert staged.size_bytes == sum((staged.root / rel).stat().st_size for rel in manifest.files)
    names = [f.name for f in staged.functions]
    assert names[0] == "predict" and names[-1] == "explain"
    assert staged.functions == [ModelFunctionInfo.from_manifest(f) for f in manifest.functions]


def test_the_staged_manifest_round_trips_through_its_yaml(staged: StagedVersion) -> None:
    data = staged.manifest.to_yaml()
    assert parse_manifest(data, version_id="abc123") == staged.manifest
    assert parse_manifest(data, version_id="abc123").to_yaml() == data


def test_the_environment_files_come_from_the_typed_environment(staged: StagedVersion) -> None:
    requirements = (staged.root / "env" / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("scikit-learn==") for line in requirements)
    assert "requests>=2" in requirements
    conda = (staged.root / "env" / "conda.yml").read_text()
    python = ".".join(platform.python_version().split(".")[:2])
    assert f"python=={python}.*" in conda


def test_explainability_off_leaves_no_explain_section() -> None:
    clf, X = iris_classifier()
    version = _stage(clf, sample_input_data=X[:10], task="TABULAR_MULTI_CLASSIFICATION",
                     options=LogOptions(enable_explainability=False))
    try:
        assert version.manifest.explain is None
        assert "explain" not in [f.name for f in version.functions]
        assert "explain/background.parquet" not in version.manifest.files
    finally:
        version.cleanup()


def test_options_are_checked_before_the_model_is_looked_at() -> None:
    """A bad option is reported even for an object no handler takes: nothing is saved."""
    with pytest.raises(InvalidInput, match="unknown option 'enable_explainabilty'"):
        _stage(object(), options={"enable_explainabilty": False})


def test_staging_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where staging directories go
    clf, X = iris_classifier()
    with pytest.raises(InvalidInput, match="code path .* does not exist"):
        _stage(clf, sample_input_data=X[:10], code_paths=[tmp_path / "missing.py"])
    assert list(scratch.iterdir()) == []


def test_two_code_paths_with_one_name_are_refused(reg: Registry, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder / "utils").mkdir(parents=True)
        (tmp_path / folder / "utils" / "__init__.py").write_text(f"WHERE = {folder!r}\n")
    clf, X = iris_classifier()
    with pytest.raises(InvalidInput, match=r"two code paths are named 'utils'.*rename one"):
        reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5],
                      code_paths=[tmp_path / "a" / "utils", tmp_path / "b" / "utils"])
    with pytest.raises(NotFound, match="has no model M; list them: floe models list"):
        reg.get_model("m")
