"""Tensor features (``FeatureSpec.shape``): inferred from every kind of sample, stored and
read back, refused in the one validation path when the shape is wrong, carried between Arrow
and pandas both ways without a copy where the storage allows, and produced as output columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from ray.data._internal.tensor_extensions.arrow import (
    ArrowTensorArray,
    ArrowTensorType,
    ArrowTensorTypeV2,
    ArrowVariableShapedTensorArray,
)

from registry import (
    CustomModel,
    DataType,
    FeatureSpec,
    InvalidInput,
    ModelSignature,
    Registry,
    inference_api,
    partitioned_api,
)
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.model_input import Batch, prepare_batch
from registry.runtime.samples import infer_features, to_arrow
from registry.runtime.signatures import check_schema, validate_input
from registry.runtime.tensors import row_extents, tensor_array, tensor_values, to_pandas
from tests.ray_fixtures import ray_local  # noqa: F401  (a fixture)

IMAGES = np.arange(6 * 2 * 3 * 4, dtype=np.float32).reshape(6, 2, 3, 4)
IMAGE = FeatureSpec("image", DataType.FLOAT, shape=(2, 3, 4), nullable=False)


def _ragged(widths: list[int], inner: int = 4) -> np.ndarray:
    """An object column of per-token embeddings: row i is (widths[i], inner)."""
    rows = np.empty(len(widths), dtype=object)
    for i, width in enumerate(widths):
        rows[i] = np.full((width, inner), float(i), dtype=np.float32)
    return rows


def _spec(data: object) -> list[tuple[str, DataType, tuple[int, ...] | None]]:
    return [(f.name, f.dtype, f.shape) for f in infer_features(data)]


# -- inference ---------------------------------------------------------------------------------


def test_an_array_of_rank_3_or_more_is_one_feature_of_its_row_shape() -> None:
    assert _spec(IMAGES) == [("input_feature_0", DataType.FLOAT, (2, 3, 4))]
    assert _spec(torch.from_numpy(IMAGES).double()) == [
        ("input_feature_0", DataType.DOUBLE, (2, 3, 4))]
    # a 2-D array keeps its meaning: a scalar column per column
    assert _spec(IMAGES[:, 0, 0, :]) == [(f"input_feature_{i}", DataType.FLOAT, None)
                                         for i in range(4)]
    assert _spec({"image": IMAGES, "mask": IMAGES[:, 0] > 3, "id": np.arange(6)}) == [
        ("image", DataType.FLOAT, (2, 3, 4)), ("mask", DataType.BOOL, (3, 4)),
        ("id", DataType.INT64, None)]


def test_a_dataframe_column_of_arrays_takes_their_shape_or_minus_one_where_it_varies() -> None:
    frame = pd.DataFrame({"image": list(IMAGES), "n": np.arange(6),
                          "tokens": _ragged([1, 3, 2, 5, 1, 2])})
    assert _spec(frame) == [("image", DataType.FLOAT, (2, 3, 4)), ("n", DataType.INT64, None),
                            ("tokens", DataType.FLOAT, (-1, 4))]
    # images of several sizes: every size that varies is -1
    sizes = np.empty(2, dtype=object)
    sizes[0], sizes[1] = np.zeros((2, 5, 3), np.uint8), np.zeros((4, 1, 3), np.uint8)
    assert _spec(pd.DataFrame({"photo": sizes})) == [("photo", DataType.UINT8, (-1, -1, 3))]


def test_arrow_and_ray_tensor_types_give_their_shapes() -> None:
    fixed = pa.FixedShapeTensorArray.from_numpy_ndarray(IMAGES)
    assert _spec(pa.table({"image": fixed})) == [("image", DataType.FLOAT, (2, 3, 4))]
    for ray_type in (ArrowTensorType, ArrowTensorTypeV2):
        storage_type = ray_type((2, 3, 4), pa.float32()).storage_type
        storage = pa.array(list(IMAGES.reshape(6, -1)), type=storage_type)
        column = pa.ExtensionArray.from_storage(ray_type((2, 3, 4), pa.float32()), storage)
        assert _spec(pa.table({"image": column})) == [("image", DataType.FLOAT, (2, 3, 4))]
    variable = ArrowVariableShapedTensorArray.from_numpy(list(_ragged([2, 1, 3])))
    assert _spec(pa.table({"tokens": variable})) == [("tokens", DataType.FLOAT, (-1, 4))]


def test_list_columns_are_variable_length() -> None:
    table = pa.table({
        "ids": pa.array([[1, 2, 3], [4], [5, 6]]),
        "padded": pa.array([[1, 2], [3, 4], [5, 6]]),  # the same length here, a list still
        "pairs": pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], type=pa.list_(pa.float64(), 2)),
        "embedded": pa.array([[[1.0, 2.0]], [], [[3.0, 4.0], [5.0, 6.0]]],
                             type=pa.list_(pa.list_(pa.float32(), 2))),
        "words": pa.array([["a", "b"], ["c"], []]),
    })
    assert _spec(table) == [("ids", DataType.INT64, (-1,)), ("padded", DataType.INT64, (-1,)),
                            ("pairs", DataType.DOUBLE, (2,)),
                            ("embedded", DataType.FLOAT, (-1, 2)),
                            ("words", DataType.STRING, (-1,))]
    # a DataFrame column of Python lists is a list column too
    assert _spec(pd.DataFrame({"ids": [[1, 2], [3]]})) == [("ids", DataType.INT64, (-1,))]


def test_rows_that_are_no_arrays_are_refused_when_inferring() -> None:
    ranks = np.empty(2, dtype=object)
    ranks[0], ranks[1] = np.zeros((2, 2)), np.zeros(3)
    with pytest.raises(InvalidInput, match=r"column x holds numpy arrays that are no tensor "
                                           r"column: its rows are arrays of different ranks "
                                           r"\(1, 2\); give every row an array of one rank"):
        infer_features(pd.DataFrame({"x": ranks}))


# -- storing -----------------------------------------------------------------------------------


def test_signatures_round_trip_with_their_shapes() -> None:
    signature = ModelSignature(
        inputs=(IMAGE, FeatureSpec("tokens", DataType.INT64, shape=(-1,)),
                FeatureSpec("embedded", DataType.FLOAT, shape=[-1, 16]),  # type: ignore[arg-type]
                FeatureSpec("n", DataType.INT32)),
        outputs=(FeatureSpec("logits", DataType.FLOAT, shape=(10,)),),
    )
    doc = signature.to_dict()
    assert doc["inputs"][0]["shape"] == [2, 3, 4]
    assert doc["inputs"][2]["shape"] == [-1, 16]
    assert doc["inputs"][3]["shape"] is None
    assert ModelSignature.from_dict(json.loads(json.dumps(doc))) == signature
    function = ModelFunctionInfo("forward", "forward", signature)
    assert ModelFunctionInfo.from_manifest(function.to_manifest()) == function  # the manifest
    assert ModelFunctionInfo.from_dict(function.to_dict()) == function  # the catalog, HTTP
    assert IMAGE.describe() == "image FLOAT (2, 3, 4)"
    assert FeatureSpec("x", DataType.FLOAT, shape=()).shape is None  # () is one value


def test_a_shape_must_be_whole_numbers_from_minus_one() -> None:
    with pytest.raises(InvalidInput, match=r"feature x has shape \(3, -2\); sizes are 0 or "
                                           "more, or -1 for a size that varies by row"):
        FeatureSpec("x", DataType.FLOAT, shape=(3, -2))
    with pytest.raises(InvalidInput, match="a shape is a tuple of whole numbers"):
        FeatureSpec("x", DataType.FLOAT, shape=(2.5,))  # type: ignore[arg-type]


def test_a_logged_version_shows_its_shapes(sqlite_reg: Registry) -> None:
    signature = ModelSignature(inputs=(FeatureSpec("tokens", DataType.FLOAT, shape=(-1, 4)),),
                               outputs=(FeatureSpec("length", DataType.INT64),))
    mv = sqlite_reg.log_model(_Lengths(), model_name="lengths", version_name="v1",
                              signatures={"predict": signature})
    (fn,) = sqlite_reg.get_model("lengths").version("v1").show_functions()
    assert fn.signature == signature
    assert mv.run(pd.DataFrame({"tokens": _ragged([2, 1, 3])}))["length"].tolist() == [2, 1, 3]


# -- validation --------------------------------------------------------------------------------


def test_a_wrong_shape_is_refused_naming_the_column_and_both_shapes() -> None:
    small = pa.table({"image": pa.FixedShapeTensorArray.from_numpy_ndarray(IMAGES[:, :, :2])})
    pattern = (r"invalid input: column image has shape \(2, 2, 4\) per row, expected "
               r"\(2, 3, 4\); reshape each row to \(2, 3, 4\); expected columns: image FLOAT "
               r"\(2, 3, 4\)")
    with pytest.raises(InvalidInput, match=pattern):
        prepare_batch(small, [IMAGE])
    with pytest.raises(InvalidInput, match=pattern):
        prepare_batch(pd.DataFrame({"image": list(IMAGES[:, :, :2])}), [IMAGE])
    with pytest.raises(InvalidInput, match=pattern):  # read from the schema alone
        check_schema(small.schema, [IMAGE])
    with pytest.raises(InvalidInput, match=r"column image has shape \(3, 4\) per row, "
                                           r"expected \(2, 3, 4\)"):
        prepare_batch(pd.DataFrame({"image": list(IMAGES[:, 0])}), [IMAGE])


def test_flat_columns_and_tensors_for_scalars_are_refused() -> None:
    flat = pd.DataFrame(IMAGES.reshape(6, -1)[:, :3], columns=["image", "b", "c"])
    with pytest.raises(InvalidInput, match=r"column image has one value per row \(shape \(\)\), "
                                           r"expected an array of shape \(2, 3, 4\) per row.*"
                                           r"unexpected columns: b, c"):
        prepare_batch(flat, [IMAGE])
    with pytest.raises(InvalidInput, match=r"column x has shape \(2, 3, 4\) per row, expected "
                                           r"one value per row \(shape \(\)\)"):
        prepare_batch(pa.table({"x": tensor_array(IMAGES)}), [FeatureSpec("x", DataType.FLOAT)])


def test_sizes_that_vary_by_row_are_checked_from_the_data() -> None:
    pairs = FeatureSpec("pairs", DataType.INT64, shape=(2,))
    lists = pa.table({"pairs": pa.array([[1, 2], [3], [4, 5, 6]])})
    check_schema(lists.schema, [pairs])  # a list's lengths are not in its schema
    with pytest.raises(InvalidInput, match=r"column pairs has shape \(1\.\.3,\) per row, "
                                           r"expected \(2,\)"):
        prepare_batch(lists, [pairs])
    assert prepare_batch(pa.table({"pairs": pa.array([[1, 2], None])}), [pairs]).tensors[
        "pairs"].tolist()[0] == [1.0, 2.0]  # a null row has no size to check
    embedded = FeatureSpec("tokens", DataType.FLOAT, shape=(-1, 4))
    prepare_batch(pd.DataFrame({"tokens": _ragged([1, 5, 2])}), [embedded])
    with pytest.raises(InvalidInput, match=r"column tokens has shape \(1\.\.5, 3\) per row, "
                                           r"expected \(-1, 4\) \(-1: any size\)"):
        prepare_batch(pd.DataFrame({"tokens": _ragged([1, 5, 2], inner=3)}), [embedded])
    uneven = pa.table({"tokens": pa.array([[[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0], [3.0]]])})
    with pytest.raises(InvalidInput, match=r"column tokens is not a tensor column: rows 1 hold "
                                           r"lists of unequal lengths at depth 2"):
        prepare_batch(uneven, [embedded])


def test_every_problem_is_refused_at_once_and_element_types_widen_as_scalars_do() -> None:
    inputs = [IMAGE, FeatureSpec("ids", DataType.INT64, shape=(-1,)),
              FeatureSpec("w", DataType.DOUBLE)]
    bad = pa.table({"image": tensor_array(IMAGES[:, :1]), "ids": pa.array([[0.5]] * 6),
                    "w": np.ones(6)})
    with pytest.raises(InvalidInput) as info:
        prepare_batch(bad, inputs)
    message = str(info.value)
    assert message.count("invalid input") == 1
    assert "column image has shape (1, 3, 4) per row" in message
    assert "column ids is DOUBLE, expected INT64 (cannot be converted safely)" in message
    ints = pa.table({"image": tensor_array(IMAGES.astype(np.int16)),
                     "ids": pa.array([[1], [2, 3]] * 3, type=pa.list_(pa.int32())),
                     "w": np.ones(6, dtype=np.float32)})
    batch = prepare_batch(ints, inputs)
    assert batch.tensors["image"].dtype == np.float32
    np.testing.assert_array_equal(batch.tensors["image"], IMAGES)
    assert batch.table.schema.field("image").type.equals(IMAGE.arrow_type())
    assert batch.table.schema.field("ids").type.equals(pa.list_(pa.int64()))
    with pytest.raises(InvalidInput, match="column image is INT16, expected FLOAT "
                                           r"\(strict_input_validation refuses any cast\)"):
        prepare_batch(ints, inputs, strict=True)
    assert validate_input(ints, inputs).schema.field("image").type.equals(IMAGE.arrow_type())


def test_batch_numpy_refuses_tensors_and_points_at_them() -> None:
    batch = prepare_batch(pa.table({"image": tensor_array(IMAGES)}), [IMAGE])
    with pytest.raises(InvalidInput, match=r"features image \(2, 3, 4\) hold an array per row"):
        _ = batch.numpy


# -- Arrow and pandas --------------------------------------------------------------------------


def test_tensors_are_views_of_the_arrow_storage() -> None:
    fixed = pa.table({"image": pa.FixedShapeTensorArray.from_numpy_ndarray(IMAGES)})
    ray_v2 = pa.table({"image": ArrowTensorArray.from_numpy(IMAGES)})
    assert isinstance(ray_v2.schema.field("image").type, ArrowTensorTypeV2)
    for table in (fixed, ray_v2):
        tensor = prepare_batch(table, [IMAGE]).tensors["image"]
        assert tensor.shape == (6, 2, 3, 4)
        assert np.shares_memory(tensor, IMAGES)  # no copy
    part = prepare_batch(fixed.slice(2, 3), [IMAGE]).tensors["image"]
    np.testing.assert_array_equal(part, IMAGES[2:5])
    assert np.shares_memory(part, IMAGES)
    chunked = pa.concat_tables([fixed.slice(0, 2), fixed.slice(2)])
    np.testing.assert_array_equal(prepare_batch(chunked, [IMAGE]).tensors["image"], IMAGES)


def test_arrow_to_pandas_and_back(tmp_path: Path) -> None:
    table = pa.table({"image": tensor_array(IMAGES), "n": np.arange(6)})
    frame = prepare_batch(table, [IMAGE, FeatureSpec("n", DataType.INT64)]).frame
    assert frame["image"].dtype == object and frame["image"].iloc[4].shape == (2, 3, 4)
    np.testing.assert_array_equal(np.stack(frame["image"].to_list()), IMAGES)
    back = prepare_batch(frame, [IMAGE, FeatureSpec("n", DataType.INT64)]).table
    assert back.schema.field("image").type.equals(IMAGE.arrow_type())
    np.testing.assert_array_equal(back.column("image").combine_chunks().to_numpy_ndarray(),
                                  IMAGES)
    ragged = pa.table({"tokens": tensor_array(_ragged([2, 1]))})
    rows = to_pandas(ragged)["tokens"].to_list()
    assert [r.shape for r in rows] == [(2, 4), (1, 4)]
    pq.write_table(table, tmp_path / "x.parquet")  # Parquet keeps Arrow's tensor type
    assert pq.read_table(tmp_path / "x.parquet").schema.equals(table.schema)


def test_nulls_in_a_nullable_tensor_feature_are_nan_rows() -> None:
    rows = np.empty(3, dtype=object)
    rows[0], rows[1], rows[2] = IMAGES[0], None, IMAGES[2]
    spec = FeatureSpec("image", DataType.FLOAT, shape=(2, 3, 4), nullable=True)
    for data in (pd.DataFrame({"image": rows}), pa.table({"image": tensor_array(rows)})):
        batch = prepare_batch(data, [spec])
        tensor = batch.tensors["image"]
        assert np.isnan(tensor[1]).all()
        np.testing.assert_array_equal(tensor[[0, 2]], IMAGES[[0, 2]])
        assert batch.table.column("image").null_count == 1
    with pytest.raises(InvalidInput, match=r"not nullable: image \(1 null\)"):
        prepare_batch(pd.DataFrame({"image": rows}), [IMAGE])


def test_row_extents_and_values_of_ray_variable_shaped_tensors() -> None:
    column = ArrowVariableShapedTensorArray.from_numpy(list(_ragged([2, 1, 3])))
    assert row_extents(column) == ((1, 3), (4, 4))
    values = tensor_values(column.slice(1))
    assert [v.shape for v in values] == [(1, 4), (3, 4)] and values[1][0, 0] == 2.0


# -- outputs -----------------------------------------------------------------------------------


class _Lengths(CustomModel):
    """Each row's token count, from a column of per-token embeddings."""

    def __init__(self) -> None:
        super().__init__()

    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"length": [len(r) for r in X["tokens"]]})


