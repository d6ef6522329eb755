"""``ModelVersion``: one immutable version of a model, and its mutable metadata."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import pandas as pd
import pyarrow as pa

from registry.api.backend import Backend, VersionInfo
from registry.api.context import check_comment, check_metric_name, to_json_value
from registry.api.prepared import PreparedModel
from registry.artifacts.store import ArtifactStore
from registry.catalog.tables import VersionRow
from registry.errors import InvalidInput, NotFound
from registry.identifiers import format_identifier, parse_identifier
from registry.runtime.compute import ComputeConfig
from registry.runtime.functions import ModelFunctionInfo, resolve_function
from registry.runtime.invoke import run_function
from registry.runtime.load import LoadedModel, load_fresh, load_version, read_payload
from registry.runtime.on_ray import is_dataset

if TYPE_CHECKING:
    import ray.data

__all__ = ["ExportMode", "ModelVersion"]

log = logging.getLogger(__name__)


class ExportMode(StrEnum):
    MODEL = "model"  # the model, its environment files and its manifest
    FULL = "full"  # plus runnable entry code: everything needed to run it elsewhere


class ModelVersion:
    """A reference to a version in the catalog (not a copy of the model object)."""

    def __init__(
        self, backend: Backend, model_id: str, version_id: str, *,
        info: VersionInfo | None = None,
    ) -> None:
        self._backend = backend
        self._model_id = model_id
        self._version_id = version_id
        # Its name, id and manifest never change, so properties that show them need no read
        # once known. Mutable fields (comment) are read each time.
        self._fixed = info
        self._label: str | None = None  # for messages and the load path, read once

    def __repr__(self) -> str:
        return f"ModelVersion({self.fully_qualified_model_name}, {self.version_name})"

    def __str__(self) -> str:
        return f"{self.fully_qualified_model_name} version {self.version_name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVersion) and other._version_id == self._version_id

    def __hash__(self) -> int:
        return hash(self._version_id)

    @property
    def id(self) -> str:
        """The version's immutable id: it names its artifacts and never changes."""
        return self._version_id

    def _fixed_info(self) -> VersionInfo:
        """The version's immutable fields, read at most once per object."""
        if self._fixed is None:
            self._fixed = self._backend.get_version(self._model_id, self._version_id)
        return self._fixed

    @property
    def model_name(self) -> str:
        return format_identifier(self._backend.describe_model(self._model_id)[0])

    @property
    def fully_qualified_model_name(self) -> str:
        return self._backend.describe_model(self._model_id)[1]

    @property
    def version_name(self) -> str:
        return format_identifier(self._fixed_info().name)

    @property
    def comment(self) -> str | None:
        return self._backend.version_comment(self._model_id, self._version_id)

    @comment.setter
    def comment(self, value: str | None) -> None:
        self._backend.set_version_comment(
            self._model_id, self._version_id, check_comment(value, VersionRow))

    description = comment

    # -- metrics ------------------------------------------------------------------------------

    def set_metric(self, metric_name: str, value: Any) -> None:
        name = check_metric_name(metric_name)
        self._backend.set_metric(self._model_id, self._version_id, name,
                                 to_json_value(value, what=f"metric {name!r}"))

    def get_metric(self, metric_name: str) -> Any:
        name = check_metric_name(metric_name)
        metrics = self.show_metrics()
        if name not in metrics:
            raise NotFound(
                f"{self} has no metric {name!r}; its metrics are: {', '.join(metrics) or 'none'}"
            )
        return metrics[name]

    def show_metrics(self) -> dict[str, Any]:
        return self._backend.show_metrics(self._model_id, self._version_id)

    def delete_metric(self, metric_name: str) -> None:
        name = check_metric_name(metric_name)
        if not self._backend.delete_metric(self._model_id, self._version_id, name):
            raise NotFound(
                f"{self} has no metric {name!r}; list them: floe metrics list "
                f"{self.fully_qualified_model_name} {self.version_name}"
            )

    # -- aliases ------------------------------------------------------------------------------

    @property
    def aliases(self) -> list[str]:
        """System aliases (DEFAULT, FIRST, LAST) that point here, then user aliases."""
        return [format_identifier(a)
                for a in self._backend.aliases_of(self._model_id, self._version_id)]

    def set_alias(self, alias: str) -> None:
        """Point ``alias`` at this version; if another version had it, it moves here."""
        self._backend.set_alias(self._model_id, self._version_id,
                                parse_identifier(alias, "alias"))

    def unset_alias(self, alias: str) -> None:
        resolved = parse_identifier(alias, "alias")
        if resolved in ("DEFAULT", "FIRST", "LAST"):
            raise InvalidInput(f"{resolved} is a system alias and cannot be unset")
        if not self._backend.unset_alias(self._model_id, self._version_id, resolved):
            raise NotFound(
                f"{self} has no alias {format_identifier(resolved)}; its aliases: "
                f"{', '.join(self.aliases)}"
            )

    # -- functions, load, run -----------------------------------------------------------------

    def show_functions(self) -> list[ModelFunctionInfo]:
        """Every function the version exposes, by name (``explain`` included where added)."""
        return self._backend.list_functions(self._model_id, self._version_id)

    def get_function(
        self, name: str | None = None, *, argument: str = "function_name="
    ) -> ModelFunctionInfo:
        """The function ``run(X, function_name=name)`` runs: the one decision every path takes.

        Without a name, the version's one user function (the added ``explain`` never counts);
        an unquoted name ignores case, a double-quoted one must match exactly. An unknown name
        raises ``NotFound`` listing the functions, a missing one where there are several
        ``InvalidInput``. ``argument`` is how the caller's user names a function, for the fix
        in those messages (``function:`` in a pipeline config).
        """
        return resolve_function(self.show_functions(), name, label=self._label_once(),
                                argument=argument)

    def _label_once(self) -> str:
        if self._label is None:
            self._label = str(self)
        return self._label

    def _files(self, purpose: str) -> tuple[ArtifactStore, dict[str, Any]]:
        """Where the one load path reads the version's files for ``purpose`` (the privilege it
        needs is checked there), and the arguments that path takes."""
        info = self._fixed_info()
        artifacts = self._backend.version_files(self._model_id, info, purpose)
        return artifacts, {"version_id": self._version_id,
                           "manifest_sha256": info.manifest_sha256, "label": self._label_once()}

    def _loaded(self, *, force: bool = False, options: Mapping[str, Any] | None = None) -> LoadedModel:
        """The run path's model (loaded once per process; environment checked every call)."""
        artifacts, where = self._files("run")
        return load_version(artifacts, **where, cache_dir=self._backend.cache_dir, force=force,
                            options=options)

    def load(self, *, force: bool = False, options: Mapping[str, Any] | None = None) -> object:
        """The original Python model object, deserialised anew for this call from a private
        copy of the stored files checked against their hashes, after the environment is
        checked (``force=True`` loads anyway, with an ``EnvironmentWarning``). The object is
        the caller's own: changing it changes no other ``load`` or ``run``."""
        artifacts, where = self._files("load")
        return load_fresh(artifacts, **where, cache_dir=self._backend.cache_dir, force=force,
                          options=options).model

    def prepare(
        self, *, force: bool = False, options: Mapping[str, Any] | None = None
    ) -> PreparedModel:
        """Load the version once into this process for many runs (a serving replica does this):
        the stored files are checked against their hashes before anything is deserialised, and
        the environment is checked (``force=True`` runs anyway, with an ``EnvironmentWarning``).
        ``options`` are load options (``use_gpu``). Preparing a version again in the same
        process with the same options reuses the loaded model."""
        loaded = self._loaded(force=force, options=options)
        return PreparedModel(
            loaded, model_name=self.fully_qualified_model_name, version_name=self.version_name
        )

    @overload
    def run(
        self,
        X: ray.data.Dataset,
        *,
        function_name: str | None = ...,
        partition_column: str | None = ...,
        passthrough_columns: Sequence[str] = ...,
        strict_input_validation: bool = ...,
        compute: ComputeConfig | None = ...,
        source_column: str | None = ...,
        force: bool = ...,
    ) -> ray.data.Dataset: ...

    @overload
    def run(
        self,
        X: pd.DataFrame,
        *,
        function_name: str | None = ...,
        partition_column: str | None = ...,
        passthrough_columns: Sequence[str] = ...,
        strict_input_validation: bool = ...,
        compute: None = ...,
        source_column: None = ...,
        force: bool = ...,
    ) -> pd.DataFrame: ...

    @overload
    def run(  # type: ignore[overload-cannot-match]  # pandas, pyarrow: untyped
        self,
        X: pa.Table,
        *,
        function_name: str | None = ...,
        partition_column: str | None = ...,
        passthrough_columns: Sequence[str] = ...,
        strict_input_validation: bool = ...,
        compute: None = ...,
        source_column: None = ...,
        force: bool = ...,
    ) -> pa.Table: ...

    def run(
        self,
        X: pd.DataFrame | pa.Table | ray.data.Dataset,
        *,
        function_name: str | None = None,
        partition_column: str | None = None,
        passthrough_columns: Sequence[str] = (),
        strict_input_validation: bool = False,
        compute: ComputeConfig | None = None,
        source_column: str | None = None,
        force: bool = False,
    ) -> pd.DataFrame | pa.Table | ray.data.Dataset:
        """Run a function on a DataFrame, an Arrow Table or a ``ray.data.Dataset``.

        A table gives back the same kind of table: its columns, then the function's outputs
        (a partitioned function: its results per ``partition_column`` value). A Dataset gives
        back a lazy Dataset scored on Ray as ``compute`` says (``registry.plan_execution``:
        fused tasks for a CPU model, a pool of actors for GPUs or when one is sized);
        ``source_column`` (such as the ``path`` column of ``read_parquet(include_paths=True)``)
        names each row's input file in validation errors and is not model input. Consuming
        that Dataset raises what a batch raised: ``registry.unwrap_ray_error(exc)`` gives the
        ``FloeError`` that in-process ``run`` raises for the same rows.

        ``force=True`` runs a version logged under another Python minor or framework major
        version (as ``load(force=True)`` loads one), with an ``EnvironmentWarning``; on a
        Dataset it reaches every worker, which checks the environment it loads in.
        """
        if is_dataset(X):
            from registry.runtime.on_ray import run_dataset

            compute = compute or ComputeConfig()
            artifacts, where = self._files("run")
            payload = read_payload(artifacts, **where, force=force)
            return run_dataset(
                payload, X, function_name=function_name, compute=compute, force=force,
                partition_column=partition_column, passthrough_columns=passthrough_columns,
                source_column=source_column, strict=strict_input_validation,
            )
        if compute is not None or source_column is not None:
            raise InvalidInput(
                "compute= and source_column= apply to a ray.data.Dataset; a table runs in process"
            )
        return run_function(
            self._loaded(force=force), X, function_name, strict=strict_input_validation,
            partition_column=partition_column, passthrough_columns=passthrough_columns,
        )

    def export(self, target_path: str | Path, *, export_mode: ExportMode = ExportMode.MODEL) -> Path:
        from registry.artifacts.export import export_version

        artifacts, where = self._files("export")
        return export_version(
            artifacts,
            version_id=where["version_id"],
            manifest_sha256=where["manifest_sha256"],
            target=Path(target_path).expanduser(),
            full=ExportMode(export_mode) == ExportMode.FULL,
        )
