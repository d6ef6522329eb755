"""Turn a model object into a version: save, infer functions, write the manifest, publish.

``log_model``'s options are validated here (``LogOptions``) before anything is saved (a model
to convert, ``convert_to``, is converted and checked then), and the
manifest is built as a typed ``Manifest``. Files are staged in a private temporary directory, copied to the artifact root (manifest
last), and only then is the catalog row committed. A failure at any step removes what was
written; a crash leaves an invisible orphan for ``floe gc``.
"""

from __future__ import annotations

import importlib
import logging
import platform
import shutil
import sys
import tempfile
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from registry.artifacts.digests import hash_tree
from registry.artifacts.store import ArtifactStore
from registry.errors import InvalidInput, ModelError
from registry.handlers import Handler, Predictor, handler_for
from registry.handlers.onnx import convert_to_onnx
from registry.packaging.environment import capture_environment, conda_yaml, requirements_txt
from registry.packaging.manifest import MANIFEST_VERSION, ExplainSpec, FileEntry, Manifest
from registry.packaging.options import LogOptions, parse_log_options
from registry.packaging.tasks import Task
from registry.runtime.explain import (
    EXPLAIN_FUNCTION,
    build_explainer,
    is_explainable,
    predict_method_for,
    write_background,
)
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.invoke import call_function, output_table
from registry.runtime.load import LoadedModel
from registry.runtime.model_input import prepare_batch
from registry.runtime.samples import infer_features, to_arrow
from registry.runtime.signatures import FeatureSpec, ModelSignature, validate_input
from registry.runtime.tensors import to_pandas

__all__ = ["StagedVersion", "stage_version"]

log = logging.getLogger(__name__)
_SAMPLE_ROWS = 100


class StagedVersion:
    """A version written to a local staging directory, ready to publish."""

    def __init__(self, root: Path, manifest: Manifest, handler: Handler) -> None:
        self.root = root
        self.manifest = manifest
        self.handler = handler

    @property
    def functions(self) -> list[ModelFunctionInfo]:
        return [ModelFunctionInfo.from_manifest(f) for f in self.manifest.functions]

    @property
    def task(self) -> Task:
        return self.manifest.task

    @property
    def size_bytes(self) -> int:
        return self.manifest.size_bytes

    def publish(self, artifacts: ArtifactStore, version_id: str) -> str:
        return artifacts.publish(version_id, self.root, self.manifest)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def stage_version(
    model: object,
    *,
    version_id: str,
    sample_input_data: object | None,
    signatures: Mapping[str, ModelSignature] | None,
    task: Task | str | None,
    options: Mapping[str, object] | LogOptions | None,
    code_paths: Sequence[str | Path] | None,
    ext_modules: Sequence[types.ModuleType] | None,
    conda_dependencies: Sequence[str] | None,
    pip_requirements: Sequence[str] | None,
    python_version: str | None,
    user_files: Mapping[str, Sequence[str | Path]] | None,
) -> StagedVersion:
    opts = parse_log_options(options)  # before anything is written
    if opts.convert_to == "onnx":
        model = convert_to_onnx(model, sample_input_data)
    handler = handler_for(model)
    root = Path(tempfile.mkdtemp(prefix="floe-stage-"))
    try:
        code = _copy_code_paths(code_paths, root / "code")
        with _pickled_by_value(ext_modules):
            model_spec = handler.save(model, root / "model")
        predictor = handler.wrap(model)
        signatures = {**handler.declared_signatures(predictor), **(signatures or {})}
        functions = _infer_functions(handler, predictor, sample_input_data, signatures, opts)
        resolved_task = _resolve_task(task, handler, model)
        explain = None
        if sample_input_data is not None and is_explainable(resolved_task, opts):
            explain, explain_fn = _add_explain(
                handler, predictor, resolved_task, to_arrow(sample_input_data), functions, root
            )
            functions.append(explain_fn)
        env = capture_environment(
            distributions=handler.distributions_for(model),
            conda_dependencies=conda_dependencies,
            pip_requirements=pip_requirements,
            python_version=python_version,
        )
        (root / "env").mkdir()
        (root / "env" / "conda.yml").write_text(conda_yaml(env))
        (root / "env" / "requirements.txt").write_text(requirements_txt(env))
        user = _copy_user_files(user_files, root / "user_files")
        files = hash_tree(root)
        manifest = Manifest(
            manifest_version=MANIFEST_VERSION,
            version_id=version_id,
            created_on=datetime.now(UTC),
            framework=handler.framework,
            model=model_spec,
            task=resolved_task,
            functions=tuple(f.to_manifest() for f in functions),
            explain=explain,
            code_paths=tuple(code),
            user_files=tuple(user),
            env=env,
            platform=platform.platform(),
            files={
                rel: FileEntry(size=d.size, sha256=d.sha256, md5=d.md5) for rel, d in files.items()
            },
        )
        return StagedVersion(root, manifest, handler)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _resolve_task(task: Task | str | None, handler: Handler, model: object) -> Task:
    if task is None:
        return handler.infer_task(model)
    try:
        return Task(task.value if isinstance(task, Task) else str(task).upper())
    except ValueError as exc:
        choices = ", ".join(t.value for t in Task)
        raise InvalidInput(f"unknown task {task!r}; choose one of {choices}") from exc


