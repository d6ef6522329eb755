"""MLflow models (the ``python_function`` flavor), stored as their MLflow model directory and
run with ``mlflow.pyfunc``.

``log_model`` takes the directory of an MLflow model (a ``str`` or ``os.PathLike`` naming a
local directory that holds an ``MLmodel`` file), or a ``runs:/`` or ``models:/`` URI, which
is downloaded with MLflow's own client from the tracking server that ``mlflow`` is configured
with (``mlflow.set_tracking_uri`` or ``MLFLOW_TRACKING_URI``: without one, MLflow would read
or create a store in the working directory, so such a URI is refused). The whole directory is
copied, file by file, under the version's ``model/`` folder (``model/MLmodel``,
``model/model.skops``, ``model/python_model.pkl``, ...) and hashed like every file.

A loaded ``mlflow.pyfunc.PyFuncModel`` is refused: it keeps no path to the files it was
loaded from (only its ``MLmodel`` metadata and the deserialised model), so there is nothing
to copy; log its directory or its URI instead.

Refused too, before anything is written: a model without the ``python_function`` flavor, one
whose artifacts are external to its directory, and one whose flavors ship ``code_paths``
(``code:`` in the ``MLmodel``), which ``mlflow.pyfunc.load_model`` puts first on ``sys.path``;
Floe imports a version's code under a scope of its own (``runtime.code_scope``): log the code
with Floe's ``code_paths=`` instead.

The one function is ``predict``: ``PyFuncModel.predict`` on the batch as a DataFrame (the
signature's columns, in order), so MLflow's own schema enforcement runs too. Its signature is
the ``MLmodel``'s where it has one that Floe's column signatures can express
(``declared_signatures``), else it is inferred from ``sample_input_data`` as for every
handler. MLflow → Floe: ``boolean`` BOOL, ``integer`` INT32, ``long`` INT64, ``float`` FLOAT,
``double`` DOUBLE, ``string`` STRING, ``binary`` BYTES, ``datetime`` TIMESTAMP; every feature is
nullable (MLflow's ``required`` says a column must be present, which Floe asks of every
column, not that it holds no nulls; MLflow refuses what it refuses when ``predict`` runs).
Unnamed columns are ``input_feature_<i>``/``output_feature_<i>``. A tensor signature is
expressed where it is a table: one unnamed tensor of shape ``(-1,)`` or ``(-1, n)`` is ``n``
columns of its type (MLflow turns the DataFrame back into that array), named tensors of shape
``(-1,)`` or ``(-1, 1)`` one column each. Anything else (tensors of more dimensions, arrays,
objects, maps, ``Any``) is not expressible as columns yet: the signature is inferred from the
sample instead. MLflow's ``params`` are not passed.

Loading is ``mlflow.pyfunc.load_model`` on the loader's private copy of the directory, which
unpickles or deserialises the user's model (skops, cloudpickle, a flavor's own format): that
is only ever done after ``runtime.load`` checked every file's sha256 against the manifest as
it made that copy, so what is deserialised is exactly what was hashed. MLflow's own
requirement warnings are suppressed there: Floe checks the environment before any load.

The environment records mlflow, the distribution of each flavor (``sklearn`` is
scikit-learn, ``pytorch`` torch, ...), cloudpickle for a ``python_model``, and every
distribution the model's own ``requirements.txt`` names, at their versions here.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.artifacts.paths import redact_uri, safe_relpath
from registry.errors import FloeError, IntegrityError, InvalidInput, ModelError
from registry.handlers.base import (
    Handler,
    Predictor,
    directory_holding,
    model_type_name,
    mro_modules,
)
from registry.packaging.environment import distribution_version
from registry.runtime.model_input import Batch
from registry.runtime.signatures import DataType, FeatureSpec, ModelSignature

__all__ = ["MlflowHandler", "MlflowPredictor", "mlflow_signature"]

log = logging.getLogger(__name__)

_FORMAT = "mlflow-model"
_MLMODEL = "MLmodel"
_FUNCTION = "predict"
_URI_SCHEMES = ("runs:/", "models:/")
_PYFUNC = "python_function"

# MLflow's column types (``mlflow.types.DataType`` names), as Floe's
_COLUMN_TYPES = {
    "boolean": DataType.BOOL, "integer": DataType.INT32, "long": DataType.INT64,
    "float": DataType.FLOAT, "double": DataType.DOUBLE, "string": DataType.STRING,
    "binary": DataType.BYTES, "datetime": DataType.TIMESTAMP,
}
# The distribution each flavor's models need, by flavor name in the MLmodel
_FLAVOR_DISTRIBUTIONS = {
    "sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm",
    "catboost": "catboost", "pytorch": "torch", "tensorflow": "tensorflow", "keras": "keras",
    "onnx": "onnxruntime", "transformers": "transformers", "sentence_transformers":
    "sentence-transformers", "statsmodels": "statsmodels", "prophet": "prophet",
    "spacy": "spacy", "h2o": "h2o", "paddle": "paddlepaddle", "spark": "pyspark",
}


@dataclass(frozen=True, eq=False)
class MlflowPredictor(Predictor):
    """A ``PyFuncModel`` and the signature its ``MLmodel`` declares, as Floe's (None: none,
    or one that Floe's column signatures cannot express)."""

    signature: ModelSignature | None = field(default=None)

    def model_input(self, batch: Batch) -> pd.DataFrame:
        return batch.frame

    def _predict(self, method: str, batch: Batch) -> np.ndarray | pd.DataFrame:
        # A shallow copy: a python_model that adds or drops columns leaves the caller's alone.
        result = self.model.predict(batch.frame.copy(deep=False))  # type: ignore[attr-defined]
        if isinstance(result, pd.DataFrame):
            return result
        if isinstance(result, Mapping):
            return pd.DataFrame(dict(result))
        array = np.asarray(result)
        if array.ndim == 0:
            raise ModelError(
                f"the MLflow model's predict returned a {type(result).__name__}, not one value "
                "per row; it must return an array, a Series or a DataFrame of one row per input "
                "row"
            )
        return array


