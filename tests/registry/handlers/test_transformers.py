"""Hugging Face transformers pipelines: stored with save_pretrained (safetensors, no pickle, no
code), loaded offline, run as the task's columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import torch
import transformers
import yaml

from registry import ComputeConfig, IntegrityError, InvalidInput, ModelVersion
from registry.handlers import handler_for
from registry.handlers.transformers import TransformersHandler
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType
from tests.hf_models import PIPELINE_TASKS, bert_tokenizer, build_model, build_pipeline, texts
from tests.ray_fixtures import ray_local  # noqa: F401
from tests.registry.handlers import REPO, SqliteRegistry, run_script
from tests.registry.runtime.conftest import ONE_ACTOR

_NEW_TOKENS = 5

# Runs each named model's version v1 on <model>.parquet in a process that never imported the
# tests' pipeline builders, with the network cut off (an audit hook refuses every socket and
# address lookup, and records them) and no Hugging Face cache (HF_HOME: an empty folder).
# Writes each output column: text as JSON, numbers as .npy, per-row arrays as .npz (no pickle).
_LOADER = """
import json, sys
import numpy as np, pandas as pd

attempts = []
def _no_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
        attempts.append(event)
        raise OSError(f"the network is off in this test ({event})")
sys.addaudithook(_no_network)

from registry import Registry

catalog_url, artifact_root, workdir, *names = sys.argv[1:]
reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
classes = {}
for name in names:
    X = pd.read_parquet(f"{workdir}/{name}.parquet")
    mv = reg.get_model(name).version("v1")
    out = mv.run(X)
    for column in out.columns[X.shape[1]:]:
        values = out[column].to_numpy()
        if values.dtype == object and len(values) and isinstance(values[0], np.ndarray):
            np.savez(f"{workdir}/{name}.{column}.npz", *values)
        elif values.dtype.kind in "fiub":
            np.save(f"{workdir}/{name}.{column}.npy", values)
        else:
            with open(f"{workdir}/{name}.{column}.json", "w") as f:
                json.dump([str(v) for v in values], f)
    classes[name] = type(mv.load()).__name__