def _infer_functions(
    handler: Handler,
    predictor: Predictor,
    sample: object | None,
    signatures: Mapping[str, ModelSignature] | None,
    options: LogOptions,
) -> list[ModelFunctionInfo]:
    methods = list(predictor.methods)
    wanted = options.target_methods
    if wanted is not None:
        unknown = [m for m in wanted if m not in methods]
        if unknown:
            raise InvalidInput(
                f"target_methods {unknown} are not methods of this model; it has: "
                f"{', '.join(methods)}"
            )
        methods = list(wanted)
    partitioned = set(handler.partitioned_methods(predictor.model))
    signatures = dict(signatures or {})
    unknown_sigs = [name for name in signatures if name not in methods]
    if unknown_sigs:
        raise InvalidInput(
            f"signatures given for {unknown_sigs}, which are not functions of this model; "
            f"its functions are: {', '.join(methods)}"
        )
    sample_table: pa.Table | None = None
    if sample is not None:
        sample_table = to_arrow(sample).slice(0, _SAMPLE_ROWS)
        if sample_table.num_rows == 0:
            raise InvalidInput("sample_input_data is empty; pass a few rows of training features")
    out = []
    for method in methods:
        if method in signatures:
            out.append(
                ModelFunctionInfo(method, method, signatures[method], method in partitioned)
            )
            continue
        if sample_table is None:
            raise InvalidInput(
                f"cannot infer the signature of {method} without sample data; pass "
                "sample_input_data= (a few rows of the training features) or signatures="
            )
        inputs = infer_features(sample_table)  # tensor features with their shapes
        batch = prepare_batch(to_pandas(sample_table), inputs, what="sample_input_data")
        try:
            columns = call_function(
                LoadedModel("staged", "the model", predictor, handler, None),
                ModelFunctionInfo(method, method, None, method in partitioned),
                batch,
            )
        except ModelError as exc:
            raise ModelError(
                f"{exc.message} on sample_input_data; check that the sample has the training "
                "features"
            ) from exc
        outputs = tuple(
            FeatureSpec(name=name, dtype=spec.dtype, shape=spec.shape, nullable=spec.nullable)
            for name, spec in zip(columns, infer_features(output_table(columns)), strict=True)
        )
        out.append(
            ModelFunctionInfo(
                method, method, ModelSignature(inputs, outputs), method in partitioned
            )
        )
    return out


