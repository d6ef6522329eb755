"""Floe's registry: log models as immutable, versioned, governed objects and run them.

    from registry import Registry
    reg = Registry(database_name="ML", schema_name="REGISTRY")
    mv = reg.log_model(clf, model_name="churn", version_name="v1", sample_input_data=X[:10])
    reg.get_model("churn").version("v1").run(X, function_name="predict")
"""

from registry.api import Registry
from registry.artifacts import redact_uri
from registry.compute import ComputeConfig
from registry.custom import CustomModel, ModelContext, inference_api, partitioned_api
from registry.distributed import unwrap_ray_error
from registry.errors import (
    AlreadyExists,
    CatalogError,
    Conflict,
    EnvironmentMismatch,
    FloeError,
    IntegrityError,
    InvalidIdentifier,
    InvalidInput,
    ModelError,
    NotFound,
    PermissionDenied,
)
from registry.model import Model
from registry.model_version import ExportMode, ModelVersion
from registry.run import ModelFunctionInfo
from registry.signatures import DataType, FeatureSpec, ModelSignature
from registry.tasks import Task

__all__ = [
    "AlreadyExists",
    "CatalogError",
    "ComputeConfig",
    "Conflict",
    "CustomModel",
    "DataType",
    "EnvironmentMismatch",
    "ExportMode",
    "FeatureSpec",
    "FloeError",
    "IntegrityError",
    "InvalidIdentifier",
    "InvalidInput",
    "Model",
    "ModelContext",
    "ModelError",
    "ModelFunctionInfo",
    "ModelSignature",
    "ModelVersion",
    "NotFound",
    "PermissionDenied",
    "Registry",
    "Task",
    "inference_api",
    "partitioned_api",
    "redact_uri",
    "unwrap_ray_error",
]