print(json.dumps({
    "classes": classes,
    "network": attempts,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] == "tests"),
}))
"""


def _fresh_process(reg: SqliteRegistry, names: list[str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=str(REPO), HF_HOME=str(reg.workdir / "hf-home"))  # tests importable
    proc = subprocess.run(
        [sys.executable, "-c", _LOADER, reg.catalog_url, reg.artifact_root, str(reg.workdir),
         *names], cwd=reg.workdir, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, f"the loader failed:\n{proc.stdout}\n{proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def _read(reg: SqliteRegistry, name: str, column: str) -> Any:
    base = f"{name}.{column}"
    if (reg.workdir / f"{base}.npz").exists():
        with np.load(reg.workdir / f"{base}.npz") as arrays:
            return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    if (reg.workdir / f"{base}.npy").exists():
        return np.load(reg.workdir / f"{base}.npy")
    return json.loads((reg.workdir / f"{base}.json").read_text())


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Any]:
    """One tiny pipeline per task (text generation: max_new_tokens=5), shared by the tests
    that do not change them."""
    extra: dict[str, dict[str, Any]] = {"text-generation": {"max_new_tokens": _NEW_TOKENS}}
    return {task: build_pipeline(task, **extra.get(task, {})) for task in PIPELINE_TASKS}


def _inputs(task: str, count: int = 12) -> pd.DataFrame:
    return texts(count, masked=task == "fill-mask")


def _name(task: str) -> str:
    return task.replace("-", "_")


def _manifest(reg: SqliteRegistry, mv: ModelVersion) -> dict[str, Any]:
    path = Path(reg.artifact_root) / "versions" / mv.id / "MANIFEST.yml"
    manifest: dict[str, Any] = yaml.safe_load(path.read_text())
    return manifest


# what the original pipeline answers, row by row (no batching), as the task's output columns
def _expected(task: str, pipe: Any, rows: list[str]) -> dict[str, Any]:
    if task == "text-classification":
        top = pipe(rows)  # a list of {label, score}: the top label of each
        return {"label": [r["label"] for r in top], "score": [r["score"] for r in top]}
    if task == "token-classification":
        return {"entities": pipe(rows)}
    if task == "fill-mask":
        top = [r[0] for r in pipe(rows, top_k=1)]
        return {key: [r[key] for r in top] for key in ("token_str", "score", "sequence")}
    if task == "text-generation":
        out = pipe(rows, do_sample=False, max_new_tokens=_NEW_TOKENS)
        return {"generated_text": [r[0]["generated_text"] for r in out]}
    return {"embeddings": [pipe(text, return_tensors=True)[0].numpy() for text in rows]}


_OUTPUTS = {
    "text-classification": [("label", DataType.STRING), ("score", DataType.DOUBLE)],
    "token-classification": [("entities", DataType.STRING)],
    "fill-mask": [("token_str", DataType.STRING), ("score", DataType.DOUBLE),
                  ("sequence", DataType.STRING)],
    "text-generation": [("generated_text", DataType.STRING)],
    "feature-extraction": [("embeddings", DataType.FLOAT)],
}


def _assert_same(task: str, column: str, got: Any, want: Any) -> None:
    if column == "score":
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    elif column == "entities":
        for row, entities in zip(got, want, strict=True):
            parsed = json.loads(row)
            assert [{k: v for k, v in e.items() if k != "score"} for e in parsed] == [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in e.items()
                 if k != "score"} for e in entities]
            np.testing.assert_allclose([e["score"] for e in parsed],
                                       [float(e["score"]) for e in entities], rtol=1e-5)
    elif column == "embeddings":
        assert [a.shape for a in got] == [a.shape for a in want]  # each row's own tokens
        for a, b in zip(got, want, strict=True):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    else:
        assert list(got) == list(want), (task, column)


def test_round_trip_in_a_fresh_process(tmp_path: Path, pipelines: dict[str, Any]) -> None:
    """Every task, logged and then run in one fresh process (feature-extraction: one
    (tokens, hidden) array per row, a tensor signature FeatureSpec(shape=(-1, hidden)))."""
    reg = SqliteRegistry(tmp_path)
    tasks = PIPELINE_TASKS
    expected = {}
    for task in tasks:
        pipe, name, X = pipelines[task], _name(task), _inputs(task)
        # no sample_input_data: the task gives the signature
        mv = reg.registry.log_model(pipe, model_name=name, version_name="v1")
        (fn,) = mv.show_functions()
        assert (fn.name, fn.target_method) == ("__call__", "__call__")
        assert fn.signature is not None
        assert [(f.name, f.dtype) for f in fn.signature.inputs] == [("text", DataType.STRING)]
        assert [(f.name, f.dtype) for f in fn.signature.outputs] == _OUTPUTS[task]
        if task == "feature-extraction":
            assert fn.signature.outputs[0].shape == (-1, 16)

        manifest = _manifest(reg, mv)
        assert manifest["framework"] == "transformers"
        assert (manifest["model"]["task"], manifest["model"]["format"]) == (
            task, "transformers-pipeline")
        frameworks = manifest["env"]["frameworks"]
        assert frameworks["transformers"] == transformers.__version__
        assert frameworks["tokenizers"] == version("tokenizers")
        assert frameworks["safetensors"] == version("safetensors")
        stored = reg.registry.list_artifacts(f"floe://model/{name}/versions/v1/model/")
        files = sorted(n.rsplit("/", 1)[-1] for n in stored["name"])
        assert "model.safetensors" in files and "tokenizer.json" in files
        assert all(f.endswith((".json", ".safetensors")) for f in files), files  # no pickle

        X.to_parquet(reg.workdir / f"{name}.parquet")
        expected[task] = _expected(task, pipe, X["text"].tolist())

    report = _fresh_process(reg, [_name(t) for t in tasks])
    assert report["modules"] == []  # tests.hf_models, which built the pipelines: never imported
    assert report["network"] == []  # nothing tried the network (it would have been refused)
    assert report["classes"] == {_name(t): type(pipelines[t]).__name__ for t in tasks}
    for task in tasks:
        for column, want in expected[task].items():
            _assert_same(task, column, _read(reg, _name(task), column), want)


def test_a_tampered_weights_file_is_refused_before_it_is_read(
    tmp_path: Path, pipelines: dict[str, Any]
) -> None:
    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(pipelines["text-classification"], model_name="m",
                                version_name="v1")
    stored = Path(reg.artifact_root) / "versions" / mv.id / "model" / "model.safetensors"
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight: still a valid safetensors file
    stored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model/model.safetensors \(sha256 differs\)"):
        mv.load()
    with pytest.raises(IntegrityError, match=r"model/model.safetensors \(sha256 differs\)"):
        mv.run(texts(3))


def test_pickles_and_code_are_never_loaded(tmp_path: Path, pipelines: dict[str, Any]) -> None:
    handler = TransformersHandler()
    spec = handler.save(pipelines["text-classification"], tmp_path / "model")
    assert spec["files"] == ["config.json", "model.safetensors", "tokenizer.json",
                             "tokenizer_config.json"]
    assert type(handler.load(tmp_path, spec, {}).model).__name__ == "TextClassificationPipeline"
    with pytest.raises(IntegrityError, match="loads as a BertForSequenceClassification, and a "
                                             "BertModel was logged"):
        handler.load(tmp_path, {**spec, "model_class": "BertModel"}, {})

    weights = tmp_path / "model" / "model.safetensors"
    pickle = tmp_path / "model" / "pytorch_model.bin"  # what transformers 4 wrote: a pickle
    torch.save(pipelines["text-classification"].model.state_dict(), pickle)
    with pytest.raises(IntegrityError, match=r"holds pytorch_model.bin, which are not configs.*"
                                             "no pickle, no code"):
        handler.load(tmp_path, spec, {})
    pickle.unlink()
    (tmp_path / "model" / "modeling_own.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(IntegrityError, match="holds modeling_own.py, which are not configs"):
        handler.load(tmp_path, spec, {})
    (tmp_path / "model" / "modeling_own.py").unlink()
    weights.rename(weights.with_suffix(".moved"))
    with pytest.raises(IntegrityError, match="model.moved, which are not configs"):
        handler.load(tmp_path, spec, {})
    weights.with_suffix(".moved").unlink()
    with pytest.raises(IntegrityError, match="holds no safetensors weights"):
        handler.load(tmp_path, spec, {})
    with pytest.raises(IntegrityError, match="unknown transformers pipeline 'summarization'"):
        handler.load(tmp_path, {**spec, "task": "summarization"}, {})


class _OwnHead(transformers.BertForSequenceClassification):  # type: ignore[misc]
    """A model class of the user's own, as trust_remote_code=True would bring."""


