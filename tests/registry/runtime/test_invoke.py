"""The run path: every function answers the same input alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

from registry import (
    CustomModel,
    InvalidInput,
    ModelContext,
    ModelError,
    ModelVersion,
    Registry,
    partitioned_api,
)
from tests.models import iris


@pytest.fixture
def sqlite_reg(tmp_path: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}",
                    artifact_root=str(tmp_path / "a"))


@pytest.fixture
def ridge(sqlite_reg: Registry) -> ModelVersion:
    X, y = iris()
    return sqlite_reg.log_model(Ridge().fit(X, y), model_name="ridge", version_name="v1",
                                sample_input_data=X[:20])


@pytest.fixture
def forest(sqlite_reg: Registry) -> ModelVersion:
    X, y = iris()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    return sqlite_reg.log_model(model, model_name="forest", version_name="v1",
                                sample_input_data=X[:20])


def test_an_input_column_named_like_an_output_is_refused(ridge: ModelVersion) -> None:
    X, _ = iris()
    clashing = X.assign(output_feature_0=-1.0)
    with pytest.raises(InvalidInput, match=r"the input has columns named like outputs of predict "
                                           r"of .*: output_feature_0; the output would replace "
                                           r"them: rename those input columns or drop them"):
        ridge.run(clashing, function_name="predict", passthrough_columns=["output_feature_0"])
    with pytest.raises(InvalidInput, match=r"named like outputs of explain of .*: sepal_length_explanation"):
        ridge.run(pa.Table.from_pandas(X.assign(sepal_length_explanation=0.0)),
                  function_name="explain", passthrough_columns=["sepal_length_explanation"])
    kept = ridge.run(X.assign(row_id=1), passthrough_columns=["row_id"])  # other names pass
    assert list(kept.columns) == [*X.columns, "row_id", "output_feature_0"]


@pytest.mark.parametrize("as_arrow", [False, True])
def test_empty_input_gives_empty_output_from_every_function(
    ridge: ModelVersion, as_arrow: bool
) -> None:
    X, _ = iris()
    empty = X.iloc[:0]
    data = pa.Table.from_pandas(empty, preserve_index=False) if as_arrow else empty
    predicted = ridge.run(data, function_name="predict")
    explained = ridge.run(data, function_name="explain")
    few = ridge.run(X[:3], function_name="explain")
    if as_arrow:
        assert isinstance(predicted, pa.Table) and isinstance(explained, pa.Table)
        assert predicted.schema.field("output_feature_0").type == pa.float64()
        predicted, explained = predicted.to_pandas(), explained.to_pandas()
    assert len(predicted) == 0 and len(explained) == 0
    assert list(predicted.columns) == [*X.columns, "output_feature_0"]
    assert list(explained.columns) == list(few.columns)
    assert predicted["output_feature_0"].dtype == np.float64


class PerGroup(CustomModel):
    @partitioned_api
    def summarize(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"group": frame["group"].iloc[:1].to_numpy(),
                             "total": [float(frame["x"].sum())]})


def test_empty_input_to_a_partitioned_function_gives_its_columns(sqlite_reg: Registry) -> None:
    frame = pd.DataFrame({"group": [1, 1, 2], "x": [1.0, 2.0, 3.0]})
    mv = sqlite_reg.log_model(PerGroup(ModelContext()), model_name="g", sample_input_data=frame)
    assert mv.run(frame, partition_column="group")["total"].tolist() == [3.0, 3.0]
    out = mv.run(frame.iloc[:0], partition_column="group")
    assert list(out.columns) == ["group", "total"] and len(out) == 0
    table = mv.run(pa.Table.from_pandas(frame.iloc[:0], preserve_index=False),
                   partition_column="group")
    assert table.column_names == ["group", "total"] and table.num_rows == 0
    with pytest.raises(InvalidInput, match="missing columns: x"):
        mv.run(frame.iloc[:0, :1], partition_column="group")  # checked all the same


def test_nan_and_infinity_get_the_same_answer_from_predict_and_explain(
    forest: ModelVersion,
) -> None:
    X, _ = iris()
    with_inf = pa.Table.from_pandas(X[:5].assign(sepal_length=np.inf), preserve_index=False)
    for function in ("predict_proba", "explain"):
        # an Arrow infinity is a value: the model refuses it, and explain with it
        with pytest.raises(ModelError, match="infinity"):
            forest.run(with_inf, function_name=function)
        # a DataFrame NaN is a null: refused where the signature says not nullable
        with pytest.raises(InvalidInput, match=r"not nullable: sepal_length \(5 nulls\)"):
            forest.run(X[:5].assign(sepal_length=np.nan), function_name=function)
    assert len(forest.run(X[:5], function_name="explain")) == 5
