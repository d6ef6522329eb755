"""The data path: Arrow or pandas columns to one numpy array for the model, its output back as
Arrow arrays of the signature's types, with every validation guarantee kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
import xgboost as xgb
from sklearn.linear_model import Ridge

from registry import DataType, FeatureSpec, InvalidInput, ModelSignature, Registry
from registry.runtime.model_input import prepare_batch
from registry.runtime.signatures import null_counts

INPUTS = (
    FeatureSpec("a", DataType.DOUBLE),
    FeatureSpec("b", DataType.INT64),
    FeatureSpec("c", DataType.FLOAT),
)


@pytest.fixture
def sqlite_reg(tmp_path: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}",
                    artifact_root=str(tmp_path / "a"))


def test_chunked_columns_with_nulls_fill_one_array_in_signature_order() -> None:
    table = pa.table({
        "c": pa.chunked_array([pa.array([1.5, 2.5], pa.float32()), pa.array([None], pa.float32())]),
        "b": pa.chunked_array([pa.array([1, None]), pa.array([], pa.int64()), pa.array([3])]),
        "a": pa.chunked_array([pa.array([1.0]), pa.array([2.0, 3.0])]),
    })
    array = prepare_batch(table, INPUTS).numpy
    # an integer column with nulls counts as float64, its nulls NaN, as pandas has it
    assert array.dtype == np.float64 and array.shape == (3, 3)
    np.testing.assert_array_equal(array, [[1.0, 1.0, 1.5], [2.0, np.nan, 2.5],
                                          [3.0, 3.0, np.nan]])


def test_mixed_int_and_float_columns_widen_alike_from_a_table_and_a_frame() -> None:
    big = 2**53 + 1  # beyond float64's exact integers: rounded, as numpy and pandas do
    frame = pd.DataFrame({"a": np.array([big, 2], dtype=np.int64),
                          "b": np.array([7, 8], dtype=np.int32),
                          "c": np.array([0.5, 1.5], dtype=np.float32)})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    from_table, from_frame = prepare_batch(table, INPUTS), prepare_batch(frame, INPUTS)
    expected = np.array([[float(big), 7.0, 0.5], [2.0, 8.0, 1.5]])
    for batch in (from_table, from_frame):
        assert batch.numpy.dtype == np.float64
        np.testing.assert_array_equal(batch.numpy, expected)
        assert batch.table.schema.types == [pa.float64(), pa.int64(), pa.float32()]
        np.testing.assert_array_equal(batch.frame.to_numpy(), expected)
    only_ints = prepare_batch(table.select(["b"]), (FeatureSpec("b", DataType.INT32),))
    assert only_ints.numpy.dtype == np.int32  # nothing to widen to: the column's own type
    with_nulls = prepare_batch(pa.table({"b": pa.array([1, None], pa.int32())}),
                               (FeatureSpec("b", DataType.INT32),)).numpy
    assert with_nulls.dtype == np.float64 and np.isnan(with_nulls[1, 0])


def test_a_cast_gives_the_signatures_type_before_the_arrays() -> None:
    # an int32 column whose feature is FLOAT is a float32 first, whatever the array's type
    inputs = (FeatureSpec("a", DataType.FLOAT), FeatureSpec("b", DataType.DOUBLE))
    frame = pd.DataFrame({"a": np.array([2**24 + 1, 3], dtype=np.int32), "b": [0.5, 1.5]})
    for data in (frame, pa.Table.from_pandas(frame, preserve_index=False)):
        batch = prepare_batch(data, inputs)
        assert batch.numpy.dtype == np.float64
        assert batch.numpy[0, 0] == float(np.float32(2**24 + 1)) == batch.frame["a"].iloc[0]


def test_a_frame_of_one_dtype_is_handed_over_without_a_copy() -> None:
    frame = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["a", "b", "c"])
    inputs = tuple(FeatureSpec(name, DataType.DOUBLE) for name in "abc")
    assert np.shares_memory(prepare_batch(frame, inputs).numpy, frame.to_numpy())
    reordered = prepare_batch(frame[["c", "a", "b"]], inputs).numpy
    np.testing.assert_array_equal(reordered, frame.to_numpy())  # selected by name


def test_bools_dictionaries_and_text_reach_the_array() -> None:
    table = pa.table({"a": pa.array([1.0, 2.0, 1.0]).dictionary_encode(),
                      "b": pa.array([True, None, False]),
                      "s": ["x", "y", "z"]})
    inputs = (FeatureSpec("a", DataType.DOUBLE), FeatureSpec("b", DataType.BOOL))
    array = prepare_batch(table.drop_columns(["s"]), inputs).numpy
    np.testing.assert_array_equal(array, [[1.0, 1.0], [2.0, np.nan], [1.0, 0.0]])
    with_text = prepare_batch(table, (*inputs, FeatureSpec("s", DataType.STRING))).numpy
    assert with_text.dtype == object and with_text[:, 2].tolist() == ["x", "y", "z"]


def test_frame_null_counts_count_nans_and_nothing_else() -> None:
    frame = pd.DataFrame({"inf": [np.inf, -np.inf, 1.0], "nan": [np.nan, 1.0, np.nan],
                          "huge": [1e308, 1e308, -np.inf], "ints": [1, 2, 3],
                          "nullable": pd.array([1, None, 3], dtype="Int64"),
                          "text": ["x", None, "z"],
                          "objects": pd.Series([1.5, None, "z"], dtype=object)})
    assert null_counts(frame, list(frame.columns)) == frame.isna().sum().to_dict()
    assert null_counts(frame, ["inf", "huge"]) == {"inf": 0, "huge": 0}


def test_nulls_across_chunks_are_refused_with_their_count(sqlite_reg: Registry) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    mv = sqlite_reg.log_model(Ridge().fit(X.to_numpy(), X["a"]), model_name="r",
                              sample_input_data=X)
    column = pa.chunked_array([pa.array([None, 1.0]), pa.array([2.0, None, None])])
    table = pa.table({"a": column, "b": [1.0] * 5, "c": pa.array([1, 2, 3, 4, 5], pa.int32())})
    with pytest.raises(InvalidInput, match=r"not nullable: a \(3 nulls\) \(fill or drop"):
        mv.run(table)


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x).squeeze(-1)


def _ridge(X: np.ndarray, y: np.ndarray) -> tuple[object, Callable[[np.ndarray], np.ndarray]]:
    model = Ridge().fit(X, y)  # fitted on numpy: it takes the one array
    return model, model.predict


def _lightgbm(X: np.ndarray, y: np.ndarray) -> tuple[object, Callable[[np.ndarray], np.ndarray]]:
    booster = lgb.train({"verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), num_boost_round=5)
    return booster, lambda x: np.asarray(booster.predict(x))


def _xgboost(X: np.ndarray, y: np.ndarray) -> tuple[object, Callable[[np.ndarray], np.ndarray]]:
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=y), num_boost_round=5)
    return booster, lambda x: np.asarray(booster.inplace_predict(x))


def _torch(X: np.ndarray, y: np.ndarray) -> tuple[object, Callable[[np.ndarray], np.ndarray]]:
    net = _Linear().eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.tensor(x, dtype=torch.float32)).numpy()

    return net, predict


@pytest.mark.parametrize("make", [_ridge, _lightgbm, _xgboost, _torch],
                         ids=["sklearn", "lightgbm", "xgboost", "torch"])
def test_every_numpy_handler_answers_a_chunked_mixed_table_like_the_raw_model(
    sqlite_reg: Registry, make: Callable[[np.ndarray, np.ndarray], tuple[object, Callable[
        [np.ndarray], np.ndarray]]],
) -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.integers(0, 5, 200), rng.normal(size=(200, 3))])
    model, predict = make(X, X[:, 1] - X[:, 0])
    frame = pd.DataFrame(X, columns=["k", "x1", "x2", "x3"])
    mv = sqlite_reg.log_model(model, model_name="m", sample_input_data=frame)
    # k arrives as int32 (widened to the signature's DOUBLE), x1 as float32, in two chunks
    halves = [pa.Table.from_pandas(part.astype({"k": "int32", "x1": "float32"}),
                                   preserve_index=False) for part in (frame[:120], frame[120:])]
    table = pa.concat_tables(halves)
    expected = predict(np.column_stack([X[:, 0], X[:, 1].astype(np.float32), X[:, 2:]]))
    out = mv.run(table)
    name = out.column_names[-1]
    np.testing.assert_allclose(out.column(name).to_numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(mv.run(table.to_pandas())[name].to_numpy(), expected, rtol=1e-5)


def test_outputs_are_arrow_arrays_of_the_signatures_types(sqlite_reg: Registry) -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=X["a"]), num_boost_round=3)
    inferred = sqlite_reg.log_model(booster, model_name="inferred", sample_input_data=X)
    table = pa.Table.from_pandas(X, preserve_index=False)
    assert inferred.run(table).schema.field("output_feature_0").type == pa.float32()
    # xgboost answers float32; a signature naming DOUBLE gets float64, widened safely
    signature = ModelSignature(
        inputs=tuple(FeatureSpec(name, DataType.DOUBLE) for name in X.columns),
        outputs=(FeatureSpec("score", DataType.DOUBLE),),
    )
    declared = sqlite_reg.log_model(booster, model_name="declared",
                                    signatures={"predict": signature})
    out = declared.run(table)
    assert out.schema.field("score").type == pa.float64()
    assert out.column_names == [*X.columns, "score"]
    np.testing.assert_allclose(out.column("score").to_numpy(), booster.inplace_predict(X))
    assert declared.run(table.slice(0, 0)).schema.field("score").type == pa.float64()