class _OwnPipeline(transformers.TextClassificationPipeline):  # type: ignore[misc]
    """A pipeline subclass: its code would not be stored."""


def test_remote_code_and_other_pipelines_are_refused(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path).registry
    tokenizer = bert_tokenizer()
    model = build_model("text-classification", tokenizer)
    own = _OwnHead(model.config)
    with pytest.raises(InvalidInput, match=r"its model is a tests\.registry\.handlers\."
                                           r"test_transformers\._OwnHead.*trust_remote_code=False"):
        reg.log_model(transformers.pipeline("text-classification", model=own,
                                            tokenizer=tokenizer), model_name="own")
    mapped = build_model("text-classification", tokenizer)
    mapped.config.auto_map = {"AutoModelForSequenceClassification": "modeling_own.Head"}
    with pytest.raises(InvalidInput, match=r"config maps to remote code .*CustomModel"):
        reg.log_model(transformers.pipeline("text-classification", model=mapped,
                                            tokenizer=tokenizer), model_name="mapped")
    with pytest.raises(InvalidInput, match=r"_OwnPipeline: the transformers handler stores the "
                                           r"pipelines transformers itself defines"):
        reg.log_model(_OwnPipeline(model=model, tokenizer=tokenizer), model_name="subclass")
    headless = build_model("feature-extraction", tokenizer)  # BertModel: no classifier head
    with pytest.raises(InvalidInput, match="model is a BertModel, and its config loads as "
                                           "BertForSequenceClassification"):
        reg.log_model(transformers.pipeline("text-classification", model=headless,
                                            tokenizer=tokenizer), model_name="headless")
    assert reg.show_models().empty


