"""PyTorch: nn.Module (cloudpickle) and TorchScript (torch.jit.save), on CPU and CUDA; one 2-D
tensor of scalar features, or a tensor per feature (by keyword or position); a tensor, tuple
or dict of tensors out. (A CNN on images end to end: test_digits_cnn.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from torch import nn

from registry import FeatureSpec, InvalidInput, ModelError, ModelSignature, Task
from registry.handlers import handler_for
from registry.handlers.torch import TorchHandler
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process, run_script

# TorchScript is deprecated from torch 2.10 on; it is still what the handler must load.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
)

# Trains TinyNet, a class that exists only in this script's __main__, on scikit-learn's
# diabetes data and logs it three ways: the nn.Module, scripted and traced. Writes X.parquet
# and <model>.expected.npy for the loading process to compare against.
_TRAIN = """
import sys
import numpy as np, torch
from torch import nn
from sklearn.datasets import load_diabetes
from registry import Registry

class TinyNet(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)

catalog_url, artifact_root, workdir = sys.argv[1:]
torch.manual_seed(0)
X, y = load_diabetes(return_X_y=True, as_frame=True)
inputs = torch.tensor(X.to_numpy(), dtype=torch.float32)
target = torch.tensor(y.to_numpy(), dtype=torch.float32)
net = TinyNet(X.shape[1])
optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
for _ in range(100):
    optimizer.zero_grad()
    loss = ((net(inputs) - target) ** 2).mean()
    loss.backward()
    optimizer.step()
net.eval()
reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
models = {"module": net, "script": torch.jit.script(net),
          "trace": torch.jit.trace(net, inputs[:5])}
for name, model in models.items():
    with torch.no_grad():
        np.save(f"{workdir}/{name}.expected.npy", model(inputs).numpy())
    reg.log_model(model, model_name=name, version_name="v1", sample_input_data=X[:20])
X.to_parquet(f"{workdir}/X.parquet")
"""

_KINDS = ("module", "script", "trace")


def test_module_script_and_trace_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path)
    script = tmp_path / "train_tiny_net.py"
    script.write_text(_TRAIN)
    run_script([str(script), reg.catalog_url, reg.artifact_root, str(reg.workdir)], reg.workdir)
    X = pd.read_parquet(reg.workdir / "X.parquet")

    for kind in _KINDS:
        mv = reg.registry.get_model(kind).version("v1")
        (fn,) = mv.show_functions()
        assert (fn.name, fn.target_method) == ("forward", "forward")
        assert fn.signature is not None
        assert [(f.name, f.dtype) for f in fn.signature.inputs] == [
            (c, DataType.DOUBLE) for c in X.columns
        ]
        assert [(f.name, f.dtype) for f in fn.signature.outputs] == [
            ("output_feature_0", DataType.FLOAT)
        ]
        listed = reg.registry.list_artifacts(f"floe://model/{kind}/versions/v1/model/")
        assert listed["name"].tolist() == ["versions/V1/model/model.pt"]
        metadata = json.loads(reg.registry.get_model(kind).show_versions()["metadata"][0])
        assert metadata["task"] == Task.UNKNOWN.value

    report, outputs = run_in_fresh_process(reg, {kind: ["forward"] for kind in _KINDS})
    assert report["modules"] == []
    # TinyNet exists only in the training script; jit.load gives traced modules scripted form
    assert report["classes"] == {"module": "TinyNet", "script": "RecursiveScriptModule",
                                 "trace": "RecursiveScriptModule"}
    for kind in _KINDS:
        expected = np.load(reg.workdir / f"{kind}.expected.npy")
        np.testing.assert_allclose(outputs[kind, "forward"][:, 0], expected, rtol=1e-6,
                                   atol=1e-6)


def test_tensor_sample_input(tmp_path: Path) -> None:
    """A 2-D tensor as sample_input_data gives columns input_feature_<i>."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1))
    sample = torch.rand(8, 3)
    mv = SqliteRegistry(tmp_path).registry.log_model(
        net, model_name="net", version_name="v1", sample_input_data=sample
    )
    (fn,) = mv.show_functions()
    assert fn.signature is not None
    assert [(f.name, f.dtype) for f in fn.signature.inputs] == [
        (f"input_feature_{i}", DataType.FLOAT) for i in range(3)
    ]
    X = pd.DataFrame(sample.numpy(), columns=[f"input_feature_{i}" for i in range(3)])
    out = mv.run(X, function_name="forward")
    with torch.no_grad():
        np.testing.assert_allclose(out.iloc[:, 3:].to_numpy(), net(sample).numpy(), rtol=1e-6)


