"""The listing behind show_models: exact for every name and order, whatever the text holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from registry import Registry
from registry.catalog.store import CatalogStore
from registry.catalog.tables import metadata

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _insert(store: CatalogStore, namespace_id: int) -> None:
    """Rows as a hand-edited catalog may hold them: a model name with the unit separator
    (Floe refuses it), versions created in the same microsecond, several aliases per version."""
    ids = {name: f"{i:032x}" for i, name in enumerate(["b", "a", "c", "\x1fodd", "[x"])}
    models = [
        dict(id=mid, namespace_id=namespace_id, name=name.upper() if name.isalpha() else name,
             comment={"b": 'say "hi"\x1f[1]', "a": None, "c": ""}.get(name), owner=f"o_{name}",
             created_on=T0 + timedelta(seconds=i), default_version_id=None)
        for i, (name, mid) in enumerate(ids.items())
    ]
    versions = []
    for name, count in (("b", 3), ("a", 1), ("\x1fodd", 1)):
        for j in range(count):
            versions.append(dict(
                # b's versions share one timestamp: the id decides (ids run backwards here).
                id=f"{9 - j}{ids[name][1:]}", model_id=ids[name], name=f"V{j}", comment=None,
                created_on=T0, created_by="u", framework="f", task="UNKNOWN",
                manifest_sha256="0" * 64, size_bytes=0, user_data={},
            ))
    by_name = {(v["model_id"], v["name"]): v["id"] for v in versions}
    models[0]["default_version_id"] = by_name[(ids["b"], "V1")]
    aliases = [
        dict(model_id=ids["b"], name=alias, version_id=by_name[(ids["b"], version)])
        for alias, version in (("PROD", "V0"), ("A_FIRST", "V0"), ("Z", "V2"))
    ]
    with store.engine.begin() as conn:
        for table, rows in (("floe_model", models), ("floe_version", versions),
                            ("floe_alias", aliases)):
            conn.execute(sa.insert(metadata.tables[table]), rows)


def test_show_models_is_exact_for_unusual_rows(catalog_url: str, artifact_root: Path) -> None:
    store = CatalogStore(catalog_url)
    try:
        namespace = store.ensure_namespace("ML", "REGISTRY")
        assert namespace.id is not None
        _insert(store, namespace.id)
    finally:
        store.dispose()
    df = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root)).show_models()
    assert df["name"].tolist() == ['"\x1fodd"', "A", "B", "C", '"[x"']  # code point order
    b = df.set_index("name").loc["B"]
    # Same timestamp: ordered by id, and the ids run backwards (V2's is smallest).
    assert json.loads(b["versions"]) == ["V2", "V1", "V0"]
    assert json.loads(b["aliases"]) == {"A_FIRST": "V0", "PROD": "V0", "Z": "V2"}
    assert (b["default_version_name"], b["comment"], b["owner"]) == ("V1", 'say "hi"\x1f[1]', "o_b")
    assert df["comment"].isna().tolist() == [True, True, False, False, True]
    assert df["comment"].tolist()[2:4] == ['say "hi"\x1f[1]', ""]
    assert json.loads(df.set_index("name").loc['"[x"', "versions"]) == []
    assert df["default_version_name"].isna().tolist() == [True, True, False, True, True]
    assert df["created_on"].tolist() == [T0 + timedelta(seconds=s) for s in (3, 1, 0, 2, 4)]
    assert json.loads(df["versions"][0]) == ["V0"]