class _Embed(CustomModel):
    """Per-token embeddings of token-id lists, and a fixed-shape summary per row."""

    def __init__(self) -> None:
        super().__init__()

    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        embedded = [np.outer(np.asarray(ids, np.float32), np.arange(3, dtype=np.float32))
                    for ids in X["ids"]]
        summary = [np.full((2, 2), float(len(e)), np.float32) for e in embedded]
        return pd.DataFrame({"embedded": embedded, "summary": summary})


def test_output_columns_of_arrays(sqlite_reg: Registry) -> None:
    sample = pd.DataFrame({"ids": [[1, 2, 3], [4], [5, 6]]})
    mv = sqlite_reg.log_model(_Embed(), model_name="embed", version_name="v1",
                              sample_input_data=sample)
    (fn,) = mv.show_functions()
    assert fn.signature is not None
    assert [(f.name, f.dtype, f.shape) for f in fn.signature.inputs] == [
        ("ids", DataType.INT64, (-1,))]
    assert [(f.name, f.dtype, f.shape) for f in fn.signature.outputs] == [
        ("embedded", DataType.FLOAT, (-1, 3)), ("summary", DataType.FLOAT, (2, 2))]

    frame = mv.run(sample)  # pandas: an object column of one array per row
    assert [r.shape for r in frame["embedded"]] == [(3, 3), (1, 3), (2, 3)]
    np.testing.assert_array_equal(frame["summary"].iloc[0], np.full((2, 2), 3.0))

    table = mv.run(pa.table({"ids": pa.array([[1], [2]])}))  # rows of one shape: still lists
    assert table.schema.field("embedded").type.equals(pa.list_(pa.list_(pa.float32(), 3)))
    assert table.schema.field("summary").type.equals(
        pa.fixed_shape_tensor(pa.float32(), [2, 2]))
    np.testing.assert_array_equal(tensor_values(table.column("embedded"))[1], [[0, 2, 4]])

    empty = mv.run(pa.table({"ids": pa.array([], type=pa.list_(pa.int64()))}))
    assert empty.num_rows == 0
    assert empty.schema.field("summary").type.equals(pa.fixed_shape_tensor(pa.float32(), [2, 2]))
    assert len(mv.run(sample.iloc[:0])) == 0


