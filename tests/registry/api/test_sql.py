"""``Registry.sql`` with model statements: each gives what the Python API call it stands for
gives (the same listing, the same change, the same audit rows, the same error), on SQLite and
PostgreSQL, opened directly and through a registry server; an error about a name the
statement wrote points at it; LIST and GET refuse what ``list_artifacts`` and
``get_artifact`` refuse; a role sees and changes only what the API lets it."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from registry import (
    AlreadyExists,
    Conflict,
    FloeError,
    InvalidInput,
    Model,
    ModelVersion,
    NotFound,
    PermissionDenied,
    Registry,
)
from tests.models import iris_classifier
from tests.served import served

DONE = ["Statement executed successfully."]


@dataclass
class Registries:
    """The test's ADMIN registry, and more of the same kind (direct, or the server's
    clients) on other namespaces or as other roles."""

    admin: Registry
    catalog_url: str
    artifact_root: Path
    url: str | None = None
    token: str | None = None

    def open(self, database: str | None = None, schema: str | None = None, *,
             role: str | None = None) -> Registry:
        if self.url is None:
            return Registry(database, schema, catalog_url=self.catalog_url,
                            artifact_root=str(self.artifact_root), role=role)
        token = self.admin.create_token(role=role) if role is not None else self.token
        return Registry(database, schema, url=self.url, token=token)


@pytest.fixture(params=["direct", "server"])
def regs(request: pytest.FixtureRequest, catalog_url: str,
         artifact_root: Path) -> Iterator[Registries]:
    if request.param == "direct":
        yield Registries(Registry(catalog_url=catalog_url, artifact_root=str(artifact_root)),
                         catalog_url, artifact_root)
        return
    with served(catalog_url, artifact_root) as (url, token):
        yield Registries(Registry(url=url, token=token), catalog_url, artifact_root, url, token)


_classifier = functools.cache(iris_classifier)


def log(reg: Registry, name: str, *versions: str, metrics: dict[str, Any] | None = None) -> Model:
    clf, X = _classifier()
    for version in versions:
        reg.log_model(clf, model_name=name, version_name=version, sample_input_data=X[:5],
                      metrics=metrics)
    return reg.get_model(name)


def test_show_and_describe_give_the_api_listings(regs: Registries) -> None:
    reg = regs.admin
    m = log(reg, "iris", "v1", "v2")
    log(reg, "churn", "v1")
    m.version("v2").set_alias("champion")
    assert_frame_equal(reg.sql("SHOW MODELS"), reg.show_models())
    assert reg.sql("show models like '%R%';")["name"].tolist() == ["CHURN", "IRIS"]
    assert reg.sql("SHOW MODELS LIKE 'i_is'")["name"].tolist() == ["IRIS"]
    none = reg.sql("SHOW MODELS LIKE 'x%'")
    assert none.empty and list(none.columns) == list(reg.show_models().columns)
    assert_frame_equal(reg.sql("DESCRIBE MODEL iris"),
                       reg.show_models().iloc[[1]].reset_index(drop=True))

    assert_frame_equal(reg.sql("SHOW VERSIONS IN MODEL iris"), m.show_versions())
    assert reg.sql("SHOW VERSIONS LIKE 'v2' IN MODEL iris")["name"].tolist() == ["V2"]

    champion = m.version("champion")
    functions = reg.sql("SHOW FUNCTIONS IN MODEL iris VERSION champion")
    assert functions["name"].tolist() == [f.name for f in champion.show_functions()]
    predict = functions.set_index("name").loc["predict"]
    signature = champion.get_function("predict").signature
    assert signature is not None
    assert json.loads(predict["arguments"]) == [
        {"name": f.name, "type": f.dtype.value} for f in signature.inputs]
    assert json.loads(predict["return_type"]) == [
        {"name": f.name, "type": f.dtype.value} for f in signature.outputs]
    assert (predict["version_name"], predict["min_num_arguments"], predict["max_num_arguments"],
            predict["language"], predict["is_table_function"]) == ("V2", 4, 4, "PYTHON", False)
    versions = m.show_versions().set_index("name")
    assert predict["created_on"] == versions.loc["V2", "created_on"]
    default = reg.sql("SHOW FUNCTIONS LIKE 'PREDICT%' IN MODEL iris")  # the default version's
    assert default["name"].tolist() == ["predict", "predict_log_proba", "predict_proba"]
    assert set(default["version_name"]) == {"V1"}


def test_show_models_in_a_schema_a_database_and_models_elsewhere(regs: Registries) -> None:
    reg = regs.admin
    log(reg, "a", "v1")
    log(reg, "b", "v1").rename("ML.OTHER.B")
    other = regs.open("ml", "other")
    assert_frame_equal(reg.sql("SHOW MODELS IN SCHEMA ml.other"), other.show_models())
    assert_frame_equal(reg.sql("SHOW MODELS IN SCHEMA other"), other.show_models())
    assert_frame_equal(reg.sql("SHOW MODELS IN DATABASE ml"),
                       pd.concat([other.show_models(), reg.show_models()], ignore_index=True))
    assert reg.sql("SHOW MODELS LIKE 'B' IN DATABASE ml")["schema_name"].tolist() == ["OTHER"]
    # a statement naming another namespace's model runs there, as the same caller
    assert reg.sql("ALTER MODEL ml.other.b SET COMMENT = 'moved'")["status"].tolist() == DONE
    assert other.get_model("b").comment == "moved"
    assert_frame_equal(reg.sql("SHOW VERSIONS IN MODEL other.b"),
                       other.get_model("b").show_versions())
    assert reg.sql("DROP MODEL ml.other.b")["status"].tolist() == DONE
    assert other.models() == [] and [m.name for m in reg.models()] == ["A"]


def _state(reg: Registry, name: str) -> tuple[Any, ...]:
    m = reg.get_model(name)
    versions = m.show_versions().drop(columns=["created_on", "model_name"])
    audit = reg.show_audit(model=name)
    changes = audit[audit["action"] != "LOG VERSION"]
    return (m.comment, m.show_tags(), versions.to_dict("records"),
            changes[["action", "outcome", "before", "after"]].to_dict("records"))


def set_metrics(mv: ModelVersion, metrics: dict[str, Any]) -> None:
    """What SET METADATA means: the version's metrics become exactly these."""
    for name, value in metrics.items():
        mv.set_metric(name, value)
    for name in mv.show_metrics().keys() - metrics.keys():
        mv.delete_metric(name)