def _add_explain(
    handler: Handler,
    predictor: Predictor,
    task: Task,
    sample: pa.Table,
    functions: list[ModelFunctionInfo],
    root: Path,
) -> tuple[ExplainSpec, ModelFunctionInfo]:
    """Store the background data and describe the ``explain`` function by running it."""
    names = [f.name for f in functions]
    if EXPLAIN_FUNCTION in names:
        raise InvalidInput(
            f"the model already has a function named {EXPLAIN_FUNCTION!r}; pass "
            "options={'enable_explainability': False} to keep it"
        )
    predict = next(f for f in functions if f.name == predict_method_for(task, names))
    assert predict.signature is not None
    inputs = predict.signature.inputs
    shaped = [f.describe() for f in inputs if f.is_tensor]
    if shaped:
        raise InvalidInput(
            f"cannot explain {predict.name}: SHAP explains one number per feature, and "
            f"{', '.join(shaped)} hold a tensor per row; pass "
            "options={'enable_explainability': False} (or no task=) to log it without explain"
        )
    background = validate_input(sample.slice(0, _SAMPLE_ROWS), inputs, what="sample_input_data")
    path = write_background(background, root)
    features = tuple(f.name for f in inputs)
    explainer = build_explainer(
        handler, predictor, task=task, background=background.to_pandas(),
        feature_names=features, predict_method=predict.target_method,
    )
    spec = ExplainSpec(
        function=EXPLAIN_FUNCTION, background=path, features=features,
        explains=predict.target_method, kind=explainer.kind,
    )
    columns = explainer.explain(prepare_batch(background.slice(0, 3).to_pandas(), inputs))
    outputs = tuple(
        FeatureSpec(name=name, dtype=spec_.dtype, nullable=spec_.nullable)
        for name, spec_ in zip(columns, infer_features(pa.table(columns)), strict=True)
    )
    return spec, ModelFunctionInfo(
        EXPLAIN_FUNCTION, EXPLAIN_FUNCTION, ModelSignature(inputs, outputs)
    )


def _copy_code_paths(code_paths: Sequence[str | Path] | None, dest: Path) -> list[str]:
    """Copy each code path to ``code/<its name>``: at load, ``code/pkg/mod.py`` is served as
    module ``pkg.mod`` (``runtime.code_scope``); the list recorded is those ``code/<name>``."""
    if not code_paths:
        return []
    dest.mkdir(parents=True)
    out = []
    for item in code_paths:
        src = Path(item).expanduser()
        if not src.exists():
            raise InvalidInput(f"code path {src} does not exist; pass existing files or folders")
        target = dest / src.name
        if target.exists():
            raise InvalidInput(
                f"two code paths are named {src.name!r} (each is importable by its name, as "
                "code/<name>); rename one or pass their common parent folder"
            )
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, target)
        out.append(f"code/{src.name}")
    return out


def _copy_user_files(user_files: Mapping[str, Sequence[str | Path]] | None, dest: Path) -> list[str]:
    if not user_files:
        return []
    out = []
    for subdir, paths in user_files.items():
        if "/" in subdir or "\\" in subdir or subdir in ("", ".", ".."):
            raise InvalidInput(f"user_files key {subdir!r} must be a plain folder name")
        for item in paths:
            src = Path(item).expanduser()
            if not src.is_file():
                raise InvalidInput(f"user file {src} is not a file; pass existing file paths")
            (dest / subdir).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / subdir / src.name)
            out.append(f"user_files/{subdir}/{src.name}")
    return out


class _pickled_by_value:
    """Pickle ``ext_modules`` by value, so the model loads where they are not installed."""

    def __init__(self, modules: Sequence[types.ModuleType] | None) -> None:
        self.modules = [m if isinstance(m, types.ModuleType) else importlib.import_module(m)
                        for m in (modules or [])]

    def __enter__(self) -> None:
        import cloudpickle

        for module in self.modules:
            cloudpickle.register_pickle_by_value(module)

    def __exit__(self, *exc: object) -> None:
        import cloudpickle

        for module in self.modules:
            if module.__name__ in sys.modules:
                cloudpickle.unregister_pickle_by_value(module)