def test_an_array_of_rank_3_or_more_is_one_output_column(sqlite_reg: Registry) -> None:
    """torch.nn.Identity returns its (n, 2, 3, 4) input: one column of (2, 3, 4) arrays."""
    mv = sqlite_reg.log_model(torch.nn.Identity(), model_name="same", version_name="v1",
                              sample_input_data=IMAGES)
    (fn,) = mv.show_functions()
    assert fn.signature is not None
    assert fn.signature.outputs == (
        FeatureSpec("output_feature_0", DataType.FLOAT, shape=(2, 3, 4), nullable=False),)
    table = mv.run(pa.table({"input_feature_0": tensor_array(IMAGES)}))
    assert table.schema.field("output_feature_0").type.equals(IMAGE.arrow_type())
    np.testing.assert_array_equal(tensor_values(table.column("output_feature_0")), IMAGES)
    frame = mv.run(pd.DataFrame({"input_feature_0": list(IMAGES)}))
    assert frame["output_feature_0"].dtype == object
    np.testing.assert_array_equal(np.stack(frame["output_feature_0"].to_list()), IMAGES)
    assert Batch(table=to_arrow(IMAGES)).columns == ["input_feature_0"]


def test_tensor_outputs_through_ray(ray_local: None, sqlite_reg: Registry) -> None:  # noqa: F811
    import ray

    mv = sqlite_reg.log_model(torch.nn.Identity(), model_name="same", version_name="v1",
                              sample_input_data=IMAGES)
    ds = ray.data.from_numpy(IMAGES).rename_columns({"data": "input_feature_0"})  # Ray's type
    (table,) = [ray.get(ref) for ref in mv.run(ds).to_arrow_refs()]
    assert table.schema.field("output_feature_0").type.equals(IMAGE.arrow_type())
    np.testing.assert_array_equal(tensor_values(table.column("output_feature_0")), IMAGES)