class MlflowHandler(Handler):
    framework: ClassVar[str] = "mlflow"
    distributions: ClassVar[tuple[str, ...]] = ("mlflow",)

    def __init__(self) -> None:
        # The directory ``save`` copied each model (its path or URI) to, so that ``wrap`` and
        # ``distributions_for`` read what is stored, and a URI is downloaded once.
        self._saved: dict[str, Path] = {}

    @classmethod
    def can_handle(cls, model: object) -> bool:
        """A ``PyFuncModel`` (by its type's module, without importing mlflow), a ``runs:/``
        or ``models:/`` URI, or the path of a directory holding an ``MLmodel`` file."""
        if isinstance(model, str) and model.startswith(_URI_SCHEMES):
            return True
        if isinstance(model, str | os.PathLike):
            return directory_holding(model, _MLMODEL)
        return _is_pyfunc_model(model)

    def save(self, model: object, dest: Path) -> dict[str, Any]:
        source = _source_text(model)
        with tempfile.TemporaryDirectory(prefix="floe-mlflow-") as tmp:
            directory = _local_directory(source, Path(tmp))
            meta = _check_model(directory, source)
            shutil.copytree(directory, dest)  # symlinks inside: copied as the files they name
        self._saved[source] = dest
        return {
            "path": f"model/{_MLMODEL}",
            "format": _FORMAT,
            "class": "mlflow.pyfunc.PyFuncModel",
            "flavors": sorted(meta.flavors),
            "loader_module": str(meta.flavors[_PYFUNC].get("loader_module", "")),
            "mlflow_version": str(getattr(meta, "mlflow_version", "") or ""),
            "model_uuid": str(getattr(meta, "model_uuid", "") or ""),
            "source": source if source.startswith(_URI_SCHEMES) else "a local directory",
        }

    def load(self, src: Path, spec: Mapping[str, Any], options: Mapping[str, Any]) -> Predictor:
        if spec.get("format") != _FORMAT:
            raise IntegrityError(
                f"the manifest names an unknown MLflow format {spec.get('format')!r}; it was "
                "not written by this handler"
            )
        directory = (src / safe_relpath(str(spec["path"]))).parent
        return self.wrap(_load_pyfunc(directory))

    def wrap(self, model: object) -> MlflowPredictor:
        if not _is_pyfunc_model(model):
            model = self._load_source(_source_text(model))
        meta: Any = getattr(model, "metadata", None)
        declared = getattr(meta, "signature", None) if meta is not None else None
        return MlflowPredictor(model, (_FUNCTION,), signature=mlflow_signature(declared))

    def target_methods(self, model: object) -> list[str]:
        return [_FUNCTION]

    def declared_signatures(self, predictor: Predictor) -> Mapping[str, ModelSignature]:
        signature = predictor.signature if isinstance(predictor, MlflowPredictor) else None
        return {_FUNCTION: signature} if signature is not None else {}

    def distributions_for(self, model: object) -> tuple[str, ...]:
        """mlflow, each flavor's framework, cloudpickle for a ``python_model``, and what the
        model's ``requirements.txt`` names (those installed here are recorded)."""
        mlflow = "mlflow" if distribution_version("mlflow") else "mlflow-skinny"
        names = dict.fromkeys([mlflow])
        directory = self._saved.get(_source_text(model)) if not _is_pyfunc_model(model) else None
        if directory is None:
            return tuple(names)
        import yaml

        doc = yaml.safe_load((directory / _MLMODEL).read_text()) or {}
        flavors = doc.get("flavors") or {}
        names.update(dict.fromkeys(_FLAVOR_DISTRIBUTIONS[f] for f in flavors
                                   if f in _FLAVOR_DISTRIBUTIONS))
        if "python_model" in (flavors.get(_PYFUNC) or {}):
            names["cloudpickle"] = None
        names.update(dict.fromkeys(_required_names(directory / "requirements.txt")))
        return tuple(names)

    def _load_source(self, source: str) -> object:
        """The ``PyFuncModel`` of a path or URI: from the copy ``save`` made where it made one,
        else from the directory itself, or a download kept as long as the model."""
        saved = self._saved.get(source)
        if saved is not None:
            return _load_pyfunc(saved)
        if not source.startswith(_URI_SCHEMES):
            return _load_pyfunc(Path(source))
        tmp = tempfile.mkdtemp(prefix="floe-mlflow-")
        try:
            model = _load_pyfunc(_local_directory(source, Path(tmp)))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        weakref.finalize(model, shutil.rmtree, tmp, ignore_errors=True)
        return model


