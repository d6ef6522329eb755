"""Export a version's files to a local directory (``ExportMode.MODEL``), or everything needed
to run it elsewhere (``ExportMode.FULL``): the files, plus a ``predict.py`` that needs only
the packages in ``env/requirements.txt``, checks every hash and scores a Parquet or CSV file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from registry.artifacts.store import MANIFEST, ArtifactStore, safe_relpath
from registry.errors import InvalidInput
from registry.packaging.manifest import Manifest

__all__ = ["export_version"]

_ENTRY = Path(__file__).with_name("exported_predict.py")


def export_version(
    artifacts: ArtifactStore, *, version_id: str, manifest_sha256: str, target: Path, full: bool
) -> Path:
    manifest = artifacts.read_manifest(version_id, manifest_sha256)
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"export target {target} is a file; give a directory path")
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"export target {target} is not empty; give a new or empty directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create export directory {target}: {exc.strerror}") from exc
    staging = target / ".floe-export"
    try:
        for rel, _expected in manifest.files.items():
            artifacts.download_file(version_id, safe_relpath(rel), staging / rel)
        artifacts.verify(staging, manifest.files, version_id)
        artifacts.download_file(version_id, MANIFEST, staging / MANIFEST)
        if full:
            shutil.copyfile(_ENTRY, staging / "predict.py")
            (staging / "README.md").write_text(_readme(manifest))
        for item in staging.iterdir():
            item.rename(target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _readme(manifest: Manifest) -> str:
    functions = ", ".join(f.name for f in manifest.functions)
    return (
        "# Exported Floe model version\n\n"
        f"Framework: {manifest.framework}; functions: {functions}.\n\n"
        "```\n"
        "conda env create -f env/conda.yml   # or: pip install -r env/requirements.txt\n"
        "python predict.py INPUT.parquet OUTPUT.parquet [--function NAME]\n"
        "```\n\n"
        "predict.py checks every file against MANIFEST.yml before loading anything.\n"
    )