def test_a_2d_result_is_one_column_where_the_signature_gives_it_a_shape(
    sqlite_reg: Registry,
) -> None:
    signature = ModelSignature(inputs=tuple(FeatureSpec(c, DataType.FLOAT) for c in "abcd"),
                               outputs=(FeatureSpec("logits", DataType.FLOAT, shape=(4,)),))
    mv = sqlite_reg.log_model(torch.nn.Identity(), model_name="logits", version_name="v1",
                              signatures={"forward": signature})
    frame = pd.DataFrame(IMAGES[:2, 0, 0], columns=list("abcd"))
    np.testing.assert_array_equal(mv.run(frame)["logits"].iloc[1], IMAGES[1, 0, 0])
    table = mv.run(pa.Table.from_pandas(frame))
    assert table.schema.field("logits").type.equals(pa.fixed_shape_tensor(pa.float32(), [4]))


class _Means(CustomModel):
    """The mean vector of each partition."""

    def __init__(self) -> None:
        super().__init__()

    @partitioned_api
    def fit_predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"mean": [np.stack(X["x"].to_list()).mean(axis=0)]})


def test_partitions_take_and_give_tensor_columns(sqlite_reg: Registry) -> None:
    signature = ModelSignature(
        inputs=(FeatureSpec("g", DataType.INT64), FeatureSpec("x", DataType.FLOAT, shape=(2,))),
        outputs=(FeatureSpec("mean", DataType.FLOAT, shape=(2,)),))
    mv = sqlite_reg.log_model(_Means(), model_name="means", version_name="v1",
                              signatures={"fit_predict": signature})
    x = IMAGES[:, 0, 0, :2]
    groups = [0, 0, 1, 1, 1, 2]
    out = mv.run(pa.table({"g": groups, "x": tensor_array(x)}), partition_column="g")
    assert out.schema.field("mean").type.equals(pa.fixed_shape_tensor(pa.float32(), [2]))
    np.testing.assert_allclose(tensor_values(out.column("mean")),
                               [x[:2].mean(0), x[2:5].mean(0), x[5:].mean(0)])
    frame = mv.run(pd.DataFrame({"g": groups, "x": list(x)}), partition_column="g")
    np.testing.assert_allclose(frame["mean"].iloc[1], x[2:5].mean(0))


def test_a_column_of_nulls_or_no_rows_is_a_tensor_column_of_the_signature() -> None:
    spec = FeatureSpec("image", DataType.FLOAT, shape=(2, 3, 4), nullable=True)
    nulls = prepare_batch(pd.DataFrame({"image": [None, None]}), [spec])
    assert nulls.table.schema.field("image").type.equals(spec.arrow_type())
    assert np.isnan(nulls.tensors["image"]).all() and nulls.tensors["image"].shape == (2, 2, 3, 4)
    empty = prepare_batch(pd.DataFrame({"image": pd.Series([], dtype=object)}), [spec])
    assert empty.tensors["image"].shape == (0, 2, 3, 4)
