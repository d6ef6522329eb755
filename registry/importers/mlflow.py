"""Copy registered models from an MLflow model registry into Floe: ``import_mlflow``, which
``floe import mlflow --tracking-uri URI [--model NAME]...`` calls.

What goes where (MLflow → Floe)::

    registered model NAME          model: NAME as an identifier (``iris`` → IRIS; a name that
                                   is not a plain identifier is quoted, keeping its case:
                                   ``"Iris Classifier"``); two names that become the same one
                                   are refused
    registered model description   the model's comment
    registered model tags          the model's tags (each key as an identifier, as above)
    model version N                version ``VN`` (``V1``, ``V2``): a version name is an
                                   identifier, and MLflow refuses aliases ``v<digits>``, so
                                   no alias can take it; logged with the MLflow handler
                                   (``handlers.mlflow``): every file of the MLflow model,
                                   hashed, its signature from the MLmodel (else from its
                                   input example)
    version description            the version's comment
    version tags                   the version's metric ``mlflow.tags`` (a JSON object): Floe
                                   has no version tags, and its model tags are the model's
    the version's run's metrics    the version's metrics, by name (the latest value of each;
                                   NaN and infinities, which JSON cannot hold, as null)
    aliases                        the version's aliases (``champion`` → CHAMPION); one that
                                   would be a Floe system alias (DEFAULT, FIRST, LAST) is not
                                   imported, and the version's line says so
    where the version came from    the version's metric ``mlflow.source``: the tracking URI
                                   (its secrets redacted), model, version, run and creation
                                   time

Idempotent: a version already imported is recognised by its ``mlflow.source`` (the same
MLflow model, version number and creation time, whatever spelling of the tracking URI), and
only what changed in MLflow is written: its comment, tags and run metrics, the model's
comment and tags, and aliases, which are moved where MLflow moved them. Nothing is deleted:
a version, alias or tag removed in MLflow stays in Floe. Where a Floe model or version of
the name exists that did not come from that MLflow model, the import is refused before
anything is copied, with every such problem in one message.

Versions that MLflow has not finished registering (status other than READY) are skipped. A
version is copied in one ``log_model`` (its comment, metrics and source with it), so an import
that fails part way leaves whole versions, and running it again goes on where it stopped.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from registry.api.model_version import ModelVersion
from registry.api.registry import Registry
from registry.artifacts.paths import redact_uri
from registry.errors import FloeError, NotFound
from registry.identifiers import format_identifier, parse_identifier
from registry.importers._mlflow_plan import (
    SOURCE_METRIC,
    TAGS_METRIC,
    Plan,
    plan_import,
    version_name,
)
from registry.importers._mlflow_source import (
    SourceVersion,
    checked_uri,
    mlflow_errors,
    no_progress_bars,
    read_sources,
)

__all__ = ["SOURCE_METRIC", "TAGS_METRIC", "ImportStatus", "ImportedVersion", "import_mlflow"]

log = logging.getLogger(__name__)

_RESERVED = (SOURCE_METRIC, TAGS_METRIC)
_READY = "READY"


class ImportStatus(StrEnum):
    COPIED = "copied"
    PRESENT = "already present"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ImportedVersion:
    """What the import did with one MLflow model version: the Floe model (fully qualified)
    and version it is, whether it was copied, already present or skipped, and what else
    changed (``notes``). ``mlflow_version`` and ``version`` are None for a model that has no
    version to import."""

    mlflow_model: str
    mlflow_version: str | None
    model: str
    version: str | None
    status: ImportStatus
    notes: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The line ``floe import mlflow`` prints for it."""
        where = f"{self.model} {self.version}" if self.version is not None else self.model
        source = f"MLflow model {self.mlflow_model!r}"
        if self.mlflow_version is not None:
            source += f" version {self.mlflow_version}"
        return "; ".join([f"{self.status.value}: {where} ({source})", *self.notes])


def import_mlflow(
    registry: Registry,
    *,
    tracking_uri: str,
    models: Sequence[str] | None = None,
    on_version: Callable[[ImportedVersion], None] | None = None,
) -> list[ImportedVersion]:
    """Copy the registered models ``models`` (default: every one) of the MLflow registry at
    ``tracking_uri`` into ``registry``'s namespace, as the module describes; one record per
    MLflow model version, each passed to ``on_version`` as soon as it is done. A second
    import copies only what is new."""
    uri = checked_uri(tracking_uri)
    label = redact_uri(uri)
    from mlflow import MlflowClient

    with mlflow_errors(label):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        sources = read_sources(client, models, label)
    plans = plan_import(registry, sources)
    out: list[ImportedVersion] = []
    for plan in plans:
        for record in _ModelImport(registry, client, uri, label, plan).run():
            out.append(record)
            if on_version is not None:
                on_version(record)
    return out


