"""The artifact store on S3: the same registry operations as on a local root, against moto's
standalone S3 server on loopback (a real S3-protocol server, not a mock)."""

from __future__ import annotations

import hashlib
import pickle
import uuid
from pathlib import Path

import pytest

from registry import Registry
from registry.artifacts.ownership import ROOT_MARKER
from registry.artifacts.store import ArtifactStore
from registry.errors import Conflict, IntegrityError, InvalidInput, NotFound
from registry.runtime.load import clear_loaded_models
from tests.models import iris_classifier
from tests.s3server import S3Server, s3_prefix_fixture, s3_server_fixture  # noqa: F401

FILES = [
    "MANIFEST.yml", "env/conda.yml", "env/requirements.txt", "explain/background.parquet",
    "model/model.pkl",
]


@pytest.fixture
def s3_reg(catalog_url: str, s3_server: S3Server, s3_prefix: str) -> Registry:
    return Registry(catalog_url=catalog_url, artifact_root=s3_server.root(s3_prefix))


def _log_iris(reg: Registry, version: str = "v1") -> object:
    clf, X = iris_classifier()
    return reg.log_model(clf, model_name="iris", version_name=version, sample_input_data=X[:5])


def _version_keys(server: S3Server, prefix: str, version_id: str) -> list[str]:
    """The objects of one version, as paths relative to its folder."""
    folder = f"{prefix}/versions/{version_id}/"
    return [k[len(folder) :] for k in server.keys(folder) if not k.endswith("/")]