@pytest.mark.parametrize("regs", ["direct"], indirect=True)  # through a server: the same calls
def test_each_alter_model_is_the_api_call_it_stands_for(regs: Registries) -> None:
    """The same changes, by SQL on one model and by the API on its twin, leave the twins
    alike, audit log included: each statement made the calls the API makes (a server's
    client runs statements as the direct registry does, so this runs direct only)."""
    reg = regs.admin
    for name in ("by_sql", "by_api"):
        log(reg, name, "v1", "v2", "v3", metrics={"old": 1})
    metrics = {"acc": 0.93, "cm": [[1, 0], [0, 1]]}
    steps: list[tuple[str, Callable[[Model], None]]] = [
        ("SET COMMENT = 'churn; by region'", lambda m: setattr(m, "comment", "churn; by region")),
        ("UNSET COMMENT", lambda m: setattr(m, "comment", None)),
        ("SET COMMENT='it''s'", lambda m: setattr(m, "comment", "it's")),
        ("SET TAG stage = 'prod'", lambda m: m.set_tag("stage", "prod")),
        ("SET TAG team='ml'", lambda m: m.set_tag("team", "ml")),
        ("UNSET TAG stage", lambda m: m.unset_tag("stage")),
        ("SET DEFAULT_VERSION = v2", lambda m: setattr(m, "default", "v2")),
        ("VERSION v3 SET ALIAS = champion", lambda m: m.version("v3").set_alias("champion")),
        ("VERSION v1 SET ALIAS = 'retired'", lambda m: m.version("v1").set_alias("retired")),
        ("VERSION retired UNSET ALIAS", lambda m: m.version("retired").unset_alias("retired")),
        ("MODIFY VERSION v1 SET COMMENT = 'first'",
         lambda m: setattr(m.version("v1"), "comment", "first")),
        ("MODIFY VERSION v1 UNSET COMMENT", lambda m: setattr(m.version("v1"), "comment", None)),
        (f"MODIFY VERSION champion SET METADATA = '{json.dumps({'metrics': metrics})}'",
         lambda m: set_metrics(m.version("v3"), metrics)),
        ("DROP VERSION v1", lambda m: m.delete_version("v1")),
    ]
    for sql, api in steps:
        assert reg.sql(f"ALTER MODEL by_sql {sql}")["status"].tolist() == DONE, sql
        api(reg.get_model("by_api"))
    assert _state(reg, "by_sql") == _state(reg, "by_api")
    assert reg.get_model("by_sql").version("v3").show_metrics() == metrics

    by_sql = reg.get_model("by_sql")
    assert reg.sql("ALTER MODEL by_sql RENAME TO ml.other.renamed")["status"].tolist() == DONE
    assert by_sql.fully_qualified_name == "ML.OTHER.RENAMED"  # the API's Model follows it
    assert reg.sql("DROP MODEL ml.other.renamed")["status"].tolist() == DONE
    assert [m.name for m in reg.models()] == ["BY_API"] and regs.open("ml", "other").models() == []