def test_use_gpu(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(10, 4)), columns=list("abcd"))
    mv = SqliteRegistry(tmp_path).registry.log_model(
        net, model_name="net", version_name="v1", sample_input_data=X
    )
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInput, match=r"is_available\(\) is False\); load without "
                                               "use_gpu or run on a GPU node"):
            mv.load(options={"use_gpu": True})
        return
    on_gpu = mv.load(options={"use_gpu": True})
    assert next(on_gpu.parameters()).is_cuda  # type: ignore[attr-defined]
    got = TorchHandler().wrap(on_gpu).predict("forward", Batch(frame=X))
    expected = mv.run(X, function_name="forward").iloc[:, 4:].to_numpy()  # loaded on the CPU
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-5, atol=1e-6)


def test_input_takes_the_model_dtype_and_integers_stay_integers(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path).registry
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(6, 3)).astype("float32"), columns=list("abc"))
    double = nn.Linear(3, 1).double()
    out = reg.log_model(double, model_name="double", version_name="v1",
                        sample_input_data=X).run(X, function_name="forward")
    with torch.no_grad():
        expected = double(torch.tensor(X.to_numpy(), dtype=torch.float64)).numpy()
    assert out["output_feature_0"].dtype == np.float64
    np.testing.assert_array_equal(out[["output_feature_0"]].to_numpy(), expected)

    ids = pd.DataFrame(rng.integers(0, 10, size=(6, 4)), columns=list("wxyz"))
    bags = nn.EmbeddingBag(10, 2, mode="sum")  # takes a 2-D LongTensor of ids
    out = reg.log_model(bags, model_name="bags", version_name="v1",
                        sample_input_data=ids).run(ids, function_name="forward")
    with torch.no_grad():
        expected = bags(torch.tensor(ids.to_numpy())).numpy()
    np.testing.assert_allclose(out.iloc[:, 4:].to_numpy(), expected)


