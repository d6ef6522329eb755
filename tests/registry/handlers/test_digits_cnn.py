"""A small CNN on scikit-learn's digit images, end to end: trained here on ``(n, 1, 8, 8)``
float32 images, logged with a numpy sample (one FLOAT feature of shape (1, 8, 8)), then run on
a DataFrame of arrays, an Arrow ``fixed_shape_tensor`` table, two Ray Datasets (Ray's own
tensor type, and Arrow's in two blocks) and in a fresh process that reads the images from
Parquet; each gives the trained module's own logits. A wrong shape is refused naming the
column and both shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from registry import DataType, FeatureSpec, InvalidInput, ModelVersion
from tests.ray_fixtures import ray_local  # noqa: F401  (a fixture)
from tests.registry.handlers import SqliteRegistry, run_script

COLUMN = "input_feature_0"
OUTPUTS = [f"output_feature_{i}" for i in range(10)]

# Loads version v1 of "cnn" in a process that never trained it, runs it on the images that
# X.parquet holds as a fixed_shape_tensor column (read as Arrow, so they keep their shape), and
# saves the logits; reports the tests modules the load imported.
_LOADER = """
import json, sys
import numpy as np, pyarrow.parquet as pq
from registry import Registry

catalog_url, artifact_root, workdir = sys.argv[1:]
reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
X = pq.read_table(f"{workdir}/X.parquet")
out = reg.get_model("cnn").version("v1").run(X)
np.save(f"{workdir}/logits.npy", np.column_stack(
    [out.column(f"output_feature_{i}").to_numpy() for i in range(10)]))
print(json.dumps({"type": str(X.schema.field(0).type),
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] == "tests")}))
"""


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_digits(return_X_y=True)
    return (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), labels


@pytest.fixture(scope="module")
def trained(digits: tuple[np.ndarray, np.ndarray]) -> tuple[nn.Module, np.ndarray]:
    """Conv2d -> ReLU -> pool -> Linear, 20 full-batch epochs (about 2 s), and its logits.
    Built of torch's own classes, so the pickle refers to no test code."""
    images, labels = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    inputs, target = torch.from_numpy(images), torch.from_numpy(labels)
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(inputs), target).backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        logits = net(inputs).numpy()
    assert (logits.argmax(axis=1) == labels).mean() > 0.85  # it learned the digits
    return net, logits


@pytest.fixture(scope="module")
def logged(
    trained: tuple[nn.Module, np.ndarray], digits: tuple[np.ndarray, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SqliteRegistry, ModelVersion]]:
    reg = SqliteRegistry(tmp_path_factory.mktemp("cnn"))
    mv = reg.registry.log_model(trained[0], model_name="cnn", version_name="v1",
                                sample_input_data=digits[0][:32])
    yield reg, mv


def _logits(out: pd.DataFrame | pa.Table) -> np.ndarray:
    if isinstance(out, pa.Table):
        return np.column_stack([out.column(name).to_numpy() for name in OUTPUTS])
    return out[OUTPUTS].to_numpy(dtype=np.float32)  # Ray's pandas columns are pyarrow-backed


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_signature_is_one_image_feature(logged: tuple[SqliteRegistry, ModelVersion]) -> None:
    (fn,) = logged[1].show_functions()
    assert fn.signature is not None
    assert fn.signature.inputs == (
        FeatureSpec(COLUMN, DataType.FLOAT, shape=(1, 8, 8), nullable=False),)
    assert [(f.name, f.dtype, f.shape) for f in fn.signature.outputs] == [
        (name, DataType.FLOAT, None) for name in OUTPUTS]