@pytest.mark.parametrize("regs", ["direct"], indirect=True)
def test_if_exists_makes_a_missing_model_a_note(regs: Registries) -> None:
    reg = regs.admin
    log(reg, "iris", "v1")
    assert reg.sql("DROP MODEL IF EXISTS nope")["status"].tolist() == [
        "model ML.REGISTRY.NOPE did not exist"]
    assert reg.sql("ALTER MODEL IF EXISTS lab.x.nope SET COMMENT = 'x'")["status"].tolist() == [
        "model LAB.X.NOPE did not exist"]
    assert reg.sql("ALTER MODEL IF EXISTS iris SET COMMENT = 'x'")["status"].tolist() == DONE
    with pytest.raises(NotFound, match=r"^at 'v9' \(position 41\): ML.REGISTRY.IRIS has no "
                       r"version or alias V9"):  # the model exists: the version is missing
        reg.sql("ALTER MODEL IF EXISTS iris DROP VERSION v9")


def test_an_error_about_a_name_is_the_apis_pointing_at_the_name(regs: Registries) -> None:
    reg = regs.admin
    m = log(reg, "iris", "v1", "v2")
    url = "floe://model/iris/versions/v9/"
    nan = '{"metrics": {"x": NaN}}'  # JSON as Python reads it, but no metric value
    cases: list[tuple[str, str, Callable[[], object] | None]] = [
        ("ALTER MODEL nope SET COMMENT = 'x'", "nope", lambda: reg.get_model("nope")),
        ("DESCRIBE MODEL ml.other.nope", "ml.other.nope",
         lambda: regs.open("ml", "other").get_model("nope")),
        ("SHOW FUNCTIONS IN MODEL iris VERSION v9", "v9", lambda: m.version("v9")),
        ("ALTER MODEL iris SET DEFAULT_VERSION = 'v9'", "'v9'",
         lambda: setattr(m, "default", "v9")),
        ("ALTER MODEL iris VERSION v2 UNSET ALIAS", "v2",
         lambda: m.version("v2").unset_alias("v2")),
        ("ALTER MODEL iris VERSION last UNSET ALIAS", "last",
         lambda: m.version("last").unset_alias("last")),
        ("ALTER MODEL iris VERSION v2 SET ALIAS = v1", "v1",
         lambda: m.version("v2").set_alias("v1")),
        ("ALTER MODEL iris UNSET TAG stage", "stage", lambda: m.unset_tag("stage")),
        ("ALTER MODEL iris DROP VERSION v1", "v1", lambda: m.delete_version("v1")),
        (f"ALTER MODEL iris MODIFY VERSION v1 SET METADATA = '{nan}'", f"'{nan}'",
         lambda: m.version("v1").set_metric("x", float("nan"))),
        (f"LIST '{url}'", f"'{url}'", lambda: reg.list_artifacts(url)),
        ("SHOW MODELS IN SCHEMA ml.nosuch", "ml.nosuch", None),
        ("SHOW MODELS IN DATABASE nosuch", "nosuch", None),
    ]
    before = _state(reg, "iris")
    classes = set()
    for statement, word, api in cases:
        with pytest.raises(FloeError) as by_sql:
            reg.sql(statement)
        first, line, caret = str(by_sql.value).split("\n")
        start = statement.index(word)
        assert first.startswith(f"at {word!r} (position {start + 1}): "), statement
        assert (line, caret) == (statement, " " * start + "^")
        if api is not None:
            with pytest.raises(FloeError) as by_api:
                api()
            assert type(by_sql.value) is type(by_api.value)
            assert first.endswith(f": {by_api.value.message}"), statement
        classes.add(type(by_sql.value))
    assert classes == {NotFound, InvalidInput, Conflict, AlreadyExists}
    assert _state(reg, "iris") == before  # nothing the failed statements tried stuck