def test_logging_leaves_training_mode_and_statistics_alone(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    net[2].eval()  # a submodule the user froze: restored as it was, not to train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(16, 4)), columns=list("abcd"))
    mv = SqliteRegistry(tmp_path).registry.log_model(
        net, model_name="net", version_name="v1", sample_input_data=X
    )
    assert [m.training for m in net.modules()] == [True, True, True, False, True]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    loaded = mv.load()
    assert not any(m.training for m in loaded.modules())  # type: ignore[attr-defined]
    first = mv.run(X, function_name="forward")
    np.testing.assert_array_equal(first, mv.run(X, function_name="forward"))  # no dropout


class _Mixer(nn.Module):
    """Two tensors and a scalar: ``image`` (n, 2, 4), ``weights`` (n, 4), ``scale`` (n,)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)

    def forward(self, image: torch.Tensor, weights: torch.Tensor,
                scale: torch.Tensor) -> torch.Tensor:
        return self.proj(image * weights[:, None, :]).sum(dim=1) * scale[:, None]


def _mixer_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(6, 2, 4)).astype(np.float32),
            rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=6).astype(np.float32))


def test_several_tensors_go_by_keyword_when_named_like_forwards_parameters(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    net = _Mixer()
    image, weights, scale = _mixer_inputs()
    with torch.no_grad():
        expected = net(torch.from_numpy(image), torch.from_numpy(weights),
                       torch.from_numpy(scale)).numpy()
    reg = SqliteRegistry(tmp_path).registry
    # named like forward's parameters, in another order: passed by keyword
    named = {"scale": scale, "weights": weights, "image": image}
    mv = reg.log_model(net, model_name="named", version_name="v1", sample_input_data=named)
    (fn,) = mv.show_functions()
    assert fn.signature is not None
    assert [(f.name, f.shape) for f in fn.signature.inputs] == [
        ("scale", None), ("weights", (4,)), ("image", (2, 4))]
    frame = pd.DataFrame({"scale": scale, "weights": list(weights), "image": list(image)})
    out = mv.run(frame)
    np.testing.assert_allclose(out.iloc[:, 3:].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    # other names: positionally, in signature order
    positional = {"a": image, "b": weights, "c": scale}
    mv = reg.log_model(net, model_name="positional", version_name="v1",
                       sample_input_data=positional)
    table = pa.table({"a": pa.FixedShapeTensorArray.from_numpy_ndarray(image),
                      "b": pa.FixedShapeTensorArray.from_numpy_ndarray(weights), "c": scale})
    out_table = mv.run(table)
    got = np.column_stack([out_table.column(f"output_feature_{i}").to_numpy() for i in range(3)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # positionally in another order: the model sees the wrong tensors, and says so
    with pytest.raises(ModelError, match="function forward raised RuntimeError"):
        reg.log_model(net, model_name="wrong", version_name="v1",
                      sample_input_data={"b": weights, "a": image, "c": scale})


class _Heads(nn.Module):
    """A tuple or a dict of outputs: per-row scores (n,), a 2-D head (n, 2), a map (n, 2, 2)."""

    def __init__(self, as_dict: bool) -> None:
        super().__init__()
        self.as_dict = as_dict

    def forward(self, x: torch.Tensor) -> Any:
        score, pair = x.sum(dim=1), x[:, :2]
        grid = x[:, :4].reshape(-1, 2, 2)
        return {"score": score, "pair": pair, "grid": grid} if self.as_dict else (score, pair)


def test_a_tuple_or_dict_of_tensors_is_a_column_per_tensor(tmp_path: Path) -> None:
    X = pd.DataFrame(np.arange(12, dtype=np.float32).reshape(3, 4), columns=list("abcd"))
    reg = SqliteRegistry(tmp_path).registry
    mv = reg.log_model(_Heads(as_dict=False), model_name="pair", version_name="v1",
                       sample_input_data=X)
    (fn,) = mv.show_functions()
    assert fn.signature is not None
    assert [(f.name, f.shape) for f in fn.signature.outputs] == [
        ("output_feature_0", None), ("output_feature_1", (2,))]
    out = mv.run(X)
    assert out["output_feature_0"].tolist() == [6.0, 22.0, 38.0]
    np.testing.assert_array_equal(out["output_feature_1"].iloc[1], [4.0, 5.0])
    mv = reg.log_model(_Heads(as_dict=True), model_name="heads", version_name="v1",
                       sample_input_data=X)
    table = mv.run(pa.Table.from_pandas(X))
    assert table.column_names[4:] == ["score", "pair", "grid"]
    assert table.schema.field("grid").type.equals(pa.fixed_shape_tensor(pa.float32(), [2, 2]))
    np.testing.assert_array_equal(
        table.column("grid").combine_chunks().to_numpy_ndarray()[2], [[8.0, 9.0], [10.0, 11.0]])


class _Text(nn.Module):
    def forward(self, x: torch.Tensor) -> str:
        return "no tensor"


def test_forward_must_return_tensors(tmp_path: Path) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ModelError, match="forward returned a str; it must return a tensor, or a "
                                         "tuple, list or dict of tensors"):
        SqliteRegistry(tmp_path).registry.log_model(
            _Text(), model_name="text", version_name="v1", sample_input_data=X
        )


def test_rows_of_several_lengths_are_refused_unpadded(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path).registry
    ids = pd.DataFrame({"ids": [np.array([1, 2, 3]), np.array([4, 5, 6])]})
    bags = nn.EmbeddingBag(10, 2, mode="sum")
    signature = ModelSignature(inputs=(FeatureSpec("ids", DataType.INT64, shape=(-1,)),))
    mv = reg.log_model(bags, model_name="bags", version_name="v1", sample_input_data=ids,
                       signatures={"forward": signature})
    out = mv.run(ids)  # rows of one length: one (rows, 3) LongTensor
    with torch.no_grad():
        expected = bags(torch.tensor([[1, 2, 3], [4, 5, 6]])).numpy()
    np.testing.assert_allclose(out.iloc[:, 1:].to_numpy(), expected)
    with pytest.raises(InvalidInput, match=r"feature ids has rows of several shapes \(its shape "
                                           r"is \(-1,\)\); .* pad its rows to one length"):
        mv.run(pd.DataFrame({"ids": [np.array([1, 2, 3]), np.array([4])]}))


def test_only_modules_are_handled(tmp_path: Path) -> None:
    assert isinstance(handler_for(nn.Linear(2, 1)), TorchHandler)
    assert TorchHandler().infer_task(nn.Linear(2, 1)) == Task.UNKNOWN
    assert TorchHandler().explainer(nn.Linear(2, 1), pd.DataFrame()) is None
    with pytest.raises(InvalidInput, match="no handler for it"):
        handler_for(torch.zeros(3))


def test_routing_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry.handlers.torch\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework, 'torch' in sys.modules)\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "False"]
