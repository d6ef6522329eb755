"""The functions a version exposes: their names, target methods and signatures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.runtime.signatures import ModelSignature

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
