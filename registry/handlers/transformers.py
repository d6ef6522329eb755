"""Hugging Face ``transformers`` pipelines of five text tasks, stored with ``save_pretrained``
(config, tokenizer files and safetensors weights: no pickle, no code) and loaded offline.

``log_model`` takes a ``transformers.Pipeline`` of transformers' own class for one of the
tasks ``text-classification``, ``token-classification``, ``fill-mask``, ``text-generation`` and
``feature-extraction`` (``pipeline(task, model=..., tokenizer=...)``), around a model of
transformers' own class for that task's head. What is stored is ``pipeline.save_pretrained``'s
folder, checked file by file: only JSON, text, SentencePiece ``.model`` and ``.jinja`` files and
``.safetensors`` weights are kept (transformers 5 writes nothing else; a ``.bin`` pickle or a
``.py`` file is refused, at save and again at load). The task, the pipeline and model classes,
the call's parameters and the batch size are the manifest's ``model`` section.

No remote code, ever: a pipeline, model or tokenizer whose class comes from outside
transformers (``trust_remote_code=True``, a subclass in the user's code) or a config with an
``auto_map`` is refused at log time (wrap such a pipeline in a CustomModel). Loading builds the
task's model and tokenizer from the verified private copy with ``from_pretrained(...,
local_files_only=True, trust_remote_code=False, use_safetensors=True)`` and wraps them with
``transformers.pipeline(task, model=..., tokenizer=..., device=...)``: the hub is never asked,
whatever ``HF_HUB_OFFLINE`` says, and nothing global is changed. (``pipeline(task,
model=folder, local_files_only=True)`` does not work here: ``pipeline`` hands
``local_files_only`` on to the task's call, where text generation refuses it.) The loaded
model must be of the class that was logged.

The one function is ``__call__``, as Snowflake names a pipeline's function. It takes one text
column (any name, the sample's; nulls are refused) and calls the pipeline once on the whole
column with the recorded ``batch_size``. Its outputs, one row per input row:

* ``text-classification``: ``label`` (STRING) and ``score`` (DOUBLE), the top label (top_k=1);
* ``token-classification``: ``entities`` (STRING), the row's entities as JSON text (a list of
  objects with ``entity`` or ``entity_group``, ``score``, ``word``, ``start``, ``end``...):
  signatures have no struct type;
* ``fill-mask``: ``token_str``, ``score`` and ``sequence`` of the top token (top_k=1); a row must
  hold the tokenizer's mask token exactly once;
* ``text-generation``: ``generated_text`` (STRING), greedy (``do_sample=False``) so that a
  version answers the same prompt alike, with ``max_new_tokens`` from the pipeline
  (``pipeline(..., max_new_tokens=8)``), else the model's generation config, else 20;
* ``feature-extraction``: ``embeddings``, per row a float32 array (tokens, hidden): the row's
  own tokens only (the pipeline hands back a batch's padding too, which is cut off here).

The call's parameters are decided once, at log time, from the pipeline: those the pipeline
was built with that Floe keeps (``function_to_apply``; ``aggregation_strategy`` and
``ignore_labels``; ``truncation``; ``max_new_tokens`` and ``return_full_text``) are recorded;
any other (``top_k=3``, ``do_sample=True``, ``targets=``...) is refused, since the stored folder
does not hold them and the outputs above are what the function promises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from registry.errors import IntegrityError, InvalidInput
from registry.handlers.base import Handler, Predictor, model_type_name, mro_modules
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType, FeatureSpec, ModelSignature

__all__ = ["TransformersHandler", "TransformersPredictor"]

log = logging.getLogger(__name__)

_FORMAT = "transformers-pipeline"
_FUNCTION = "__call__"
_PIPELINE = "transformers.pipelines.base.Pipeline"
_BATCH_SIZE = 8
_MAX_NEW_TOKENS = 20
_STORED_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".jinja")
_CUSTOM = "wrap it in a CustomModel"


def _value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _return_full_text(value: Any) -> tuple[str, Any] | None:
    """``return_full_text=`` as text generation keeps it (its ``ReturnType``); None for
    ``return_tensors``, whose token ids are not the text the function returns."""
    name = getattr(value, "name", None)
    return ("return_full_text", name == "FULL_TEXT") if name in ("FULL_TEXT", "NEW_TEXT") else None


@dataclass(frozen=True)
class _Task:
    """One supported task: its pipeline class, the Auto class its model loads with, the call
    parameters Floe always passes (they shape the outputs), and the parameters a pipeline may
    be built with that Floe keeps: the pipeline's own key -> (the call's keyword, its value)."""

    pipeline_class: str
    auto_class: str
    fixed: Mapping[str, Any]
    kept: Mapping[str, Callable[[Any], tuple[str, Any] | None]]


_TASKS: dict[str, _Task] = {
    "text-classification": _Task(
        "TextClassificationPipeline", "AutoModelForSequenceClassification", {"top_k": 1},
        {"function_to_apply": lambda v: ("function_to_apply", str(_value(v)))},
    ),
    "token-classification": _Task(
        "TokenClassificationPipeline", "AutoModelForTokenClassification", {},
        {"aggregation_strategy": lambda v: ("aggregation_strategy", str(_value(v))),
         "ignore_labels": lambda v: ("ignore_labels", [str(label) for label in v])},
    ),
    "fill-mask": _Task("FillMaskPipeline", "AutoModelForMaskedLM", {"top_k": 1}, {}),
    "text-generation": _Task(
        "TextGenerationPipeline", "AutoModelForCausalLM", {"do_sample": False},
        {"max_new_tokens": lambda v: ("max_new_tokens", int(v)),
         "return_type": _return_full_text},
    ),
    "feature-extraction": _Task(
        "FeatureExtractionPipeline", "AutoModel", {"return_tensors": True},
        {"truncation": lambda v: ("truncation", bool(v))},
    ),
}
_BY_CLASS = {task.pipeline_class: name for name, task in _TASKS.items()}


def _strings(*names: str) -> tuple[FeatureSpec, ...]:
    return tuple(FeatureSpec(name, DataType.STRING, nullable=False) for name in names)


_SCORE = FeatureSpec("score", DataType.DOUBLE, nullable=False)
# each task's output columns, in order (feature-extraction's array: see declared_signatures)
_OUTPUTS: dict[str, tuple[FeatureSpec, ...]] = {
    "text-classification": (*_strings("label"), _SCORE),
    "token-classification": _strings("entities"),
    "fill-mask": (*_strings("token_str"), _SCORE, *_strings("sequence")),
    "text-generation": _strings("generated_text"),
    "feature-extraction": (),
}


@dataclass(frozen=True)
class _Plan:
    """What ``save`` records and ``load`` and ``wrap`` run with."""

    task: str
    model_class: str
    call: Mapping[str, Any]
    batch_size: int


@dataclass(frozen=True, eq=False)
class TransformersPredictor(Predictor):
    """A pipeline (``model``), its task, the keyword arguments of every call and the batch
    size it runs with."""

    task: str
    call: Mapping[str, Any]
    batch_size: int

    def _predict(self, method: str, batch: Batch) -> pd.DataFrame:
        texts = self._texts(batch)
        pipe: Any = self.model
        results = pipe(texts, batch_size=self.batch_size, **self.call)
        return _outputs(self.task, pipe, texts, results, self.call)

    def _texts(self, batch: Batch) -> list[str]:
        if len(batch.columns) != 1:
            raise InvalidInput(
                f"a {self.task} pipeline takes one text column, and the input has "
                f"{len(batch.columns)} ({', '.join(batch.columns)}); pass only the text column"
            )
        column = batch.frame.iloc[:, 0]
        nulls = int(column.isna().sum())
        if nulls:
            raise InvalidInput(
                f"the text column {batch.columns[0]} has {nulls} null{'s' * (nulls != 1)}; a "
                f"{self.task} pipeline needs a text in every row: fill or drop those rows"
            )
        if not pd.api.types.is_string_dtype(column):  # an object column: every value a str
            raise InvalidInput(
                f"the column {batch.columns[0]} is {column.dtype}, not text; a {self.task} "
                "pipeline takes one column of strings"
            )
        texts: list[str] = column.tolist()
        if self.task == "fill-mask":
            pipe: Any = self.model
            _check_masks(texts, str(pipe.tokenizer.mask_token))
        return texts

    def set_threads(self, count: int) -> None:
        import torch

        super().set_threads(count)
        torch.set_num_threads(count)

    def threads(self) -> int | None:
        import torch

        return int(torch.get_num_threads())


class TransformersHandler(Handler):
    framework: ClassVar[str] = "transformers"
    distributions: ClassVar[tuple[str, ...]] = (
        "transformers", "tokenizers", "torch", "safetensors", "numpy")

    @classmethod
    def can_handle(cls, model: object) -> bool:
        """Any ``transformers.Pipeline`` (by its type's module, without importing
        transformers): one this handler cannot store is refused by ``save``, saying why."""
        return "transformers" in mro_modules(model) and any(
            f"{c.__module__}.{c.__qualname__}" == _PIPELINE for c in type(model).__mro__
        )

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        plan = _plan(model)
        dest.mkdir(parents=True, exist_ok=True)
        pipe: Any = model
        pipe.save_pretrained(str(dest))
        stored = _check_files(dest, InvalidInput, f"{model_type_name(model)}.save_pretrained wrote")
        return {
            "path": "model", "format": _FORMAT, "task": plan.task,
            "pipeline_class": _TASKS[plan.task].pipeline_class, "model_class": plan.model_class,
            "call": dict(plan.call), "batch_size": plan.batch_size, "files": stored,
        }

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        import transformers

        task = str(spec.get("task"))
        if spec.get("format") != _FORMAT or task not in _TASKS:
            raise IntegrityError(
                f"the manifest names an unknown transformers pipeline {task!r} in format "
                f"{spec.get('format')!r}; it was not written by this handler"
            )
        folder = src / str(spec["path"])
        _check_files(folder, IntegrityError, "the stored pipeline holds")
        device = _device(bool(options.get("use_gpu", False)))
        local: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        auto = getattr(transformers, _TASKS[task].auto_class)
        weights = auto.from_pretrained(str(folder), use_safetensors=True, **local)
        if type(weights).__name__ != spec.get("model_class"):
            raise IntegrityError(
                f"the stored {task} model loads as a {type(weights).__name__}, and a "
                f"{spec.get('model_class')} was logged; it was not written by this handler"
            )
        tokenizer: Any = transformers.AutoTokenizer.from_pretrained(str(folder), **local)
        build: Callable[..., Any] = transformers.pipeline  # typed per literal task name
        pipe = build(task, model=weights, tokenizer=tokenizer, device=device)
        return TransformersPredictor(
            pipe, (_FUNCTION,), task=task, call=dict(spec["call"]),
            batch_size=int(spec["batch_size"]),
        )

    def wrap(self, model: object) -> TransformersPredictor:
        plan = _plan(model)
        return TransformersPredictor(model, (_FUNCTION,), task=plan.task, call=plan.call,
                                     batch_size=plan.batch_size)

    def target_methods(self, model: object) -> list[str]:
        return [_FUNCTION]

    def declared_signatures(self, predictor: Predictor) -> Mapping[str, ModelSignature]:
        """The task's signature: ``text`` in, the task's columns out (see the module), so a
        pipeline logs without ``sample_input_data``; ``signatures=`` may name the text column
        otherwise."""
        if not isinstance(predictor, TransformersPredictor):
            return {}
        outputs = _OUTPUTS[predictor.task]
        if predictor.task == "feature-extraction":
            pipe: Any = predictor.model
            hidden = getattr(pipe.model.config, "hidden_size", None)
            outputs = (FeatureSpec("embeddings", DataType.FLOAT, shape=(-1, int(hidden or -1)),
                                   nullable=False),)
        return {_FUNCTION: ModelSignature(
            inputs=(FeatureSpec("text", DataType.STRING, nullable=False),), outputs=outputs)}


def _plan(model: object) -> _Plan:
    """The task of a pipeline Floe can store, and the call it runs with; or ``InvalidInput``
    naming what it cannot store (another pipeline, remote code, parameters it would lose)."""
    import transformers

    pipe: Any = model
    name = type(model).__name__
    task = _BY_CLASS.get(name) if type(model).__module__.startswith("transformers.") else None
    if task is None:
        supported = ", ".join(f"{t} ({spec.pipeline_class})" for t, spec in _TASKS.items())
        raise InvalidInput(
            f"cannot log a {model_type_name(model)}: the transformers handler stores the "
            f"pipelines transformers itself defines for {supported}; {_CUSTOM}"
        )
    if pipe.tokenizer is None:
        raise InvalidInput(f"the {task} pipeline has no tokenizer; build it with tokenizer=")
    outside = [f"its {what} is a {model_type_name(part)}"
               for what, part in (("model", pipe.model), ("tokenizer", pipe.tokenizer))
               if not type(part).__module__.startswith("transformers.")]
    for what, auto_map in (("model's config", getattr(pipe.model.config, "auto_map", None)),
                           ("tokenizer", pipe.tokenizer.init_kwargs.get("auto_map"))):
        if auto_map:
            outside.append(f"its {what} maps to remote code ({auto_map})")
    if outside:
        raise InvalidInput(
            f"cannot log the {task} pipeline: {'; '.join(outside)}. Floe loads pipelines with "
            f"trust_remote_code=False and stores no code: log a model of transformers' own "
            f"classes, or {_CUSTOM}"
        )
    auto = getattr(transformers, _TASKS[task].auto_class)
    try:
        expected = auto._model_mapping[type(pipe.model.config)]
    except KeyError:
        expected = None
    if expected is not type(pipe.model):
        shown = expected.__name__ if expected is not None else "no model"
        raise InvalidInput(
            f"the {task} pipeline's model is a {type(pipe.model).__name__}, and its config "
            f"loads as {shown} for {task} ({_TASKS[task].auto_class}); log the pipeline with "
            "the model class of its task's head"
        )
    return _Plan(task, type(pipe.model).__name__, _call(task, pipe),
                 int(pipe._batch_size or _BATCH_SIZE))


def _call(task: str, pipe: Any) -> dict[str, Any]:
    """The keyword arguments of every call: the task's fixed ones, and those the pipeline was
    built with (its parameters that differ from a plain pipeline's) that Floe keeps."""
    spec = _TASKS[task]
    given: dict[str, Any] = dict(getattr(pipe, "_generate_kwargs", None) or {})
    for mine, plain in zip(
        (pipe._preprocess_params, pipe._forward_params, pipe._postprocess_params),
        pipe._sanitize_parameters(), strict=True,
    ):
        given.update({k: v for k, v in mine.items() if k not in plain or plain[k] != v})
    given.pop("_legacy", None)  # the pipeline's note that top_k was given
    call = dict(spec.fixed)
    lost = []
    for key, value in given.items():
        keep = spec.kept[key](value) if key in spec.kept else None
        if keep is not None:
            call[keep[0]] = keep[1]
        elif key not in spec.fixed or spec.fixed[key] != value:
            lost.append(_shown(key, value))
    if lost:
        keeps = ", ".join(spec.kept) or "none"
        raise InvalidInput(
            f"the {task} pipeline was built with {', '.join(lost)}, which Floe does not keep: "
            f"it stores the model and tokenizer (save_pretrained) and calls the pipeline with "
            f"{spec.fixed or 'no parameters'} (parameters it keeps: {keeps}); build the "
            f"pipeline without them, or {_CUSTOM}"
        )
    if task == "text-generation" and "max_new_tokens" not in call:
        configured = getattr(pipe.model.generation_config, "max_new_tokens", None)
        call["max_new_tokens"] = int(configured or _MAX_NEW_TOKENS)
        log.info("text generation runs with max_new_tokens=%d (%s); build the pipeline with "
                 "max_new_tokens= to choose", call["max_new_tokens"],
                 "the model's generation config" if configured else "Floe's default")
    return call


def _shown(key: str, value: Any) -> str:
    """A parameter as the pipeline holds it, named as it is passed where that differs."""
    if key == "target_ids":
        return f"targets= (token ids {np.asarray(value).tolist()})"
    if key == "return_type":  # return_tensors, return_text or return_full_text
        return f"return_type={getattr(value, 'name', value)} (from return_tensors=True)"
    return f"{key}={_value(value)!r}"


def _check_files(folder: Path, error: type[InvalidInput | IntegrityError], what: str) -> list[str]:
    """The folder's file names, once each is a kind that holds no pickle and no code; else
    ``error`` naming the others."""
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    others = [n for n in names if not (folder / n).is_file() or not n.endswith(_STORED_SUFFIXES)]
    if others or not any(n.endswith(".safetensors") for n in names):
        problem = (f"{', '.join(others)}, which are not configs, tokenizer files or safetensors "
                   "weights" if others else "no safetensors weights")
        raise error(
            f"{what} {problem}; Floe stores pipelines as JSON, tokenizer files and safetensors "
            f"weights only (no pickle, no code): save the model with safetensors, or {_CUSTOM}"
        )
    return names


def _device(use_gpu: bool) -> str:
    import torch

    if use_gpu and not torch.cuda.is_available():
        raise InvalidInput(
            "use_gpu=True but no CUDA device is visible to this process (torch.cuda."
            "is_available() is False); load without use_gpu or run on a GPU node"
        )
    return "cuda" if use_gpu else "cpu"


def _check_masks(texts: list[str], mask: str) -> None:
    """Each row holds the mask token once (counted by Arrow, not row by row in Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts = pc.count_substring(pa.array(texts, pa.string()), mask).to_numpy()
    bad = np.flatnonzero(counts != 1)
    if len(bad):
        shown = ", ".join(f"row {i} ({counts[i]})" for i in bad[:5])
        raise InvalidInput(
            f"fill-mask fills one {mask} per row, and {len(bad)} row(s) hold another count: "
            f"{shown}{' ...' if len(bad) > 5 else ''}; put {mask} exactly once in every text"
        )


def _outputs(
    task: str, pipe: Any, texts: list[str], results: list[Any], call: Mapping[str, Any]
) -> pd.DataFrame:
    """The pipeline's results as the task's output columns (see the module docstring)."""
    if task in ("text-classification", "fill-mask", "text-generation"):  # top-1 of each row
        columns = [f.name for f in _OUTPUTS[task]]
        return pd.DataFrame.from_records([row[0] for row in results], columns=columns)
    if task == "token-classification":
        return pd.DataFrame({"entities": [json.dumps(row, default=_plain) for row in results]})
    # feature-extraction: the row's own tokens of each (1, padded tokens, hidden) tensor
    tokenize = {k: v for k, v in call.items() if k == "truncation"}
    lengths = pipe.tokenizer(texts, return_length=True, **tokenize)["length"]
    is_left = pipe.tokenizer.padding_side == "left"
    embeddings = np.empty(len(results), dtype=object)
    for i, (tensor, length) in enumerate(zip(results, lengths, strict=True)):
        rows = tensor[0, -length:] if is_left else tensor[0, :length]
        embeddings[i] = rows.detach().cpu().float().numpy()
    return pd.DataFrame({"embeddings": embeddings})


def _plain(value: object) -> object:
    """A numpy scalar in an entity (its score, an index) as the JSON number it is."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
