"""The typed manifest: old manifests still parse, malformed ones fail at read.

``fixtures/manifest_v1_*.yml`` are MANIFEST.yml files written by Floe before the manifest
was a typed model (commit 3580beb): an sklearn classifier with explain, and a CustomModel
with a sub-model, an artifact, code_paths, user_files and extra requirements.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
import yaml

from registry import (
    DataType,
    FeatureSpec,
    IntegrityError,
    ModelFunctionInfo,
    ModelSignature,
    Registry,
    Task,
)
from registry.artifacts.store import ArtifactStore
from registry.packaging.manifest import Manifest, parse_manifest
from tests.models import iris_classifier

FIXTURES = Path(__file__).with_name("fixtures")
OLD_MANIFESTS = sorted(FIXTURES.glob("manifest_v1_*.yml"))


@pytest.mark.parametrize("path", OLD_MANIFESTS, ids=lambda p: p.stem)
def test_a_manifest_written_before_the_typed_model_parses_and_dumps_to_the_same_bytes(
    path: Path,
) -> None:
    data = path.read_bytes()
    manifest = parse_manifest(data, version_id="old")
    assert manifest.to_yaml() == data
    assert manifest.manifest_version == 1
    assert manifest.created_on.utcoffset() is not None
    assert manifest.env.requirements == "env/requirements.txt"
    assert all(len(f.sha256) == 64 for f in manifest.files.values())


def test_the_old_manifests_read_as_typed_sections() -> None:
    sk = parse_manifest((FIXTURES / "manifest_v1_sklearn.yml").read_bytes(), version_id="old")
    assert (sk.framework, sk.task) == ("sklearn", Task.TABULAR_MULTI_CLASSIFICATION)
    assert sk.explain is not None
    assert (sk.explain.kind, sk.explain.explains) == ("linear", "predict_proba")
    assert sk.explain.features == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    predict = ModelFunctionInfo.from_manifest(sk.functions[0])
    assert predict.signature is not None
    assert predict.signature.inputs[0] == FeatureSpec("sepal_length", DataType.DOUBLE,
                                                      nullable=False)
    assert sk.size_bytes == sum(f.size for f in sk.files.values())

    custom = parse_manifest((FIXTURES / "manifest_v1_custom.yml").read_bytes(), version_id="old")
    assert custom.explain is None and custom.task == Task.UNKNOWN
    assert custom.code_paths == ("code/helper.py",)
    assert custom.user_files == ("user_files/docs/notes.txt",)
    assert custom.env.pip_requirements == ("requests>=2",)
    assert custom.env.conda_dependencies == ("libgomp",)
    sub = custom.model["models"]
    assert isinstance(sub, dict) and sub["clf"]["framework"] == "sklearn"  # type: ignore[index]


def _key_paths(doc: object, prefix: str = "") -> set[str]:
    """The nested keys of a YAML document; file paths and names under ``files``,
    ``frameworks`` and lists collapsed, so two versions of one kind compare equal."""
    if isinstance(doc, dict):
        out = set()
        for key, value in doc.items():
            name = "*" if prefix.endswith(("files", "frameworks")) else str(key)
            out.add(f"{prefix}.{name}")
            out |= _key_paths(value, f"{prefix}.{name}")
        return out
    if isinstance(doc, list):
        return set().union(*(_key_paths(item, f"{prefix}[]") for item in doc))
    return set()


def test_a_new_manifest_has_the_layout_of_the_old_ones(tmp_path: Path) -> None:
    reg = Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}", artifact_root=str(tmp_path / "a"))
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="iris", sample_input_data=X[:10],
                       task=Task.TABULAR_MULTI_CLASSIFICATION)
    new = yaml.safe_load((tmp_path / "a" / "versions" / mv.id / "MANIFEST.yml").read_text())
    old = yaml.safe_load((FIXTURES / "manifest_v1_sklearn.yml").read_text())
    assert list(new) == list(old)
    assert _key_paths(new) == _key_paths(old)


def test_a_function_round_trips_through_its_manifest_entry() -> None:
    fn = ModelFunctionInfo(
        "score", "predict",
        ModelSignature(
            inputs=(FeatureSpec("x", DataType.FLOAT, shape=(3,), nullable=False),),
            outputs=(FeatureSpec("y", DataType.INT64),),
        ),
        is_partitioned=True,
    )
    assert ModelFunctionInfo.from_manifest(fn.to_manifest()) == fn
    bare = ModelFunctionInfo("f", "f", None)
    assert ModelFunctionInfo.from_manifest(bare.to_manifest()) == bare


def test_the_manifest_is_frozen() -> None:
    manifest = parse_manifest((FIXTURES / "manifest_v1_sklearn.yml").read_bytes(),
                              version_id="old")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        manifest.task = Task.UNKNOWN  # type: ignore[misc]


# -- a malformed manifest fails at read, before anything is deserialised ----------------------


class _Planted:
    """Unpickling it creates a marker file: the test sees whether the model was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[Path]]:
        return (Path.touch, (self.marker,))