def _is_pyfunc_model(model: object) -> bool:
    return "mlflow" in mro_modules(model) and type(model).__name__ == "PyFuncModel"


def _source_text(model: object) -> str:
    """The path or URI of an MLflow model, or ``InvalidInput`` for a ``PyFuncModel``."""
    if isinstance(model, str) and model.startswith(_URI_SCHEMES):
        return model
    if isinstance(model, str | os.PathLike):
        return str(Path(os.fspath(model)).expanduser().resolve())
    if _is_pyfunc_model(model):
        meta: Any = getattr(model, "metadata", None)
        model_id = getattr(meta, "model_id", None)
        logged = f" (this one was logged as models:/{model_id})" if model_id else ""
        raise InvalidInput(
            "a loaded mlflow.pyfunc.PyFuncModel keeps no path to the files it was loaded "
            "from, so Floe cannot copy them; log the MLflow model's directory or URI instead: "
            f"log_model('path/to/model'), 'runs:/RUN_ID/PATH' or 'models:/NAME/VERSION'{logged}"
        )
    raise InvalidInput(
        f"cannot log a {model_type_name(model)} with the MLflow handler; pass the directory of "
        "an MLflow model, a runs:/ or models:/ URI"
    )


def _local_directory(source: str, tmp: Path) -> Path:
    """The local directory of the MLflow model at ``source``: the path itself, or a download
    of the URI into ``tmp`` with MLflow's client (from the configured tracking server)."""
    if not source.startswith(_URI_SCHEMES):
        return Path(source)
    import mlflow
    from mlflow.exceptions import MlflowException

    if not mlflow.is_tracking_uri_set():  # type: ignore[no-untyped-call]
        raise InvalidInput(
            f"{source} names a model on an MLflow tracking server, and none is configured; "
            "call mlflow.set_tracking_uri(URI) or set MLFLOW_TRACKING_URI, or log the model's "
            "local directory"
        )
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp))
    except (MlflowException, OSError) as exc:
        raise InvalidInput(
            f"MLflow could not download {source} from {_tracking_label()}: "
            f"{_first_line(exc)}; check the URI (mlflow.artifacts.list_artifacts shows what a "
            "run holds)"
        ) from exc
    directory = Path(local)
    if not (directory / _MLMODEL).is_file():
        raise InvalidInput(
            f"{source} holds no MLmodel file, so it is not an MLflow model; name the model's "
            "folder in the run (runs:/RUN_ID/PATH)"
        )
    return directory


