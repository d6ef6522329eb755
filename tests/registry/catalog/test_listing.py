"""The listing behind show_models: exact for every name and order, whatever the text holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from registry import Registry
from registry.catalog.listing import refresh_listings
from registry.catalog.store import CatalogStore
from registry.catalog.tables import metadata
from tests.models import iris_classifier

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
        refresh_listings(conn)  # what migration 0005 does for rows written without summaries


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


def _listed(reg: Registry, name: str) -> tuple[list[str], dict[str, str], str | None]:
    row = reg.show_models().set_index("name").loc[name]
    return json.loads(row["versions"]), json.loads(row["aliases"]), row["default_version_name"]


def _truth(reg: Registry, name: str) -> tuple[list[str], dict[str, str], str | None]:
    """The same three read through the API, version by version."""
    m = reg.get_model(name)
    versions = m.versions()
    aliases = {
        alias: mv.version_name for mv in versions for alias in mv.aliases
        if alias not in ("DEFAULT", "FIRST", "LAST")
    }
    return [mv.version_name for mv in versions], dict(sorted(aliases.items())), m.default.version_name


def test_the_listing_follows_every_write(reg: Registry) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    assert _listed(reg, "M") == (["V1"], {}, "V1") == _truth(reg, "M")
    m = reg.get_model("m")
    v2 = reg.log_model(clf, model_name="m", version_name='"v 2"', sample_input_data=X[:5])
    v2.set_alias('"Prod"')
    m.version("v1").set_alias("champion")
    assert _listed(reg, "M") == (["V1", '"v 2"'], {"CHAMPION": "V1", '"Prod"': '"v 2"'}, "V1")
    m.version('"v 2"').set_alias("champion")  # the alias moves
    m.default = '"v 2"'
    assert _listed(reg, "M") == (["V1", '"v 2"'], {"CHAMPION": '"v 2"', '"Prod"': '"v 2"'},
                                 '"v 2"') == _truth(reg, "M")
    v2.unset_alias('"Prod"')
    m.delete_version("v1")
    m.rename("renamed")
    assert _listed(reg, "RENAMED") == (['"v 2"'], {"CHAMPION": '"v 2"'}, '"v 2"')
    assert _listed(reg, "RENAMED") == _truth(reg, "RENAMED")