class _Tripwire:
    """Unpickling this creates ``path``: proof that a tampered pickle was deserialised."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_log_load_run_round_trip(s3_reg: Registry, s3_server: S3Server, s3_prefix: str) -> None:
    clf, X = iris_classifier()
    mv = s3_reg.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:5])
    assert _version_keys(s3_server, s3_prefix, mv.id) == FILES

    loaded = s3_reg.get_model("iris").version("v1").load()
    assert (loaded.predict(X) == clf.predict(X)).all()
    out = mv.run(X, function_name="predict")
    assert list(out.iloc[:, -1]) == list(clf.predict(X))


def test_list_artifacts_gives_sizes_and_hashes(
    s3_reg: Registry, s3_server: S3Server, s3_prefix: str
) -> None:
    mv = _log_iris(s3_reg)
    listing = s3_reg.list_artifacts("floe://model/iris/versions/V1/")
    assert list(listing["name"]) == [f"versions/V1/{f}" for f in FILES]

    client = s3_server.client()
    for name, size, sha in zip(listing["name"], listing["size"], listing["sha256"], strict=True):
        key = f"{s3_prefix}/versions/{mv.id}/{name.removeprefix('versions/V1/')}"
        body = client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
        assert (size, sha) == (len(body), hashlib.sha256(body).hexdigest())
    assert listing["md5"].notna().all()  # MANIFEST.yml's was NaN before
    assert listing["last_modified"].notna().all()

    env = s3_reg.list_artifacts("floe://model/iris/versions/V1/env")
    assert list(env["name"]) == ["versions/V1/env/conda.yml", "versions/V1/env/requirements.txt"]


def test_get_artifact_downloads_a_file_and_a_folder(s3_reg: Registry, tmp_path: Path) -> None:
    _log_iris(s3_reg)
    [pkl] = s3_reg.get_artifact("floe://model/iris/versions/V1/model/model.pkl", tmp_path / "f")
    assert pkl == tmp_path / "f" / "model.pkl"
    assert pkl.stat().st_size > 0

    files = s3_reg.get_artifact("floe://model/iris/versions/V1/env", tmp_path / "d")
    assert sorted(files) == [tmp_path / "d" / "conda.yml", tmp_path / "d" / "requirements.txt"]
    assert "scikit-learn" in (tmp_path / "d" / "requirements.txt").read_text()


def test_a_tampered_object_is_refused_before_unpickling(
    s3_reg: Registry, s3_server: S3Server, s3_prefix: str, floe_home: Path, tmp_path: Path
) -> None:
    mv = _log_iris(s3_reg)
    tripwire = tmp_path / "unpickled"
    s3_server.client().put_object(
        Bucket=s3_server.bucket,
        Key=f"{s3_prefix}/versions/{mv.id}/model/model.pkl",
        Body=pickle.dumps(_Tripwire(tripwire)),
    )
    assert not (floe_home / "cache" / mv.id).exists()

    with pytest.raises(IntegrityError, match=r"model/model.pkl \(sha256 differs\).*restore"):
        mv.load()
    assert not tripwire.exists()
    assert not (floe_home / "cache" / mv.id).exists()  # the cache only receives checked copies


def test_a_tampered_cached_copy_is_refused(
    s3_reg: Registry, floe_home: Path, tmp_path: Path
) -> None:
    mv = _log_iris(s3_reg)
    X = iris_classifier()[1]
    mv.run(X[:5], function_name="predict")
    cached = floe_home / "cache" / mv.id / "model" / "model.pkl"
    assert cached.is_file()
    tripwire = tmp_path / "unpickled"
    cached.write_bytes(pickle.dumps(_Tripwire(tripwire)))

    with pytest.raises(IntegrityError, match=r"local cache.*model/model.pkl \(sha256 differs\)"):
        mv.load()  # every load verifies again
    clear_loaded_models()  # as a new process would start
    with pytest.raises(IntegrityError, match=r"local cache.*model/model.pkl \(sha256 differs\)"):
        mv.run(X[:5], function_name="predict")
    assert not tripwire.exists()


def test_delete_version_and_model_remove_their_objects(
    s3_reg: Registry, s3_server: S3Server, s3_prefix: str
) -> None:
    v1, v2 = _log_iris(s3_reg, "v1"), _log_iris(s3_reg, "v2")
    s3_reg.get_model("iris").delete_version("v2")
    assert s3_server.keys(f"{s3_prefix}/versions/{v2.id}") == []
    assert _version_keys(s3_server, s3_prefix, v1.id) == FILES

    s3_reg.delete_model("iris")
    assert s3_server.keys(f"{s3_prefix}/versions/{v1.id}") == []


def test_gc_removes_orphans_and_keeps_live_versions(
    s3_reg: Registry, s3_server: S3Server, s3_prefix: str
) -> None:
    mv = _log_iris(s3_reg)
    orphan = uuid.uuid4().hex
    client = s3_server.client()
    for rel in ("model/model.pkl", "env/conda.yml"):
        key = f"{s3_prefix}/versions/{orphan}/{rel}"
        client.put_object(Bucket=s3_server.bucket, Key=key, Body=b"left by a killed writer")

    assert s3_reg.gc(grace_period_s=3600) == []
    assert s3_server.keys(f"{s3_prefix}/versions/{orphan}/") != []

    assert s3_reg.gc(grace_period_s=0) == [orphan]
    assert s3_server.keys(f"{s3_prefix}/versions/{orphan}") == []
    assert _version_keys(s3_server, s3_prefix, mv.id) == FILES
    clf, X = iris_classifier()  # the live version still loads, and is the model it was
    assert (mv.load().predict(X) == clf.predict(X)).all()  # type: ignore[attr-defined]


def test_rename_across_namespaces_keeps_artifacts_reachable(
    catalog_url: str, s3_server: S3Server, s3_prefix: str
) -> None:
    root = s3_server.root(s3_prefix)
    reg = Registry(catalog_url=catalog_url, artifact_root=root)
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:5])

    reg.get_model("iris").rename("OTHER.PLACE.FLOWERS")
    moved = Registry("OTHER", "PLACE", catalog_url=catalog_url, artifact_root=root)
    mv = moved.get_model("FLOWERS").version("v1")
    assert (mv.load().predict(X) == clf.predict(X)).all()
    assert len(moved.list_artifacts("floe://model/FLOWERS/versions/V1/")) == len(FILES)


def test_export_from_s3(s3_reg: Registry, tmp_path: Path) -> None:
    mv = _log_iris(s3_reg)
    target = mv.export(tmp_path / "out")
    found = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert found == FILES
    listing = s3_reg.list_artifacts("floe://model/iris/versions/V1/model/model.pkl")
    assert hashlib.sha256((target / "model/model.pkl").read_bytes()).hexdigest() == (
        listing["sha256"].iloc[0]
    )


def test_a_missing_bucket_fails_the_log_and_registers_nothing(
    catalog_url: str, s3_server: S3Server
) -> None:
    root = S3Server(s3_server.endpoint, "no-such-bucket").root("x")
    reg = Registry(catalog_url=catalog_url, artifact_root=root)
    # One FloeError naming the root and the fix (pyarrow's raw OSError before).
    with pytest.raises(InvalidInput, match="no-such-bucket.*check that the artifact root is"):
        _log_iris(reg)
    with pytest.raises(NotFound, match="has no model IRIS; list them: floe models list"):
        reg.get_model("iris")


def test_a_missing_manifest_is_reported_without_the_uri_secrets(
    catalog_url: str, s3_server: S3Server, s3_prefix: str
) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    root = s3_server.root(s3_prefix).replace("s3://", f"s3://testing:{secret}@")
    reg = Registry(catalog_url=catalog_url, artifact_root=root)
    mv = _log_iris(reg)
    s3_server.client().delete_object(
        Bucket=s3_server.bucket, Key=f"{s3_prefix}/versions/{mv.id}/MANIFEST.yml"
    )
    with pytest.raises(IntegrityError, match=r"manifest .* is missing .*restore") as info:
        mv.load()
    assert secret not in str(info.value)
    assert f"s3://testing:***@{s3_server.bucket}/{s3_prefix}" in str(info.value)


def test_a_bad_root_uri_is_refused_without_its_secret() -> None:
    with pytest.raises(InvalidInput, match=r"s3://key:\*\*\*@bucket/p.*FLOE_ARTIFACT_ROOT") as info:
        ArtifactStore("s3://key:topsecret@bucket/p?no_such_option=1")
    assert "topsecret" not in str(info.value)


def test_two_catalogs_cannot_share_an_s3_root(
    s3_reg: Registry, s3_server: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    mv = _log_iris(s3_reg)
    assert f"{s3_prefix}/{ROOT_MARKER}" in s3_server.keys(s3_prefix)
    other = Registry(catalog_url=f"sqlite:///{tmp_path / 'other.db'}",
                     artifact_root=s3_server.root(s3_prefix))
    with pytest.raises(Conflict, match="belongs to catalog"):
        other.gc(grace_period_s=0)
    with pytest.raises(Conflict, match="two catalogs must not share a root"):
        _log_iris(other)
    assert "MANIFEST.yml" in _version_keys(s3_server, s3_prefix, mv.id)
