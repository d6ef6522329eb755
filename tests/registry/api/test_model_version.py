"""ModelVersion: default version, aliases, metrics, functions, load and run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost as xgb
from sklearn.metrics import confusion_matrix

from registry import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    ModelVersion,
    NotFound,
    Registry,
    Task,
)
from tests.models import breast_cancer, iris, iris_classifier


def _log(reg: Registry, name: str, version: str) -> ModelVersion:
    clf, X = iris_classifier()
    return reg.log_model(clf, model_name=name, version_name=version, sample_input_data=X[:5])


def test_default_version_rules(reg: Registry) -> None:
    v1, v2, v3 = (_log(reg, "m", v) for v in ("v1", "v2", "v3"))
    m = reg.get_model("m")
    assert m.default == v1
    m.default = "v2"
    assert m.default == v2
    m.default = v3
    assert m.default.version_name == "V3"
    assert reg.show_models()["default_version_name"].tolist() == ["V3"]
    with pytest.raises(Conflict, match="set another default first: floe default set"):
        m.delete_version("v3")
    m.delete_version("v1")
    assert (m.first(), m.last()) == (v2, v3)
    m.default = "v2"
    m.delete_version("v3")
    assert (m.first(), m.last(), m.default) == (v2, v2, v2)
    m.delete_version("v2")  # the last version: the model stays, without versions
    assert m.versions() == []
    assert reg.show_models()["default_version_name"].tolist() == [None]
    with pytest.raises(NotFound, match="no version or alias DEFAULT"):
        _ = m.default
    v4 = _log(reg, "m", "v4")
    assert m.default == v4  # a model without versions takes its next one as default


def test_system_aliases_follow_creation_order(reg: Registry) -> None:
    v1, v2, v3 = (_log(reg, "m", v) for v in ("v1", "v2", "v3"))
    m = reg.get_model("m")
    assert m.version("FIRST") == v1 and m.version("last") == v3 and m.version("DEFAULT") == v1
    assert v1.aliases == ["DEFAULT", "FIRST"]
    assert v3.aliases == ["LAST"]
    m.delete_version("v3")
    assert m.last() == v2
    assert v2.aliases == ["LAST"]


def test_user_aliases(reg: Registry) -> None:
    v1, v2 = _log(reg, "m", "v1"), _log(reg, "m", "v2")
    m = reg.get_model("m")
    v1.set_alias("champion")
    assert m.version("CHAMPION") == v1
    assert "CHAMPION" in v1.aliases
    v2.set_alias("champion")  # moves: one version per alias
    assert m.version("champion") == v2
    assert "CHAMPION" not in v1.aliases and "CHAMPION" in v2.aliases
    with pytest.raises(AlreadyExists, match="must differ from every version name"):
        v1.set_alias("v2")
    with pytest.raises(InvalidInput, match="system alias"):
        v1.set_alias("last")
    with pytest.raises(AlreadyExists, match="pick another version_name"):
        _log(reg, "m", "champion")  # a version name may not equal an alias
    v2.unset_alias("champion")
    with pytest.raises(NotFound, match="no version or alias CHAMPION"):
        m.version("champion")
    with pytest.raises(NotFound, match="has no alias"):
        v2.unset_alias("champion")
    with pytest.raises(InvalidInput, match="cannot be unset"):
        v2.unset_alias("DEFAULT")
    v1.set_alias('"Stable"')
    assert m.version('"Stable"') == v1
    with pytest.raises(NotFound, match="no version or alias STABLE; list them: floe versions list"):
        m.version("stable")
    m.delete_version("v2")
    assert m.version('"Stable"') == v1  # aliases of other versions survive a delete


def test_aliases_of_a_deleted_version_go_with_it(reg: Registry) -> None:
    _log(reg, "m", "v1")
    v2 = _log(reg, "m", "v2")
    v2.set_alias("canary")
    reg.get_model("m").delete_version("canary")  # an alias names the version to delete
    with pytest.raises(NotFound, match="no version or alias CANARY; list them: floe versions list"):
        reg.get_model("m").version("canary")
    assert reg.get_model("m").last().version_name == "V1"


def test_metrics_round_trip_including_numpy(reg: Registry) -> None:
    clf, X = iris_classifier()
    X_all, y = iris()
    mv = reg.log_model(
        clf, model_name="m", version_name="v1", sample_input_data=X[:5],
        metrics={"score": np.float32(0.5), "n": np.int64(3)},
    )
    cm = confusion_matrix(y, clf.predict(X_all))
    mv.set_metric("confusion_matrix", cm)
    mv.set_metric("evaluation_info", {"dataset": "iris", "accuracy": np.float64(0.97),
                                      "per_class": np.array([0.9, 1.0, 0.95])})
    mv.set_metric("label", "ok")
    metrics = reg.get_model("m").version("v1").show_metrics()
    assert metrics["score"] == 0.5 and metrics["n"] == 3
    assert metrics["confusion_matrix"] == cm.tolist()
    assert np.array_equal(np.array(metrics["confusion_matrix"]), cm)
    assert metrics["evaluation_info"] == {"dataset": "iris", "accuracy": 0.97,
                                          "per_class": [0.9, 1.0, 0.95]}
    assert mv.get_metric("label") == "ok"
    mv.set_metric("label", "better")
    assert mv.get_metric("label") == "better"
    mv.delete_metric("label")
    with pytest.raises(NotFound, match="no metric 'label'"):
        mv.get_metric("label")
    with pytest.raises(NotFound, match="no metric 'label'; list them: floe metrics list"):
        mv.delete_metric("label")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        mv.set_metric("bad", float("nan"))
    with pytest.raises(InvalidInput, match="not JSON-serialisable"):
        mv.set_metric("bad", object())


def test_version_comment(reg: Registry) -> None:
    mv = _log(reg, "m", "v1")
    mv.comment = "a comment"
    assert reg.get_model("m").version("v1").description == "a comment"
    mv.description = "same value"
    assert mv.comment == "same value"
    versions = reg.get_model("m").show_versions()
    assert versions["comment"].tolist() == ["same value"]


def test_show_versions_columns(reg: Registry) -> None:
    _log(reg, "m", "v1")
    mv = _log(reg, "m", "v2")
    mv.set_alias("champion")
    mv.set_metric("acc", 0.9)
    df = reg.get_model("m").show_versions()
    for column in ["created_on", "name", "database_name", "schema_name", "model_name",
                   "is_default_version", "functions", "metadata", "user_data", "aliases"]:
        assert column in df.columns
    row = df.set_index("name").loc["V2"]
    assert not row["is_default_version"]
    assert row["model_name"] == "M"
    assert pd.io.json.ujson_loads(row["aliases"]) == ["LAST", "CHAMPION"]
    assert "predict" in pd.io.json.ujson_loads(row["functions"])
    metadata = pd.io.json.ujson_loads(row["metadata"])
    assert metadata["metrics"] == {"acc": 0.9}
    assert metadata["task"] == Task.TABULAR_MULTI_CLASSIFICATION.value
    assert df.set_index("name").loc["V1", "is_default_version"]


def test_sklearn_load_and_run(reg: Registry) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5])
    fns = {f.name: f for f in mv.show_functions()}
    assert {"predict", "predict_proba", "decision_function"} <= set(fns)
    assert [f.name for f in fns["predict"].signature.inputs] == list(X.columns)
    loaded = mv.load()
    assert np.array_equal(loaded.predict(X), clf.predict(X))
    out = mv.run(X, function_name="predict_proba")
    assert list(out.columns) == [*X.columns, "output_feature_0", "output_feature_1",
                                 "output_feature_2"]
    np.testing.assert_allclose(out.iloc[:, -3:].to_numpy(), clf.predict_proba(X))
    table = mv.run(pa.Table.from_pandas(X), function_name="predict")
    assert isinstance(table, pa.Table)
    assert table.column("output_feature_0").to_pylist() == clf.predict(X).tolist()


def test_run_needs_a_function_name_when_there_are_several(reg: Registry) -> None:
    mv = _log(reg, "m", "v1")
    X, _ = iris()
    with pytest.raises(InvalidInput, match="pass function_name"):
        mv.run(X)
    with pytest.raises(NotFound, match="no function 'nope'; set function_name= to one of"):
        mv.run(X, function_name="nope")


def test_run_refuses_bad_input_naming_every_column(reg: Registry) -> None:
    mv = _log(reg, "m", "v1")
    X, _ = iris()
    bad = X.drop(columns=["sepal_length"]).assign(
        petal_width=X["petal_width"].astype(str), extra=1
    )
    with pytest.raises(InvalidInput) as info:
        mv.run(bad, function_name="predict")
    message = str(info.value)
    assert "missing columns: sepal_length (DOUBLE)" in message
    assert "column petal_width is STRING, expected DOUBLE" in message
    assert "unexpected columns: extra" in message
    widened = X.astype("float32")
    assert len(mv.run(widened, function_name="predict")) == len(X)
    with pytest.raises(InvalidInput, match="strict_input_validation refuses any cast"):
        mv.run(widened, function_name="predict", strict_input_validation=True)


def test_log_without_sample_or_signatures_is_refused(reg: Registry) -> None:
    clf, _ = iris_classifier()
    with pytest.raises(InvalidInput, match="pass sample_input_data="):
        reg.log_model(clf, model_name="m", version_name="v1")
    assert len(reg.show_models()) == 0


@pytest.mark.parametrize("kind", ["booster", "classifier", "regressor"])
def test_xgboost_round_trip(reg: Registry, kind: str) -> None:
    X, y = breast_cancer()
    if kind == "booster":
        model = xgb.train({"objective": "binary:logistic", "max_depth": 3},
                          xgb.DMatrix(X, label=y), num_boost_round=10)
        expected = model.inplace_predict(X.to_numpy())
        task = Task.TABULAR_BINARY_CLASSIFICATION
    elif kind == "classifier":
        model = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
        expected = model.predict(X)
        task = Task.TABULAR_BINARY_CLASSIFICATION
    else:
        model = xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(X, y)
        expected = model.predict(X)
        task = Task.TABULAR_REGRESSION
    mv = reg.log_model(model, model_name="xgb", version_name="v1", sample_input_data=X[:20])
    assert mv.show_functions()[-1].name in ("predict", "predict_proba")
    listed = reg.list_artifacts("floe://model/xgb/versions/v1/model/")
    assert listed["name"].tolist() == ["versions/V1/model/model.ubj"]  # native format, no pickle
    assert pd.io.json.ujson_loads(
        reg.get_model("xgb").show_versions()["metadata"][0])["task"] == task.value
    out = mv.run(X, function_name="predict")
    np.testing.assert_allclose(out["output_feature_0"].to_numpy(), expected, rtol=1e-6)
    assert type(mv.load()).__name__ == type(model).__name__


def test_metadata_the_catalog_cannot_store_is_refused_alike(
    reg: Registry, artifact_root: Path
) -> None:
    # PostgreSQL raised a raw DataError for each (SQLite stored them): InvalidInput on both.
    mv = _log(reg, "m", "v1")
    m = reg.get_model("m")
    nul = r"holds a NUL character \(U\+0000\), which the catalog cannot store; remove it"
    with pytest.raises(InvalidInput, match=f"version comment {nul}"):
        mv.comment = "a\x00b"
    with pytest.raises(InvalidInput, match=f"model comment {nul}"):
        m.comment = "a\x00b"
    with pytest.raises(InvalidInput, match=f"tag value {nul}"):
        m.set_tag("t", "a\x00b")
    for call in (mv.set_metric, mv.get_metric, mv.delete_metric):
        with pytest.raises(InvalidInput, match=f"metric name {nul}"):
            call("a\x00", *([1] if call == mv.set_metric else []))
    with pytest.raises(InvalidInput, match="metric name is 300 characters long, at most 255"):
        mv.set_metric("x" * 300, 1)
    assert (mv.comment, m.comment, m.show_tags(), mv.show_metrics()) == (None, None, {}, {})

    clf, X = iris_classifier()
    stored = set((artifact_root / "versions").iterdir())
    for kwargs, message in [
        ({"comment": "a\x00"}, f"version comment {nul}"),
        ({"metrics": {"x" * 256: 1}}, "metric name is 256 characters long, at most 255"),
        ({"metrics": [1, 2]}, "metrics must be a mapping of metric names to values"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            reg.log_model(clf, model_name="m", sample_input_data=X[:5], **kwargs)
    assert set((artifact_root / "versions").iterdir()) == stored  # refused before saving
    assert [v.version_name for v in m.versions()] == ["V1"]


def test_metric_values_that_nest_too_deep_or_contain_themselves(reg: Registry) -> None:
    mv = _log(reg, "m", "v1")
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="deeper than 64 levels; flatten it"):
        mv.set_metric("deep", deep)  # RecursionError before
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    with pytest.raises(InvalidInput, match="'loop' value contains itself"):
        mv.set_metric("loop", loop)  # RecursionError before
    clf, X = iris_classifier()
    with pytest.raises(InvalidInput, match="contains itself"):
        reg.log_model(clf, model_name="m", metrics={"loop": loop}, sample_input_data=X[:5])
    mv.set_metric("ok", {"a": [1, {"b": np.float32(0.5)}]})
    assert mv.show_metrics() == {"ok": {"a": [1, {"b": 0.5}]}}
