"""Registry: opening a namespace writes nothing; reads of one that does not exist are empty."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import NotFound, Registry
from registry.api.listing import SHOW_MODELS_COLUMNS
from tests.models import iris_classifier


def _namespaces(catalog_url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT database_name, schema_name FROM floe_namespace "
                "ORDER BY database_name, schema_name"
            ))
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def test_reads_of_a_namespace_that_does_not_exist_write_nothing(
    catalog_url: str, artifact_root: Path
) -> None:
    typo = Registry("TYPO", catalog_url=catalog_url, artifact_root=str(artifact_root))
    assert not typo.exists()
    listed = typo.show_models()
    assert listed.empty and list(listed.columns) == SHOW_MODELS_COLUMNS
    assert typo.models() == []
    with pytest.raises(NotFound, match=r"TYPO.REGISTRY has no model M; list them: floe models "
                       r"list --database TYPO --schema REGISTRY \(TYPO.REGISTRY does not exist"):
        typo.get_model("m")
    with pytest.raises(NotFound, match="TYPO.REGISTRY does not exist"):
        typo.delete_model("m")
    assert _namespaces(catalog_url) == []  # Registry() created TYPO.REGISTRY before

    clf, X = iris_classifier()
    typo.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    assert typo.exists() and [m.name for m in typo.models()] == ["M"]
    assert _namespaces(catalog_url) == [("TYPO", "REGISTRY")]  # the first write creates it

    typo.get_model("m").rename("ML.MOVED.M")  # a rename into a namespace creates it
    moved = Registry("ML", "MOVED", catalog_url=catalog_url, artifact_root=str(artifact_root))
    assert moved.exists() and moved.show_models()["name"].tolist() == ["M"]
    assert _namespaces(catalog_url) == [("ML", "MOVED"), ("TYPO", "REGISTRY")]


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_a_read_only_sqlite_catalog_opens_and_lists(
    catalog_url: str, artifact_root: Path, tmp_path: Path
) -> None:
    reg = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    mv.set_alias("prod")
    reg.sql("CREATE ROLE analyst")
    source, copy = sa.make_url(catalog_url).database, tmp_path / "read-only.db"
    assert source is not None
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a consistent copy, write-ahead log included
    copy.chmod(0o444)
    # mode=ro: read-only even for root, who may write a 0444 file.
    url = f"sqlite:///file:{copy}?mode=ro&uri=true"
    for database in ("ML", "TYPO"):
        opened = Registry(database, catalog_url=url, artifact_root=str(artifact_root))
        listed = opened.show_models()["name"].tolist()
        assert listed == (["M"] if database == "ML" else [])  # TYPO: refused to write before
        assert opened.exists() == (database == "ML")
    ro = Registry(catalog_url=url, artifact_root=str(artifact_root))
    assert ro.get_model("m").version("prod") == mv
    assert [m.name for m in ro.models()] == ["M"]
    analyst = Registry(catalog_url=url, artifact_root=str(artifact_root), role="analyst")
    assert analyst.show_models().empty
    with pytest.raises(NotFound, match="ML.REGISTRY has no model M"):  # its refusal unrecorded
        analyst.get_model("m")