class _ModelImport:
    """The import of one planned model, version by version (oldest first)."""

    def __init__(self, registry: Registry, client: Any, uri: str, label: str, plan: Plan):
        self.registry, self.client, self.uri, self.label, self.plan = (
            registry, client, uri, label, plan)
        self.model = plan.model

    def run(self) -> Iterator[ImportedVersion]:
        source = self.plan.source
        if not source.versions:
            yield ImportedVersion(source.name, None, self.plan.label, None,
                                  ImportStatus.SKIPPED, ("it has no versions",))
            return
        is_model_synced = False
        for version in source.versions:
            notes = list(self.plan.alias_notes.get(version.version, []))
            name = version_name(version.version)
            if version.status != _READY:
                yield self._record(version, ImportStatus.SKIPPED,
                                   [f"its MLflow status is {version.status}", *notes])
                continue
            mv = self.plan.present.get(version.version)
            if mv is None:
                mv, copied = self._copy(version)
                notes += copied
                status = ImportStatus.COPIED
            else:
                notes += self._sync_version(mv, version)
                status = ImportStatus.PRESENT
            notes += self._sync_aliases(mv, name)
            if not is_model_synced:
                notes += self._sync_model()
                is_model_synced = True
            yield self._record(version, status, notes)

    def _record(self, version: SourceVersion, status: ImportStatus,
                notes: list[str]) -> ImportedVersion:
        return ImportedVersion(self.plan.source.name, version.version, self.plan.label,
                               version_name(version.version), status, tuple(notes))

    def _wanted_metrics(self, version: SourceVersion) -> tuple[dict[str, Any], list[str]]:
        """The version's metrics as the import writes them, and notes on what was left out."""
        notes: list[str] = []
        metrics: dict[str, Any] = {}
        if version.run_id is not None:
            from mlflow.exceptions import MlflowException

            try:
                with mlflow_errors(self.label):
                    found = self.client.get_run(version.run_id).data.metrics
            except NotFound as exc:
                if not isinstance(exc.__cause__, MlflowException):
                    raise
                notes.append(f"its run {version.run_id} is gone: no metrics")
                found = {}
            for key, value in sorted(found.items()):
                if key in _RESERVED:
                    notes.append(
                        f"run metric {key!r} not imported: the name is Floe's record of the "
                        "MLflow source")
                    continue
                number = float(value)
                metrics[key] = number if math.isfinite(number) else None
        metrics[SOURCE_METRIC] = {
            "tracking_uri": self.label, "model": self.plan.source.name,
            "version": version.version, "run_id": version.run_id,
            "created_ms": version.created_ms, "source": version.source,
        }
        if version.tags:
            metrics[TAGS_METRIC] = dict(sorted(version.tags.items()))
        return metrics, notes

    def _copy(self, version: SourceVersion) -> tuple[ModelVersion, list[str]]:
        import mlflow

        metrics, notes = self._wanted_metrics(version)
        with tempfile.TemporaryDirectory(prefix="floe-mlflow-import-") as tmp:
            with mlflow_errors(self.label), no_progress_bars():
                uri = self.client.get_model_version_download_uri(
                    self.plan.source.name, version.version)
                local = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=tmp, tracking_uri=self.uri, registry_uri=self.uri))
            try:
                mv = self.registry.log_model(
                    str(local), model_name=format_identifier(self.plan.name),
                    version_name=version_name(version.version), comment=version.description,
                    metrics=metrics, sample_input_data=_input_example(local),
                )
            except FloeError as exc:
                raise type(exc)(
                    f"MLflow model {self.plan.source.name!r} version {version.version} was not "
                    f"imported: {exc.message}") from exc
        if self.model is None:
            self.model = self.registry.get_model(format_identifier(self.plan.name))
        return mv, notes

    def _sync_version(self, mv: ModelVersion, version: SourceVersion) -> list[str]:
        notes = []
        if mv.comment != version.description:
            mv.comment = version.description
            notes.append("comment updated")
        wanted, metric_notes = self._wanted_metrics(version)
        wanted.pop(SOURCE_METRIC)  # the record it was recognised by stays as it was written
        have = mv.show_metrics()
        changed = [k for k, v in wanted.items() if k not in have or have[k] != v]
        for key in changed:
            mv.set_metric(key, wanted[key])
        if TAGS_METRIC not in wanted and TAGS_METRIC in have:
            mv.delete_metric(TAGS_METRIC)
            changed.append(TAGS_METRIC)
        if changed:
            notes.append(f"metrics updated: {', '.join(changed)}")
        return notes + metric_notes

    def _sync_aliases(self, mv: ModelVersion, name: str) -> list[str]:
        """Point the MLflow aliases of this version at it, moving them off another."""
        notes = []
        current = self.plan.current_aliases
        for alias, target in self.plan.aliases.items():
            if target != name or current.get(alias) == name:
                continue
            mv.set_alias(format_identifier(alias))
            before = current.get(alias)
            moved = f" (moved from {format_identifier(before)})" if before is not None else ""
            notes.append(f"alias {format_identifier(alias)} set{moved}")
            current[alias] = name
        return notes

    def _sync_model(self) -> list[str]:
        """The model's comment and tags, as MLflow has them."""
        model = self.model
        assert model is not None
        notes = []
        description = self.plan.source.description
        if model.comment != description:
            model.comment = description
            notes.append("model comment updated")
        have = {parse_identifier(k, "tag"): v for k, v in model.show_tags().items()}
        changed = [name for name, value in self.plan.tags.items() if have.get(name) != value]
        for name in changed:
            model.set_tag(format_identifier(name), self.plan.tags[name])
        if changed:
            notes.append(f"model tags set: {', '.join(format_identifier(n) for n in changed)}")
        return notes


def _input_example(local: Path) -> object | None:
    """The MLflow model's input example (a DataFrame or an array), where its MLmodel has no
    signature Floe can use: the sample its signature is then inferred from."""
    import numpy as np
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model as MlflowModel

    from registry.handlers.mlflow import mlflow_signature

    meta = MlflowModel.load(str(local / "MLmodel"))
    if mlflow_signature(meta.signature) is not None:
        return None
    try:
        example = meta.load_input_example(str(local))
    except (MlflowException, OSError, ValueError, TypeError) as exc:
        log.info("the input example of %s does not load: %s", local, exc)
        return None
    return example if isinstance(example, pd.DataFrame | np.ndarray) else None