def test_pipeline_parameters_are_kept_or_refused(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path)
    kept: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("token-classification", {"aggregation_strategy": "simple"},
         {"aggregation_strategy": "simple"}),
        ("text-classification", {"function_to_apply": "sigmoid"},
         {"top_k": 1, "function_to_apply": "sigmoid"}),
        ("text-generation", {"max_new_tokens": 3, "return_full_text": False},
         {"do_sample": False, "max_new_tokens": 3, "return_full_text": False}),
        ("text-generation", {}, {"do_sample": False, "max_new_tokens": 20}),  # Floe's default
    ]
    for i, (task, built_with, call) in enumerate(kept):
        pipe = build_pipeline(task, **built_with)
        mv = reg.registry.log_model(pipe, model_name=f"kept_{i}", version_name="v1")
        assert _manifest(reg, mv)["model"]["call"] == call
        X = texts(6)
        out = mv.run(X)  # loaded from the verified copy: the parameters come from the manifest
        if task == "token-classification":
            got = [json.loads(row) for row in out["entities"]]
            assert all("entity_group" in e for row in got for e in row)
            assert [[e["word"] for e in row] for row in got] == [
                [e["word"] for e in row] for row in pipe(X["text"].tolist())]
        elif task == "text-classification":
            want = pipe(X["text"].tolist())
            np.testing.assert_allclose(out["score"], [r["score"] for r in want], rtol=1e-5)
        else:
            want = pipe(X["text"].tolist(), do_sample=False, max_new_tokens=call["max_new_tokens"])
            assert out["generated_text"].tolist() == [r[0]["generated_text"] for r in want]
            if not call.get("return_full_text", True):
                assert not any(g.startswith(t) for g, t in zip(out["generated_text"], X["text"], strict=True))

    refused = [
        ("text-classification", {"top_k": 2}, r"top_k=2, which Floe does not keep.*"
                                               r"\{'top_k': 1\}.*function_to_apply"),
        ("text-generation", {"do_sample": True}, r"do_sample=True, which Floe does not keep"),
        ("text-generation", {"return_tensors": True}, r"return_type=TENSORS \(from return_tensors=True\), which"),
        ("fill-mask", {"targets": ["cat"]}, r"targets= \(token ids \[\d+\]\), which Floe does not keep"),
    ]
    for task, built_with, message in refused:
        with pytest.raises(InvalidInput, match=message):
            reg.registry.log_model(build_pipeline(task, **built_with), model_name="refused")