def test_list_and_get_are_list_artifacts_and_get_artifact(regs: Registries,
                                                          tmp_path: Path) -> None:
    reg = regs.admin
    log(reg, "iris", "v1").rename("ML.OTHER.IRIS")
    url = "floe://model/ml.other.iris/versions/v1/"
    assert_frame_equal(reg.sql(f"LIST '{url}'"), reg.list_artifacts(url))
    assert_frame_equal(reg.sql(f"ls {url}model"), reg.list_artifacts(url + "model"))

    got = reg.sql(f"GET '{url}' 'file://{tmp_path / 'by sql'}'")
    expected = reg.get_artifact(url, tmp_path / "by api")
    assert list(got.columns) == ["file", "size", "status", "message"]
    files = [Path(f) for f in got["file"]]
    assert [f.relative_to(tmp_path / "by sql") for f in files] == [
        p.relative_to(tmp_path / "by api") for p in expected]
    assert [f.read_bytes() for f in files] == [p.read_bytes() for p in expected]
    assert got["size"].tolist() == [f.stat().st_size for f in files]
    assert set(got["status"]) == {"DOWNLOADED"} and set(got["message"]) == {""}
    one = reg.sql(f"GET {url}MANIFEST.yml file://{tmp_path / 'one'}")  # into it, by its name
    assert one["file"].tolist() == [str(tmp_path / "one" / "MANIFEST.yml")]
    with pytest.raises(InvalidInput, match=r"^at \"'file://.*'\" \(position \d+\): .* is a file"):
        reg.sql(f"GET '{url}' 'file://{files[0]}'")


def test_list_and_get_refuse_what_the_api_refuses(regs: Registries, tmp_path: Path) -> None:
    reg = regs.admin
    log(reg, "iris", "v1", "v2")
    base = "floe://model/iris/versions/v1/"
    for path in ["../v2/MANIFEST.yml", "model/../../v2", "%2e%2e/v2", "%2Fetc", "..\\v2",
                 "/etc/passwd", "model?x=1"]:
        url = base + path
        dest = tmp_path / "dest"
        calls: list[tuple[str, Callable[[], object]]] = [
            (f"LIST '{url}'", functools.partial(reg.list_artifacts, url)),
            (f"GET '{url}' 'file://{dest}'", functools.partial(reg.get_artifact, url, dest)),
        ]
        for statement, api in calls:
            with pytest.raises(FloeError) as by_api:
                api()
            with pytest.raises(type(by_api.value)) as by_sql:
                reg.sql(statement)
            word = f"'{url}'"
            assert str(by_sql.value).split("\n")[0] == (
                f"at {word!r} (position {statement.index(word) + 1}): {by_api.value.message}")
            assert not dest.exists(), statement