def test_runs_in_process_on_arrays_and_tensors(
    logged: tuple[SqliteRegistry, ModelVersion], trained: tuple[nn.Module, np.ndarray],
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    mv, logits, images = logged[1], trained[1], digits[0]
    frame = pd.DataFrame({COLUMN: list(images)})
    _close(_logits(mv.run(frame)), logits)
    table = pa.table({COLUMN: pa.FixedShapeTensorArray.from_numpy_ndarray(images)})
    out = mv.run(table)
    assert out.schema.field(COLUMN).type.equals(table.schema.field(COLUMN).type)
    _close(_logits(out), logits)
    # elements follow the scalar rules: float64 does not narrow to the signature's FLOAT
    with pytest.raises(InvalidInput, match=rf"column {COLUMN} is DOUBLE, expected FLOAT "
                                           r"\(cannot be converted safely\)"):
        mv.run(pd.DataFrame({COLUMN: list(images.astype(np.float64))}))


def test_runs_on_ray_datasets(
    ray_local: None,  # noqa: F811
    logged: tuple[SqliteRegistry, ModelVersion], trained: tuple[nn.Module, np.ndarray],
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    import ray

    mv, logits, images = logged[1], trained[1], digits[0]
    # ray.data.from_numpy: Ray's ArrowTensorTypeV2 column, named "data"
    ds = ray.data.from_numpy(images[:600]).rename_columns({"data": COLUMN})
    _close(_logits(mv.run(ds).to_pandas()), logits[:600])
    # Arrow's fixed_shape_tensor in two blocks, each row found again by its id
    tables = [pa.table({"id": np.arange(start, stop),
                        COLUMN: pa.FixedShapeTensorArray.from_numpy_ndarray(images[start:stop])})
              for start, stop in ((0, 700), (700, len(images)))]
    out = mv.run(ray.data.from_arrow(tables), passthrough_columns=["id"]).to_pandas()
    out = out.sort_values("id")
    assert out["id"].tolist() == list(range(len(images)))
    _close(_logits(out), logits)


def test_a_fresh_process_gives_the_same_logits(
    logged: tuple[SqliteRegistry, ModelVersion], trained: tuple[nn.Module, np.ndarray],
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    reg = logged[0]
    table = pa.table({COLUMN: pa.FixedShapeTensorArray.from_numpy_ndarray(digits[0])})
    pq.write_table(table, reg.workdir / "X.parquet")
    stdout = run_script(["-c", _LOADER, reg.catalog_url, reg.artifact_root, str(reg.workdir)],
                        reg.workdir, can_import_tests=True)
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report == {"type": str(table.schema.field(0).type), "modules": []}
    _close(np.load(Path(reg.workdir) / "logits.npy"), trained[1])


def test_a_wrong_shape_is_refused_naming_the_column_and_both_shapes(
    logged: tuple[SqliteRegistry, ModelVersion], digits: tuple[np.ndarray, np.ndarray],
) -> None:
    mv, images = logged[1], digits[0][:5]
    cropped = images[:, :, :7, :7]
    expected = r"\(1, 8, 8\)"
    for data in (pd.DataFrame({COLUMN: list(cropped)}),
                 pa.table({COLUMN: pa.FixedShapeTensorArray.from_numpy_ndarray(
                     np.ascontiguousarray(cropped))})):
        with pytest.raises(InvalidInput, match=rf"column {COLUMN} has shape \(1, 7, 7\) per "
                                               rf"row, expected {expected}; reshape each row"):
            mv.run(data)
    flat = pd.DataFrame(images.reshape(5, 64), columns=[f"input_feature_{i}" for i in range(64)])
    with pytest.raises(InvalidInput, match=rf"column {COLUMN} has one value per row \(shape "
                                           rf"\(\)\), expected an array of shape {expected} per "
                                           r"row.*unexpected columns: input_feature_1, "):
        mv.run(flat)


def test_explaining_tensor_features_is_refused_with_the_option_that_logs_without(
    trained: tuple[nn.Module, np.ndarray], digits: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    reg = SqliteRegistry(tmp_path)
    with pytest.raises(InvalidInput, match=r"input_feature_0 FLOAT \(1, 8, 8\) hold a tensor "
                       r"per row.*enable_explainability"):
        reg.registry.log_model(trained[0], model_name="cnn", version_name="v1",
                               sample_input_data=digits[0][:32],
                               task="TABULAR_MULTI_CLASSIFICATION")
    assert reg.registry.show_models().empty  # nothing was logged
    mv = reg.registry.log_model(trained[0], model_name="cnn", version_name="v1",
                                sample_input_data=digits[0][:32],
                                task="TABULAR_MULTI_CLASSIFICATION",
                                options={"enable_explainability": False})
    assert [f.name for f in mv.show_functions()] == ["forward"]
