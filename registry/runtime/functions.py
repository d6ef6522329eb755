"""The functions a version exposes: their names, target methods and signatures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.packaging.manifest import FeatureEntry, FunctionEntry, SignatureEntry
from registry.runtime.signatures import FeatureSpec, ModelSignature

__all__ = ["ModelFunctionInfo"]


@dataclass(frozen=True)
class ModelFunctionInfo:
    """A function a version exposes: ``name`` is what ``run`` takes, ``target_method`` the
    model's method it calls."""

    name: str
    target_method: str
    signature: ModelSignature | None
    is_partitioned: bool = False

    def to_dict(self) -> dict[str, Any]:
        """As JSON (``floe versions show --json``)."""
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
