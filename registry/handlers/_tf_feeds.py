"""What a TensorFlow model is fed (see registry.handlers.tensorflow, "Inputs"): its inputs
as names, numpy dtypes and per-row shapes, and a batch as one array per input, cast to the
input's dtype where that loses nothing but a float's precision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from registry.errors import InvalidInput
from registry.runtime.model_input import Batch

__all__ = ["ModelInput", "as_numpy", "batch_feeds", "model_input"]


@dataclass(frozen=True)
class ModelInput:
    """One model input: the name it is fed by, its numpy dtype, and its shape without the
    batch dimension (None: unknown rank)."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...] | None


def model_input(name: str, dtype: Any, shape: tuple[int | None, ...] | None) -> ModelInput:
    try:
        numpy_dtype = np.dtype(dtype)
    except TypeError:  # bfloat16 in Keras's name for it
        numpy_dtype = None
    if numpy_dtype is None or numpy_dtype.kind not in "biuf" or numpy_dtype.name == "bfloat16":
        raise InvalidInput(f"the model's input {name!r} is {dtype}; the TensorFlow handler feeds "
                           "numbers and bools of numpy's types (encode text before the model, "
                           "or wrap it in a CustomModel)")
    return ModelInput(name, numpy_dtype, shape)


def batch_feeds(inputs: tuple[ModelInput, ...], batch: Batch) -> dict[str, np.ndarray]:
    """One array per model input: the batch as one matrix for a model of one input, else a
    column per input by name; where a feature holds an array per row, ``Batch.tensors``."""
    if batch.has_tensors:
        return _tensor_feeds(inputs, batch)
    wide = [i for i in inputs if (i.shape is not None and len(i.shape) > 1)
            or (len(inputs) > 1 and (i.shape is None or i.shape not in ((), (1,), (None,))))]
    if wide:
        raise InvalidInput(
            f"the model's inputs {', '.join(f'{i.name} {i.shape}' for i in wide)} take more than "
            "a value per row and the input's features are scalars; give each such input one "
            "feature holding an array per row (a column of arrays or a tensor column; in "
            "sample_input_data, a numpy array of rank 3 or more or a dict of arrays)")
    if len(inputs) == 1:
        (only,) = inputs
        matrix = batch.numpy
        width = None if only.shape is None else (only.shape[0] if only.shape else 1)
        if width is not None and matrix.shape[1] != width:
            raise InvalidInput(f"the model's input {only.name!r} takes {width} features and the "
                               f"input has {matrix.shape[1]} ({', '.join(batch.columns)}); pass "
                               "the features it was trained on")
        return {only.name: _cast(matrix[:, 0] if only.shape == () else matrix, only)}
    _refuse_names(inputs, batch.columns)
    frame = batch.frame
    return {i.name: _cast(frame[i.name].to_numpy(), i).reshape((-1, 1) if i.shape else (-1,))
            for i in inputs}


def _tensor_feeds(inputs: tuple[ModelInput, ...], batch: Batch) -> dict[str, np.ndarray]:
    """Each input from the feature of its name (a model of one input: the one feature),
    ``(rows, *shape)``; a scalar feature given to an input of shape ``[N, 1]`` as a column."""
    arrays = batch.tensors
    if len(inputs) == 1 and len(arrays) == 1:
        arrays = {inputs[0].name: next(iter(arrays.values()))}
    elif len(inputs) == 1:
        raise InvalidInput(f"the model has one input ({inputs[0].name} {inputs[0].shape}) and the "
                           f"input has features {', '.join(arrays)}, some holding an array per "
                           "row; pass the one feature it takes")
    _refuse_names(inputs, list(arrays))
    feeds = {}
    for spec in inputs:
        values = arrays[spec.name]
        if values.dtype == object:
            raise InvalidInput(f"feature {spec.name} has rows of several shapes; the model takes "
                               "one array of them: pad its rows to one shape first")
        if values.ndim == 1 and spec.shape == (1,):
            values = values.reshape(-1, 1)
        if spec.shape is not None and (len(spec.shape) != values.ndim - 1 or any(
                want not in (None, got) for want, got in zip(spec.shape, values.shape[1:],
                                                             strict=False))):
            raise InvalidInput(f"the model's input {spec.name!r} takes {spec.shape} per row and "
                               f"the feature holds {values.shape[1:]}; pass rows of its shape")
        feeds[spec.name] = _cast(values, spec)
    return feeds


def _refuse_names(inputs: tuple[ModelInput, ...], columns: list[str]) -> None:
    names = [i.name for i in inputs]
    missing = [n for n in names if n not in columns]
    extra = [n for n in columns if n not in names]
    if missing or extra:
        problems = [f"no column for its inputs {', '.join(missing)}"] if missing else []
        problems += [f"columns {', '.join(extra)} that are none of its inputs"] if extra else []
        raise InvalidInput(f"the model takes one column per input ({', '.join(names)}) and the "
                           f"input has {' and '.join(problems)}; name the columns after the "
                           "model's inputs")


def _cast(values: np.ndarray, spec: ModelInput) -> np.ndarray:
    """``values`` as the input's dtype: floats rounded to a float input, else exactly (an
    integer or bool input refuses values it cannot hold: a fraction, a NaN, an overflow)."""
    if values.dtype == spec.dtype or spec.dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=spec.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # what fails the check below
        out = np.ascontiguousarray(values, dtype=spec.dtype)
        exact = np.array_equal(out.astype(values.dtype), values)
    if not exact:
        raise InvalidInput(f"the model's input {spec.name!r} is {spec.dtype} and the input "
                           f"holds {values.dtype} values that it cannot hold exactly; pass "
                           f"values of {spec.dtype}'s range")
    return out


def as_numpy(value: Any) -> np.ndarray:
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array  # no Arrow type