def _check_model(directory: Path, source: str) -> Any:
    """The ``MLmodel`` of ``directory``, once it is a ``python_function`` model Floe can load:
    artifacts inside the directory, no code put on ``sys.path``."""
    from mlflow.models import Model

    meta = Model.load(str(directory / _MLMODEL))
    if _PYFUNC not in meta.flavors:
        raise InvalidInput(
            f"the MLflow model at {source} has no python_function flavor (it has "
            f"{', '.join(meta.flavors) or 'none'}), so mlflow.pyfunc cannot load it; save it "
            "with a flavor that adds python_function"
        )
    if (meta.metadata or {}).get("mlflow.model_is_external"):
        raise InvalidInput(
            f"the MLflow model at {source} keeps its artifacts outside its directory; save a "
            "model whose files are in it"
        )
    with_code = sorted(name for name, conf in meta.flavors.items()
                       if isinstance(conf, Mapping) and conf.get("code"))
    if with_code:
        raise InvalidInput(
            f"the MLflow model at {source} ships code_paths ({', '.join(with_code)} flavor), "
            "which mlflow.pyfunc.load_model puts first on sys.path; Floe imports a version's "
            "code under its own scope: save the MLflow model without code_paths and pass them "
            "to log_model(..., code_paths=[...])"
        )
    return meta


def _load_pyfunc(directory: Path) -> object:
    import mlflow.pyfunc

    model: object = mlflow.pyfunc.load_model(str(directory), suppress_warnings=True)
    return model


def _required_names(requirements: Path) -> list[str]:
    """The distribution names in a pip requirements file; options, URLs and lines that do not
    parse are skipped."""
    if not requirements.is_file():
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.url is None:
            names.append(requirement.name)
    return names


def _tracking_label() -> str:
    import mlflow

    return redact_uri(str(mlflow.get_tracking_uri()))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# -- signatures --------------------------------------------------------------------------------


def mlflow_signature(signature: object | None) -> ModelSignature | None:
    """An MLflow ``ModelSignature`` as Floe's, or None where there is none or where Floe's
    column signatures cannot express its inputs (see the module); outputs that cannot be
    expressed are left out (``()``: named as the model returns them)."""
    if signature is None:
        return None
    sig: Any = signature
    inputs = _features(sig.inputs, "input_feature") if sig.inputs is not None else None
    if not inputs:
        log.info("the MLmodel's input signature is not expressible as columns: %s", sig.inputs)
        return None
    outputs = _features(sig.outputs, "output_feature") if sig.outputs is not None else None
    return ModelSignature(inputs=inputs, outputs=outputs or ())


def _features(schema: Any, prefix: str) -> tuple[FeatureSpec, ...] | None:
    """The columns of an MLflow ``Schema``, or None where one of them is not a column."""
    specs = list(schema.inputs)
    if schema.is_tensor_spec():
        return _tensor_features(specs, prefix)
    out = []
    for i, spec in enumerate(specs):
        dtype = _COLUMN_TYPES.get(spec.type.name) if _is_plain_type(spec.type) else None
        if dtype is None:
            return None
        out.append(FeatureSpec(spec.name if spec.name is not None else f"{prefix}_{i}", dtype))
    return tuple(out)


def _is_plain_type(dtype: object) -> bool:
    from mlflow.types import DataType as MlflowType

    return isinstance(dtype, MlflowType)


def _tensor_features(specs: Sequence[Any], prefix: str) -> tuple[FeatureSpec, ...] | None:
    if len(specs) == 1 and specs[0].name is None:
        (only,) = specs
        shape = tuple(only.shape)
        dtype = _numpy_type(only.type)
        if dtype is None or not shape or shape[0] != -1 or len(shape) > 2:
            return None
        width = 1 if len(shape) == 1 else shape[1]
        if width < 1:
            return None
        return tuple(FeatureSpec(f"{prefix}_{i}", dtype) for i in range(width))
    out = []
    for spec in specs:
        dtype = _numpy_type(spec.type)
        if spec.name is None or dtype is None or tuple(spec.shape) not in ((-1,), (-1, 1)):
            return None
        out.append(FeatureSpec(spec.name, dtype))
    return tuple(out)


def _numpy_type(dtype: np.dtype[Any]) -> DataType | None:
    if dtype.kind in "OU":
        return DataType.STRING
    if dtype.kind == "S":
        return DataType.BYTES
    try:
        return DataType.from_arrow(pa.from_numpy_dtype(dtype))
    except (FloeError, pa.ArrowNotImplementedError, TypeError):
        return None
