"""The functions a version exposes, and the one place that picks which one runs.

``resolve_function`` is the single decision every path takes: in-process ``run``, a run over
a ``ray.data.Dataset``, every Ray batch, the pipeline runner (through
``ModelVersion.get_function``) and serving. Its rules:

* No name: the version's one user function. The ``explain`` function Floe adds never counts,
  so a version with one user function runs it whether or not explain was added; with several
  the caller must name one (``InvalidInput``, listing them).
* A name is an identifier, as in Snowflake: unquoted it ignores case (``PREDICT`` is
  ``predict``); double-quoted (``'"Predict"'``) it must match exactly. Where several functions
  differ only in case, the one spelled exactly as given is chosen.
* A name no function has: ``NotFound``, listing the functions. A name that is not a string:
  ``InvalidInput``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry.errors import InvalidInput, NotFound
from registry.packaging.manifest import FeatureEntry, FunctionEntry, SignatureEntry
from registry.runtime.signatures import FeatureSpec, ModelSignature

__all__ = ["EXPLAIN_FUNCTION", "ModelFunctionInfo", "resolve_function"]

#: The name of the SHAP function Floe adds to explainable models.
EXPLAIN_FUNCTION = "explain"


@dataclass(frozen=True)
class ModelFunctionInfo:
    """A function a version exposes: ``name`` is what ``run`` takes, ``target_method`` the
    model's method it calls."""

    name: str
    target_method: str
    signature: ModelSignature | None
    is_partitioned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target_method": self.target_method,
            "is_partitioned": self.is_partitioned,
            "signature": self.signature.to_dict() if self.signature is not None else None,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelFunctionInfo:
        sig = doc.get("signature")
        return cls(
            name=str(doc["name"]),
            target_method=str(doc["target_method"]),
            signature=ModelSignature.from_dict(sig) if sig else None,
            is_partitioned=bool(doc.get("is_partitioned", False)),
        )


    def to_manifest(self) -> FunctionEntry:
        """The manifest's entry for this function."""
        signature = None
        if self.signature is not None:
            signature = SignatureEntry(
                inputs=tuple(_feature_entry(f) for f in self.signature.inputs),
                outputs=tuple(_feature_entry(f) for f in self.signature.outputs),
            )
        return FunctionEntry(
            name=self.name,
            target_method=self.target_method,
            is_partitioned=self.is_partitioned,
            signature=signature,
        )

    @classmethod
    def from_manifest(cls, entry: FunctionEntry) -> ModelFunctionInfo:
        signature = None
        if entry.signature is not None:
            signature = ModelSignature(
                inputs=tuple(_feature_spec(f) for f in entry.signature.inputs),
                outputs=tuple(_feature_spec(f) for f in entry.signature.outputs),
            )
        return cls(entry.name, entry.target_method, signature, entry.is_partitioned)


def _feature_entry(spec: FeatureSpec) -> FeatureEntry:
    return FeatureEntry(name=spec.name, dtype=spec.dtype, shape=spec.shape, nullable=spec.nullable)


def _feature_spec(entry: FeatureEntry) -> FeatureSpec:
    return FeatureSpec(name=entry.name, dtype=entry.dtype, shape=entry.shape, nullable=entry.nullable)


def resolve_function(
    functions: Iterable[ModelFunctionInfo],
    name: object,
    *,
    label: str,
    argument: str = "function_name=",
) -> ModelFunctionInfo:
    """The function ``name`` picks among ``functions`` (see the module's rules).

    ``label`` names the version in messages; ``argument`` is how the caller's user names a
    function (``function_name=`` for ``run``, ``function:`` in a pipeline config), so each
    error's fix can say exactly what to change.
    """
    listed = sorted(functions, key=lambda f: f.name)
    names = ", ".join(f.name for f in listed) or "none"
    if name is None:
        user = [f for f in listed if f.name != EXPLAIN_FUNCTION] or listed
        if len(user) == 1:
            return user[0]
        if not user:
            raise NotFound(f"{label} has no functions; log it again with its target_methods")
        raise InvalidInput(
            f"{label} has functions {names}; say which one to run: {_setting(argument)}"
        )
    if not isinstance(name, str):
        raise InvalidInput(
            f"a function name is a string, not {type(name).__name__} {name!r}; set "
            f"{argument} to one of {names}"
        )
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        exact = name[1:-1].replace('""', '"')
        matches = [f for f in listed if f.name == exact]
    else:
        matches = [f for f in listed if f.name.casefold() == name.casefold()]
        if len(matches) > 1:
            matches = [f for f in matches if f.name == name]
            if not matches:
                raise InvalidInput(
                    f"{label} has several functions named {name!r} but for case ({names}); "
                    "spell the one to run exactly as listed"
                )
    if not matches:
        raise NotFound(f"{label} has no function {name!r}; set {argument} to one of {names}")
    return matches[0]


def _setting(argument: str) -> str:
    """``pass function_name=NAME`` for an argument, ``function: NAME`` for a config key."""
    return f"pass {argument}NAME" if argument.endswith("=") else f"{argument} NAME"
