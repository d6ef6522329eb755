"""Who may do what to a model: every operation by every kind of privilege holder, on SQLite and
PostgreSQL, through the Python API opened directly and through a registry server with a
user's token. A role without a privilege gets NotFound exactly as if the
model did not exist; one that sees the model but lacks the privilege gets PermissionDenied
naming it; a refused change leaves the model exactly as it was."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from registry import AlreadyExists, InvalidInput, NotFound, PermissionDenied, Registry
from tests.models import iris_classifier
from tests.served import served

USAGE, READ, OWNERSHIP = 1, 2, 3
# role -> what it holds on ML.REGISTRY.M, and how it came to hold it
HOLDERS = {
    "OWNER": OWNERSHIP,  # holds CREATE MODEL on the schema and created M
    "USER_R": USAGE,  # GRANT USAGE ON MODEL
    "READER": READ,  # GRANT READ ON MODEL
    "ALL_R": USAGE,  # GRANT USAGE ON ALL MODELS IN SCHEMA, after M was created
    "FUTURE_R": USAGE,  # GRANT USAGE ON FUTURE MODELS IN SCHEMA, before M was created
    "TOP": USAGE,  # holds MID, which holds BASE, which has USAGE on M
    "NOBODY": 0,
    "CREATOR": 0,  # CREATE MODEL on the schema, nothing on M
}


def setup_holders(catalog_url: str, artifact_root: Path) -> dict[str, Any]:
    admin = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    for role in [*HOLDERS, "BASE", "MID"]:
        admin.sql(f"CREATE ROLE {role}")
    clf, X = iris_classifier()
    admin.log_model(clf, model_name="other", version_name="v1", sample_input_data=X[:5])
    admin.sql("GRANT CREATE MODEL ON SCHEMA ML.REGISTRY TO ROLE owner")
    admin.sql("GRANT CREATE MODEL ON SCHEMA ML.REGISTRY TO ROLE creator")
    admin.sql("GRANT USAGE ON FUTURE MODELS IN SCHEMA ML.REGISTRY TO ROLE future_r")
    owner = _as(catalog_url, artifact_root, "OWNER")
    mv = owner.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5],
                         metrics={"acc": 0.9})
    mv.set_alias("champion")
    owner.get_model("m").set_tag("team", "risk")
    owner.sql("GRANT USAGE ON MODEL m TO ROLE user_r")
    owner.sql("GRANT READ ON MODEL ML.REGISTRY.M TO ROLE reader")
    owner.sql("GRANT USAGE ON MODEL m TO ROLE base")
    admin.sql("GRANT USAGE ON ALL MODELS IN SCHEMA ML.REGISTRY TO ROLE all_r")
    admin.sql("GRANT ROLE base TO ROLE mid")
    admin.sql("GRANT ROLE mid TO ROLE top")
    return {"admin": admin, "X": X, "clf": clf}


def _as(catalog_url: str, artifact_root: Path, role: str) -> Registry:
    return Registry(catalog_url=catalog_url, artifact_root=str(artifact_root), role=role)


def snapshot(admin: Registry) -> Any:
    """Everything a change could touch, read as ADMIN."""
    models = admin.show_models().drop(columns=["created_on"]).to_dict("records")
    out: list[Any] = [models]
    for name in sorted(m["name"] for m in models):
        m = admin.get_model(name)
        out.append((m.comment, m.show_tags(),
                    m.show_versions().drop(columns=["created_on"]).to_dict("records"),
                    [mv.show_metrics() for mv in m.versions()]))
    return out


# Each operation: (name, privilege needed, call(registry, context)). Order: reads first, then
# changes that keep the model, then the ones that remove or move it.
Op = tuple[str, int, Callable[[Registry, dict[str, Any]], Any]]
OPERATIONS: list[Op] = [
    ("get_model", USAGE, lambda r, c: r.get_model("m")),
    ("read the comment", USAGE, lambda r, c: r.get_model("m").comment),
    ("show tags", USAGE, lambda r, c: r.get_model("m").show_tags()),
    ("list versions", USAGE, lambda r, c: r.get_model("m").show_versions()),
    ("resolve an alias", USAGE, lambda r, c: r.get_model("m").version("champion")),
    ("read aliases", USAGE, lambda r, c: r.get_model("m").version("v1").aliases),
    ("show functions", USAGE, lambda r, c: r.get_model("m").default.show_functions()),
    ("run", USAGE, lambda r, c: r.get_model("m").default.run(c["X"][:3], function_name="predict")),
    ("show metrics", READ, lambda r, c: r.get_model("m").default.show_metrics()),
    ("list artifacts", READ, lambda r, c: r.list_artifacts("floe://model/m/versions/v1/")),
    ("get an artifact", READ, lambda r, c: r.get_artifact(
        "floe://model/m/versions/v1/MANIFEST.yml", str(c["tmp"] / f"get-{c['n']}"))),
    ("set the comment", OWNERSHIP, lambda r, c: setattr(r.get_model("m"), "comment", "new")),
    ("set a tag", OWNERSHIP, lambda r, c: r.get_model("m").set_tag("stage", "prod")),
    ("set a metric", OWNERSHIP, lambda r, c: r.get_model("m").default.set_metric("f1", 0.5)),
    ("set an alias", OWNERSHIP, lambda r, c: r.get_model("m").default.set_alias("prod")),
    ("set the default", OWNERSHIP, lambda r, c: setattr(r.get_model("m"), "default", "v1")),
    ("load the object", OWNERSHIP, lambda r, c: r.get_model("m").default.load()),
    ("export", OWNERSHIP, lambda r, c: r.get_model("m").default.export(
        c["tmp"] / f"export-{c['n']}")),
    ("log a version", OWNERSHIP, lambda r, c: r.log_model(
        c["clf"], model_name="m", version_name="v2", sample_input_data=c["X"][:5])),
    ("grant on it", OWNERSHIP, lambda r, c: r.sql("GRANT USAGE ON MODEL m TO ROLE nobody")),
    ("delete a version", OWNERSHIP, lambda r, c: r.get_model("m").delete_version("v2")),
    ("rename", OWNERSHIP, lambda r, c: (r.get_model("m").rename("m_renamed"),
                                        c.update(name="m_renamed"))),
    ("delete the model", OWNERSHIP, lambda r, c: r.delete_model(c["name"])),
]


@pytest.fixture(params=["direct", "server"])
def acting(request: pytest.FixtureRequest, catalog_url: str,
           artifact_root: Path) -> Iterator[Callable[[str], Registry]]:
    """How a test acts as a role: a registry opened on the catalog with ``role=``, or one
    through a registry server with the token of a user granted that role (X-Floe-Role)."""
    if request.param == "direct":
        yield lambda role: _as(catalog_url, artifact_root, role)
        return
    admin = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    with served(catalog_url, artifact_root) as (url, _):
        def through_server(role: str) -> Registry:
            admin.sql(f"CREATE USER IF NOT EXISTS u_{role} DEFAULT_ROLE = {role}")
            return Registry(url=url, token=admin.create_token(user=f"u_{role}"), role=role)
        yield through_server


@pytest.mark.parametrize("role", list(HOLDERS))
def test_every_operation_as_every_holder(
    catalog_url: str, artifact_root: Path, tmp_path: Path, role: str,
    acting: Callable[[str], Registry],
) -> None:
    state = setup_holders(catalog_url, artifact_root)
    admin: Registry = state["admin"]
    reg = acting(role)
    held = HOLDERS[role]
    listed = reg.show_models()["name"].tolist()
    assert ("M" in listed) == (held > 0)
    assert ("M" in [m.name for m in reg.models()]) == (held > 0)
    with pytest.raises(NotFound) as absent:
        reg.get_model("no_such_model")
    if held > 0:  # the question a UI asks before showing a button: never refused
        model = reg.get_model("m")
        assert [model.holds(p) for p in ("usage", "READ", "OWNERSHIP")] == [
            held >= USAGE, held >= READ, held >= OWNERSHIP]
        with pytest.raises(InvalidInput, match="privilege 'CREATE MODEL' is not one of a "
                           "model's: write USAGE, READ, OWNERSHIP"):
            model.holds("CREATE MODEL")
    context = {**state, "tmp": tmp_path, "name": "m"}
    for n, (name, needed, call) in enumerate(OPERATIONS):
        context["n"] = n
        if held >= needed:
            if name == "delete a version":  # the owner logged v2 above
                assert [v.version_name for v in reg.get_model("m").versions()] == ["V1", "V2"]
            call(reg, context)
            continue
        before = snapshot(admin)
        if held == 0:
            expected = NotFound if name != "log a version" else AlreadyExists
            with pytest.raises(expected) as info:
                call(reg, context)
            if expected is NotFound:  # word for word what a missing model gives
                assert str(info.value).replace(" M;", " NO_SUCH_MODEL;") == str(absent.value), name
        else:
            privilege = {READ: "READ", OWNERSHIP: "OWNERSHIP"}[needed]
            with pytest.raises(PermissionDenied, match=rf"needs {privilege}; .*GRANT {privilege} "
                               rf"ON MODEL ML\.REGISTRY\.M TO ROLE {role}") as info:
                call(reg, context)
            assert "holds USAGE" in str(info.value) or "holds READ" in str(info.value)
        assert snapshot(admin) == before, f"{name} as {role} changed something"
    if held < OWNERSHIP:
        assert "M" in admin.show_models()["name"].tolist()


def test_usage_holders_see_no_metrics_in_show_versions(catalog_url: str, artifact_root: Path) -> None:
    setup_holders(catalog_url, artifact_root)
    as_user = _as(catalog_url, artifact_root, "USER_R").get_model("m").show_versions()
    as_reader = _as(catalog_url, artifact_root, "READER").get_model("m").show_versions()
    assert '"metrics": null' in as_user["metadata"][0]
    assert '"metrics": {"acc": 0.9}' in as_reader["metadata"][0]


def test_a_create_model_holder_owns_what_it_creates(catalog_url: str, artifact_root: Path) -> None:
    state = setup_holders(catalog_url, artifact_root)
    creator = _as(catalog_url, artifact_root, "CREATOR")
    creator.log_model(state["clf"], model_name="mine", version_name="v1",
                      sample_input_data=state["X"][:5])
    listed = creator.show_models().set_index("name")
    assert list(listed.index) == ["MINE"] and listed.loc["MINE", "owner"] == "CREATOR"
    creator.get_model("mine").set_tag("stage", "dev")  # its owner may change it
    nobody = _as(catalog_url, artifact_root, "NOBODY")
    with pytest.raises(PermissionDenied, match=r"needs CREATE MODEL on schema ML\.REGISTRY; "
                       r".*GRANT CREATE MODEL ON SCHEMA ML\.REGISTRY TO ROLE NOBODY"):
        nobody.log_model(state["clf"], model_name="theirs", sample_input_data=state["X"][:5])
    assert "THEIRS" not in state["admin"].show_models()["name"].tolist()
    # FUTURE grants reach every model created later, with no further grant
    future = _as(catalog_url, artifact_root, "FUTURE_R")
    assert future.get_model("mine").default.run(state["X"][:2], function_name="predict").shape[0] == 2


def test_revocations_count_from_the_next_call(catalog_url: str, artifact_root: Path) -> None:
    state = setup_holders(catalog_url, artifact_root)
    admin: Registry = state["admin"]
    top = _as(catalog_url, artifact_root, "TOP")
    model = top.get_model("m")
    assert model.show_tags() == {"TEAM": "risk"}
    admin.sql("REVOKE ROLE mid FROM ROLE top")  # the inherited USAGE goes with it
    with pytest.raises(NotFound):
        model.show_tags()
    user = _as(catalog_url, artifact_root, "USER_R")
    mv = user.get_model("m").default
    mv.run(state["X"][:2], function_name="predict")
    admin.sql("REVOKE USAGE ON MODEL ML.REGISTRY.M FROM ROLE user_r")
    with pytest.raises(NotFound):
        mv.run(state["X"][:2], function_name="predict")
    admin.sql("REVOKE USAGE ON FUTURE MODELS IN SCHEMA ML.REGISTRY FROM ROLE future_r")
    future = _as(catalog_url, artifact_root, "FUTURE_R")
    assert future.get_model("m").name == "M"  # what it was granted stays: only future grants stop
    admin.log_model(state["clf"], model_name="later", sample_input_data=state["X"][:5])
    assert future.show_models()["name"].tolist() == ["M"]


def test_an_unknown_role_is_a_clear_error(catalog_url: str, artifact_root: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFound, match=re.escape("role GHOST does not exist; list roles: "
                                                 "floe roles list")):
        _as(catalog_url, artifact_root, "ghost")
    monkeypatch.setenv("FLOE_ROLE", "ghost")
    with pytest.raises(NotFound, match="role GHOST does not exist"):
        Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    monkeypatch.setenv("FLOE_ROLE", "public")
    reg = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root))
    assert reg.role == "PUBLIC" and isinstance(reg.show_models(), pd.DataFrame)
