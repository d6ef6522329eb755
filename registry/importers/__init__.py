"""Copying models into Floe from other registries, one module per source: ``mlflow``
(``import_mlflow``, behind ``floe import mlflow``)."""

from registry.importers.mlflow import ImportedVersion, ImportStatus, import_mlflow

__all__ = ["ImportStatus", "ImportedVersion", "import_mlflow"]
