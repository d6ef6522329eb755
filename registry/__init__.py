"""Floe's registry: log models as immutable, versioned, governed objects and run them.

    from registry import Registry
    reg = Registry(database_name="ML", schema_name="REGISTRY")
    mv = reg.log_model(clf, model_name="churn", version_name="v1", sample_input_data=X[:10])
    reg.get_model("churn").version("v1").run(X, function_name="predict")
"""

from registry.access.ratelimit import FailureLimiter
from registry.api.model import Model
from registry.api.model_version import ExportMode, ModelVersion
from registry.api.prepared import PreparedModel
from registry.api.registry import Registry
from registry.artifacts.paths import redact_uri
from registry.config_files.validation import (
    dump_config_yaml,
    load_config_file,
    parse_config_text,
    validate_config_mapping,
)
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
    TooManyAttempts,
    Unauthenticated,
)
from registry.identifiers import (
    ModelRef,
    QualifiedName,
    format_identifier,
    parse_identifier,
    parse_model_ref,
    parse_qualified_name,
)
from registry.packaging.custom_model import (
    CustomModel,
    ModelContext,
    inference_api,
    partitioned_api,
)
from registry.packaging.tasks import Task
from registry.runtime.compute import ComputeConfig, ExecutionPlan, plan_execution
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.on_ray import find_ray_token, unwrap_ray_error
from registry.runtime.signatures import DataType, FeatureSpec, ModelSignature, check_schema
from registry.settings import is_loopback

__all__ = [
    "AlreadyExists",
    "CatalogError",
    "ComputeConfig",
    "Conflict",
    "CustomModel",
    "DataType",
    "EnvironmentMismatch",
    "ExecutionPlan",
    "ExportMode",
    "FailureLimiter",
    "FeatureSpec",
    "FloeError",
    "IntegrityError",
    "InvalidIdentifier",
    "InvalidInput",
    "Model",
    "ModelContext",
    "ModelError",
    "ModelFunctionInfo",
    "ModelRef",
    "ModelSignature",
    "ModelVersion",
    "NotFound",
    "PermissionDenied",
    "PreparedModel",
    "QualifiedName",
    "Registry",
    "Task",
    "TooManyAttempts",
    "Unauthenticated",
    "check_schema",
    "dump_config_yaml",
    "find_ray_token",
    "format_identifier",
    "inference_api",
    "is_loopback",
    "load_config_file",
    "parse_config_text",
    "parse_identifier",
    "parse_model_ref",
    "parse_qualified_name",
    "partitioned_api",
    "plan_execution",
    "redact_uri",
    "unwrap_ray_error",
    "validate_config_mapping",
]