def test_a_role_sees_and_changes_only_what_the_api_lets_it(regs: Registries) -> None:
    reg = regs.admin
    log(reg, "shared", "v1")
    log(reg, "secret", "v1").rename("ML.OTHER.SECRET")
    reg.sql("CREATE ROLE analyst")
    reg.sql("GRANT USAGE ON MODEL shared TO ROLE analyst")
    analyst = regs.open(role="analyst")
    assert_frame_equal(analyst.sql("SHOW MODELS"), analyst.show_models())
    assert analyst.sql("SHOW MODELS")["name"].tolist() == ["SHARED"]
    assert analyst.sql("SHOW MODELS IN DATABASE ml")["name"].tolist() == ["SHARED"]
    assert analyst.sql("SHOW MODELS IN SCHEMA other").empty
    with pytest.raises(NotFound) as by_api:
        regs.open("ml", "other", role="analyst").get_model("secret")
    with pytest.raises(NotFound) as by_sql:
        analyst.sql("DESCRIBE MODEL ml.other.secret")
    assert str(by_sql.value).split("\n")[0].endswith(f": {by_api.value.message}")
    assert analyst.sql("DROP MODEL IF EXISTS ml.other.secret")["status"].tolist() == [
        "model ML.OTHER.SECRET did not exist"]  # as for a model that does not exist

    shared = analyst.get_model("shared")
    refusals: list[tuple[str, Callable[[], object]]] = [
        ("ALTER MODEL shared SET COMMENT = 'x'", lambda: setattr(shared, "comment", "x")),
        ("DROP MODEL shared", lambda: analyst.delete_model("shared")),
        ("LIST 'floe://model/shared/versions/v1/'",  # needs READ, as list_artifacts
         lambda: analyst.list_artifacts("floe://model/shared/versions/v1/")),
    ]
    for statement, api in refusals:
        with pytest.raises(PermissionDenied) as refused_api:
            api()
        with pytest.raises(PermissionDenied) as refused_sql:
            analyst.sql(statement)
        assert refused_sql.value.message == refused_api.value.message
    assert reg.get_model("shared").comment is None
    assert [m.name for m in reg.models()] == ["SHARED"]


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_the_servers_sql_route_runs_no_model_statement(catalog_url: str, artifact_root: Path,
                                                       tmp_path: Path) -> None:
    """A client runs model statements itself, through the model routes; posted to the
    server's /sql, one is refused, so that no GET ever writes on the server's disk."""
    with served(catalog_url, artifact_root) as (url, token):
        reg = Registry(url=url, token=token)
        log(reg, "iris", "v1")
        dest = tmp_path / "on the server"
        for statement in [f"GET 'floe://model/iris/versions/v1/' 'file://{dest}'",
                          "DROP MODEL iris"]:
            reply = httpx.post(f"{url}/api/v1/sql", json={"statement": statement},
                               headers={"authorization": f"Bearer {token}"}, timeout=30)
            assert reply.status_code == 400, reply.text
            assert reply.json()["type"] == "StatementError"
            assert reply.json()["error"].startswith("syntax error at ")  # the access grammar
        assert not dest.exists() and [m.name for m in reg.models()] == ["IRIS"]
        assert reg.sql("SHOW ROLES")["name"].tolist() == ["ADMIN", "PUBLIC"]  # access: the route
