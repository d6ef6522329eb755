"""A version's manifest (``MANIFEST.yml``): one typed, frozen model, written once at logging.

The manifest records what a version holds and how to load it: the handler and its ``model``
section, the task, the functions and their signatures, the explain settings, the
environment and the size and hashes of every file. Its own sha256 is kept in the catalog;
``ArtifactStore.read_manifest`` checks it and then ``parse_manifest`` turns the bytes into a
``Manifest``, so a malformed manifest (a key missing, extra or of the wrong type) fails with
``IntegrityError`` at read, before anything is deserialised.

The YAML keeps the layout Floe has always written (same keys, same order), so versions
logged before the model existed parse into it, and a parsed manifest dumps to the same bytes.

The ``model`` section belongs to the version's handler (``Handler.save`` returns it and
``Handler.load`` gets it back); it is a JSON mapping here, each handler checking its keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    NonNegativeInt,
    ValidationError,
    field_serializer,
)

from registry.errors import IntegrityError
from registry.packaging.environment import EnvironmentSpec
from registry.packaging.tasks import Task
from registry.runtime.signatures import DataType

__all__ = [
    "MANIFEST_VERSION",
    "ExplainSpec",
    "ExplainerKind",
    "FeatureEntry",
    "FileEntry",
    "FunctionEntry",
    "Manifest",
    "SignatureEntry",
    "parse_manifest",
]

log = logging.getLogger(__name__)

MANIFEST_VERSION: Literal[1] = 1

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Md5 = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


def _check_relpath(path: str) -> str:
    parts = path.split("/")
    if "\\" in path or "\x00" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{path!r} is not a plain '/'-separated path inside the version")
    return path


RelPath = Annotated[str, AfterValidator(_check_relpath)]
"""A path inside the version, as Floe writes it: relative, no '.', '..' or empty parts."""


ExplainerKind = Literal["tree", "linear", "permutation"]


class ExplainSpec(BaseModel):
    """The manifest's ``explain`` section: how the ``explain`` function was built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    function: str
    """The function's name (``explain``)."""
    background: str
    """The stored background data, relative to the version."""
    features: tuple[str, ...]
    """The features explained, in signature order."""
    explains: str
    """The model method explained (what an agnostic explainer calls)."""
    kind: ExplainerKind


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Section):
    """One stored file: its size and hashes (sha256 is checked before every load)."""

    size: NonNegativeInt
    sha256: Sha256
    md5: Md5


class FeatureEntry(_Section):
    """One input or output column of a function's signature."""

    name: str
    dtype: DataType
    shape: tuple[Annotated[int, Field(ge=-1)], ...] | None  # -1: the size varies by row
    nullable: bool


class SignatureEntry(_Section):
    inputs: tuple[FeatureEntry, ...]
    outputs: tuple[FeatureEntry, ...]


class FunctionEntry(_Section):
    """A function of the version (``ModelFunctionInfo.to_manifest`` writes it)."""

    name: str
    target_method: str
    is_partitioned: bool
    signature: SignatureEntry | None


class Manifest(_Section):
    """The whole ``MANIFEST.yml``; field order is the order the YAML is written in. Every key
    is required: Floe has always written all of them."""

    manifest_version: Literal[1]
    version_id: str
    created_on: AwareDatetime
    framework: str
    """The handler that saved the model (``handler_named`` finds it again)."""
    model: Mapping[str, JsonValue]
    """The handler's own section: what ``Handler.save`` returned."""
    task: Task
    functions: tuple[FunctionEntry, ...]
    explain: ExplainSpec | None
    code_paths: tuple[RelPath, ...]
    user_files: tuple[RelPath, ...]
    env: EnvironmentSpec
    platform: str
    files: Mapping[RelPath, FileEntry]
    """Every file of the version but the manifest, by POSIX path relative to the version."""

    @field_serializer("created_on")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()  # '+00:00', as the manifest has always been written

    @property
    def size_bytes(self) -> int:
        return sum(entry.size for entry in self.files.values())

    def to_yaml(self) -> bytes:
        """The bytes of ``MANIFEST.yml`` (whose sha256 the catalog records)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False).encode()


def parse_manifest(data: bytes, *, version_id: str) -> Manifest:
    """The manifest in ``data`` (already checked against its recorded sha256), or
    ``IntegrityError`` naming every key that is missing, unknown or of the wrong type."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise IntegrityError(
            f"the manifest of version {version_id} is not YAML ({exc}); nothing was loaded: "
            "restore the artifact root from a backup or delete the version"
        ) from exc
    if not isinstance(doc, dict):
        raise IntegrityError(
            f"the manifest of version {version_id} holds a {type(doc).__name__}, not a "
            "mapping; nothing was loaded: restore the artifact root from a backup or delete "
            "the version"
        )
    try:
        return Manifest.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()[:10]
        )
        more = f" (and {exc.error_count() - 10} more)" if exc.error_count() > 10 else ""
        raise IntegrityError(
            f"the manifest of version {version_id} is malformed: {problems}{more}; nothing "
            "was loaded: it was changed outside Floe or written by an incompatible version: "
            "restore the artifact root from a backup, or delete the version and log it again"
        ) from exc