def test_the_input_is_one_text_column(tmp_path: Path, pipelines: dict[str, Any]) -> None:
    predictor = TransformersHandler().wrap(pipelines["text-classification"])
    X = texts(4)
    with pytest.raises(InvalidInput, match="takes one text column, and the input has 2"):
        predictor.predict("__call__", Batch(frame=X.assign(other="a")))
    with pytest.raises(InvalidInput, match="has 1 null; .*fill or drop those rows"):
        predictor.predict("__call__", Batch(frame=pd.DataFrame({"text": ["a cat", None]})))
    with pytest.raises(InvalidInput, match="the column text is int64, not text"):
        predictor.predict("__call__", Batch(frame=pd.DataFrame({"text": [1, 2]})))
    review = predictor.predict("__call__", Batch(frame=X.rename(columns={"text": "review"})))
    assert list(review.columns) == ["label", "score"]  # any one text column: the signature's

    reg = SqliteRegistry(tmp_path)
    mv = reg.registry.log_model(pipelines["fill-mask"], model_name="fill", version_name="v1")
    masked = texts(4, masked=True)["text"].tolist()
    bad = pd.DataFrame({"text": [masked[0], "no mask here", "[MASK] and [MASK]", masked[1]]})
    with pytest.raises(InvalidInput, match=r"fill-mask fills one \[MASK\] per row, and 2 row\(s\) "
                                           r"hold another count: row 1 \(0\), row 2 \(2\)"):
        mv.run(bad)
    with pytest.raises(InvalidInput, match="nulls in columns that are not nullable: text"):
        mv.run(pd.DataFrame({"text": [masked[0], None]}))


@pytest.mark.usefixtures("ray_local")
def test_a_ray_dataset_runs_as_in_process(tmp_path: Path, pipelines: dict[str, Any]) -> None:
    import ray

    mv = SqliteRegistry(tmp_path).registry.log_model(
        pipelines["text-classification"], model_name="m", version_name="v1")
    X = texts(20).assign(row_id=np.arange(20))
    out = mv.run(ray.data.from_pandas(X).repartition(3), passthrough_columns=["row_id"],
                 compute=ComputeConfig(batch_size=4, **ONE_ACTOR))
    got = out.to_pandas().sort_values("row_id").reset_index(drop=True)
    local = mv.run(X.drop(columns=["row_id"]))
    assert list(got.columns) == ["text", "row_id", "label", "score"]
    assert got["text"].tolist() == X["text"].tolist()
    assert got["label"].tolist() == local["label"].tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), local["score"].to_numpy(), rtol=1e-5)


def test_use_gpu_is_refused_without_cuda(tmp_path: Path, pipelines: dict[str, Any]) -> None:
    mv = SqliteRegistry(tmp_path).registry.log_model(
        pipelines["text-classification"], model_name="m", version_name="v1")
    assert str(mv.load().device) == "cpu"  # type: ignore[attr-defined]
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInput, match="use_gpu=True but no CUDA device"):
            mv.load(options={"use_gpu": True})
        return
    pipe: Any = mv.load(options={"use_gpu": True})
    assert pipe.device.type == "cuda"


@pytest.fixture
def _torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=None):  # set_threads limits the process's pools
        yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("_torch_threads")
def test_set_threads_sets_torchs(pipelines: dict[str, Any]) -> None:
    predictor = TransformersHandler().wrap(pipelines["text-classification"])
    before = predictor.predict("__call__", Batch(frame=texts(4)))
    predictor.set_threads(1)
    assert predictor.threads() == 1 == torch.get_num_threads()
    pd.testing.assert_frame_equal(predictor.predict("__call__", Batch(frame=texts(4))), before)


def test_routing(tmp_path: Path, pipelines: dict[str, Any]) -> None:
    for pipe in pipelines.values():
        assert isinstance(handler_for(pipe), TransformersHandler)
    assert not TransformersHandler.can_handle(pipelines["text-classification"].model)
    code = (
        "import sys\n"
        "from sklearn.linear_model import LinearRegression\n"
        "import registry.handlers.transformers\n"
        "from registry.handlers import handler_for\n"
        "print(handler_for(LinearRegression()).framework,\n"
        "      *(name in sys.modules for name in ('transformers', 'tokenizers', 'torch')))\n"
    )
    assert run_script(["-c", code], tmp_path).split() == ["sklearn", "False", "False", "False"]