def _drop_model(doc: dict[str, Any]) -> None:
    del doc["model"]


def _size_as_text(doc: dict[str, Any]) -> None:
    doc["files"]["model/model.pkl"]["size"] = "big"


def _functions_as_text(doc: dict[str, Any]) -> None:
    doc["functions"] = "predict"


def _extra_top_level_key(doc: dict[str, Any]) -> None:
    doc["relax_version"] = True


def _extra_env_key(doc: dict[str, Any]) -> None:
    doc["env"]["cuda"] = "12.1"


def _unknown_task(doc: dict[str, Any]) -> None:
    doc["task"] = "CLUSTERING"


def _drop_code_paths(doc: dict[str, Any]) -> None:
    del doc["code_paths"]  # Floe has always written every key


def _file_outside_the_version(doc: dict[str, Any]) -> None:
    doc["files"]["../../elsewhere.pkl"] = doc["files"].pop("env/conda.yml")


def _plant(
    tmp_path: Path, damage: Callable[[dict[str, Any]], None] | None
) -> tuple[Registry, str, Path, bytes]:
    """A logged version whose pickle leaves a marker file when unpickled (its hashes
    recorded), and whose manifest ``damage`` changed; the catalog's hash of the manifest is
    kept consistent, so only the manifest's shape is wrong."""
    catalog_url = f"sqlite:///{tmp_path / 'c.db'}"
    root = tmp_path / "a"
    reg = Registry(catalog_url=catalog_url, artifact_root=str(root))
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", sample_input_data=X[:5],
                       options={"enable_explainability": False})
    version = root / "versions" / mv.id
    marker = tmp_path / "unpickled"
    planted = pickle.dumps(_Planted(marker))
    (version / "model" / "model.pkl").write_bytes(planted)
    doc = yaml.safe_load((version / "MANIFEST.yml").read_text())
    doc["files"]["model/model.pkl"] = {
        "size": len(planted),
        "sha256": hashlib.sha256(planted).hexdigest(),
        "md5": hashlib.md5(planted, usedforsecurity=False).hexdigest(),
    }
    if damage is not None:
        damage(doc)
    data = yaml.safe_dump(doc, sort_keys=False).encode()
    (version / "MANIFEST.yml").write_bytes(data)
    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE floe_version SET manifest_sha256 = :h WHERE id = :i"),
                     {"h": hashlib.sha256(data).hexdigest(), "i": mv.id})
    engine.dispose()
    return reg, mv.id, marker, data


def test_the_planted_pickle_is_unpickled_when_the_manifest_is_sound(tmp_path: Path) -> None:
    """The control for the next test: the marker shows deserialisation."""
    reg, _version_id, marker, _data = _plant(tmp_path, None)
    reg.get_model("m").version("LAST").load()
    assert marker.exists()


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (_drop_model, r"model: Field required"),
        (_size_as_text, r"files\.model/model\.pkl\.size"),
        (_functions_as_text, r"functions"),
        (_extra_top_level_key, r"relax_version: Extra inputs are not permitted"),
        (_extra_env_key, r"env\.cuda: Extra inputs are not permitted"),
        (_unknown_task, r"task: Input should be"),
        (_drop_code_paths, r"code_paths: Field required"),
        (_file_outside_the_version, r"'\.\./\.\./elsewhere\.pkl' is not a plain '/'-separated path"),
    ],
)
def test_a_malformed_manifest_fails_at_read_with_integrity_error(
    tmp_path: Path, damage: Callable[[dict[str, Any]], None], where: str
) -> None:
    reg, version_id, marker, data = _plant(tmp_path, damage)
    mv = reg.get_model("m").version("LAST")
    with pytest.raises(IntegrityError, match=rf"manifest of version {version_id} is malformed: "
                       rf".*{where}.*delete the version and log it again"):
        mv.load()
    _X = iris_classifier()[1]
    with pytest.raises(IntegrityError, match="is malformed"):
        mv.run(_X)
    assert not marker.exists()
    store = ArtifactStore(str(tmp_path / "a"))
    with pytest.raises(IntegrityError, match="is malformed"):
        store.read_manifest(version_id, hashlib.sha256(data).hexdigest())


def test_a_manifest_that_is_not_a_mapping_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError, match="holds a list, not a mapping"):
        parse_manifest(b"- 1\n- 2\n", version_id="v")
    with pytest.raises(IntegrityError, match="is not YAML"):
        parse_manifest(b"a: [1,\n", version_id="v")


def test_a_typed_manifest_is_what_read_manifest_returns(tmp_path: Path) -> None:
    reg = Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}", artifact_root=str(tmp_path / "a"))
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", sample_input_data=X[:5])
    data = (tmp_path / "a" / "versions" / mv.id / "MANIFEST.yml").read_bytes()
    manifest = ArtifactStore(str(tmp_path / "a")).read_manifest(
        mv.id, hashlib.sha256(data).hexdigest()
    )
    assert isinstance(manifest, Manifest)
    assert manifest.version_id == mv.id
    assert sorted(f.name for f in manifest.functions) == sorted(f.name for f in mv.show_functions())
