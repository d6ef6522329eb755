"""Registry and Model: logging, listing, names, comments, tags, rename, delete."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from registry import AlreadyExists, InvalidIdentifier, InvalidInput, NotFound, Registry
from tests.models import iris_classifier


def test_log_model_creates_the_model_with_its_first_version(reg: Registry) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(
        clf, model_name="my_model", version_name="v1", comment="first", sample_input_data=X[:5]
    )
    assert (mv.model_name, mv.version_name, mv.comment) == ("MY_MODEL", "V1", "first")
    m = reg.get_model("MY_MODEL")
    assert m.name == "MY_MODEL"
    assert m.fully_qualified_name == "ML.REGISTRY.MY_MODEL"
    assert [v.version_name for v in m.versions()] == ["V1"]
    assert m.default == mv


def test_generated_version_names_are_readable_and_unique(reg: Registry) -> None:
    clf, X = iris_classifier()
    names = {
        reg.log_model(clf, model_name="m", sample_input_data=X[:5]).version_name for _ in range(3)
    }
    assert len(names) == 3
    assert all(re.fullmatch(r"[A-Z]+_[A-Z]+_\d+", n) for n in names)


def test_logging_an_existing_version_is_refused(reg: Registry, artifact_root: Path) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    stored = set((artifact_root / "versions").iterdir())
    with pytest.raises(AlreadyExists, match="pick another version_name"):
        reg.log_model(clf, model_name="m", version_name="V1", sample_input_data=X[:5])
    assert set((artifact_root / "versions").iterdir()) == stored  # nothing half-written


def test_identifier_case_rules(reg: Registry) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="churn", version_name="v1", sample_input_data=X[:5])
    reg.log_model(clf, model_name='"Churn"', version_name='"v1"', sample_input_data=X[:5])
    assert reg.get_model("CHURN").name == "CHURN"
    assert reg.get_model("Churn").name == "CHURN"  # unquoted: case-insensitive
    quoted = reg.get_model('"Churn"')
    assert quoted.name == '"Churn"'
    assert [v.version_name for v in quoted.versions()] == ['"v1"']
    assert quoted.version('"v1"').version_name == '"v1"'
    with pytest.raises(NotFound, match="no version or alias V1; list them: floe versions list"):
        quoted.version("v1")  # V1 is not "v1"
    assert sorted(reg.show_models()["name"]) == ['"Churn"', "CHURN"]
    with pytest.raises(InvalidIdentifier, match="double-quoted"):
        reg.log_model(clf, model_name="bad-name", sample_input_data=X[:5])
    with pytest.raises(InvalidIdentifier,
                       match=r"invalid model name '1st'.*an unquoted identifier \(a letter or '_'"):
        reg.get_model("1st")


def test_show_models_columns(reg: Registry) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="a", version_name="v1", sample_input_data=X[:5])
    mv2 = reg.log_model(clf, model_name="a", version_name="v2", sample_input_data=X[:5])
    mv2.set_alias("champion")
    reg.log_model(clf, model_name="b", version_name="v1", sample_input_data=X[:5])
    df = reg.show_models()
    for column in ["created_on", "name", "database_name", "schema_name", "owner", "comment",
                   "versions", "default_version_name"]:
        assert column in df.columns
    a = df.set_index("name").loc["A"]
    assert json.loads(a["versions"]) == ["V1", "V2"]
    assert a["default_version_name"] == "V1"
    assert (a["database_name"], a["schema_name"]) == ("ML", "REGISTRY")
    assert json.loads(a["aliases"]) == {"CHAMPION": "V2"}
    assert isinstance(a["created_on"], pd.Timestamp) and a["created_on"].tzinfo is not None
    assert [m.name for m in reg.models()] == ["A", "B"]


def test_namespaces_are_separate(catalog_url: str, artifact_root: Path) -> None:
    clf, X = iris_classifier()
    dev = Registry("ml", "dev", catalog_url=catalog_url, artifact_root=str(artifact_root))
    prod = Registry(database_name="ML", schema_name="PROD", catalog_url=catalog_url,
                    artifact_root=str(artifact_root))
    dev.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    assert len(prod.show_models()) == 0
    with pytest.raises(NotFound, match="ML.PROD has no model M; list them: floe models list"):
        prod.get_model("m")
    assert dev.get_model("m").fully_qualified_name == "ML.DEV.M"


def test_comment_and_description_are_one_value(reg: Registry) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", comment="c0", sample_input_data=X[:5])
    m = reg.get_model("m")
    assert m.comment == "c0"  # the first version's comment becomes the new model's comment
    m.description = "better"
    assert m.comment == "better"
    m.comment = None
    assert m.description is None
    assert reg.show_models()["comment"].tolist() == [None]


def test_tags(reg: Registry) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    m = reg.get_model("m")
    m.set_tag("stage", "dev")
    m.set_tag("STAGE", "prod")  # same tag: unquoted names are case-insensitive
    m.set_tag('"Team"', "risk")
    assert m.get_tag("stage") == "prod"
    assert m.show_tags() == {"STAGE": "prod", '"Team"': "risk"}
    m.unset_tag("stage")
    assert m.get_tag("stage") is None
    with pytest.raises(NotFound, match="no tag STAGE"):
        m.unset_tag("stage")
    with pytest.raises(InvalidInput, match=r"str\(value\)"):
        m.set_tag("n", 3)  # type: ignore[arg-type]


def test_rename_within_and_across_namespaces_keeps_artifacts(
    reg: Registry, catalog_url: str, artifact_root: Path
) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    expected = clf.predict(X)
    m = reg.get_model("m")
    m.set_tag("t", "x")
    m.rename("m2")
    assert m.name == "M2"
    with pytest.raises(NotFound, match="has no model M; list them: floe models list"):
        reg.get_model("m")
    assert (mv.run(X, function_name="predict")["output_feature_0"] == expected).all()

    m.rename("OTHER_DB.OTHER_SCHEMA.MOVED")
    assert m.fully_qualified_name == "OTHER_DB.OTHER_SCHEMA.MOVED"
    assert len(reg.show_models()) == 0
    other = Registry("other_db", "other_schema", catalog_url=catalog_url,
                     artifact_root=str(artifact_root))
    moved = other.get_model("moved")
    assert moved.show_tags() == {"T": "x"}
    version = moved.version("v1")
    assert version.id == mv.id
    assert (version.run(X, function_name="predict")["output_feature_0"] == expected).all()
    listed = other.list_artifacts("floe://model/MOVED/versions/V1/")
    assert "versions/V1/model/model.pkl" in set(listed["name"])


def test_rename_onto_an_existing_model_is_refused(reg: Registry) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="a", version_name="v1", sample_input_data=X[:5])
    reg.log_model(clf, model_name="b", version_name="v1", sample_input_data=X[:5])
    with pytest.raises(AlreadyExists, match="ML.REGISTRY.B already exists"):
        reg.get_model("a").rename("b")


def test_delete_model_removes_versions_and_artifacts(reg: Registry, artifact_root: Path) -> None:
    clf, X = iris_classifier()
    reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    reg.log_model(clf, model_name="m", version_name="v2", sample_input_data=X[:5])
    keep = reg.log_model(clf, model_name="keep", version_name="v1", sample_input_data=X[:5])
    reg.delete_model("m")
    assert reg.show_models()["name"].tolist() == ["KEEP"]
    assert [p.name for p in (artifact_root / "versions").iterdir()] == [keep.id]
    with pytest.raises(NotFound, match="has no model M; list them: floe models list"):
        reg.delete_model("m")
