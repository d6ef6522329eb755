"""One artifact root per catalog: the root records its owner, a second catalog is refused on
publish and gc, and opening a root writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from registry import Conflict, Registry
from registry.artifacts.ownership import ROOT_MARKER
from registry.artifacts.store import ArtifactStore
from tests.models import iris_classifier


def test_opening_a_root_writes_nothing(catalog_url: str, tmp_path: Path) -> None:
    root = tmp_path / "new-root"
    ArtifactStore(str(root))
    reg = Registry(catalog_url=catalog_url, artifact_root=str(root))
    assert not root.exists()  # root/versions was made before
    assert reg.gc(grace_period_s=0) == []
    assert [p.name for p in root.iterdir()] == [ROOT_MARKER]  # gc, a write, claims the root


def test_two_catalogs_cannot_share_a_root(
    reg: Registry, artifact_root: Path, tmp_path: Path
) -> None:
    clf, X = iris_classifier()
    mine = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    marker = yaml.safe_load((artifact_root / ROOT_MARKER).read_text())
    assert marker["catalog_id"] and marker["catalog"] == reg.catalog_url

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = Registry(catalog_url=other_url, artifact_root=str(artifact_root))
    # gc of the other catalog removed every version of the first before.
    with pytest.raises(Conflict, match=r"belongs to catalog .* not to .*other.db.*own artifact"):
        other.gc(grace_period_s=0)
    with pytest.raises(Conflict, match="two catalogs must not share a root"):
        other.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    assert {p.name for p in (artifact_root / "versions").iterdir()} == {mine.id}
    assert len(mine.run(X, function_name="predict")) == len(X)
    assert reg.gc(grace_period_s=0) == []  # the owner still collects its own root


def test_gc_of_an_unmarked_root_holding_only_foreign_versions_is_refused(
    reg: Registry, artifact_root: Path, tmp_path: Path
) -> None:
    clf, X = iris_classifier()
    mine = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    (artifact_root / ROOT_MARKER).unlink()  # a root made before Floe wrote the marker
    other = Registry(catalog_url=f"sqlite:///{tmp_path / 'other.db'}",
                     artifact_root=str(artifact_root))
    with pytest.raises(Conflict, match="none of its 1 stored versions belongs to this catalog"):
        other.gc(grace_period_s=0)
    assert (artifact_root / "versions" / mine.id / "MANIFEST.yml").is_file()
    assert reg.gc(grace_period_s=0) == []  # the catalog that knows its versions claims it
    assert (artifact_root / ROOT_MARKER).is_file()
    with pytest.raises(Conflict, match=r"two catalogs must not share a root.*give this catalog its own "
                                       r"artifact root \(--artifact-root or FLOE_ARTIFACT_ROOT\)"):
        other.gc(grace_period_s=0)
