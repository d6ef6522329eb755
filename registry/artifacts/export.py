"""Export a version's files to a local directory (``ExportMode.MODEL``), or everything needed
to run it elsewhere (``ExportMode.FULL``): the files, plus a ``predict.py``
(``exported_predict``) that needs only the packages in ``env/requirements.txt``, checks every
hash and scores a Parquet or CSV file.

A FULL export is refused, before anything is written, for a version ``predict.py`` cannot run
without Floe: a format it has no loader for (a ``CustomModel``'s pickle refers to Floe's own
classes) or a partitioned function.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from registry.artifacts.digests import verify_files
from registry.artifacts.exported_predict import LOADABLE_FORMATS
from registry.artifacts.paths import safe_relpath
from registry.artifacts.store import MANIFEST, ArtifactStore
from registry.errors import InvalidInput
from registry.packaging.manifest import Manifest

__all__ = ["export_version"]

log = logging.getLogger(__name__)

_ENTRY = Path(__file__).with_name("exported_predict.py")
_STAGING = ".floe-export"


def export_version(
    artifacts: ArtifactStore, *, version_id: str, manifest_sha256: str, target: Path, full: bool
) -> Path:
    artifacts.ownership.check()
    manifest = artifacts.read_manifest(version_id, manifest_sha256)
    if full:
        _refuse_unrunnable(manifest)
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"export target {target} is a file; give a directory path")
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"export target {target} is not empty; give a new or empty directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create export directory {target}: {exc.strerror}") from exc
    staging = target / _STAGING
    try:
        for rel in manifest.files:
            clean = safe_relpath(rel)
            artifacts.download_file(version_id, clean, staging / clean)
        verify_files(staging, manifest.files, version_id)
        artifacts.download_file(version_id, MANIFEST, staging / MANIFEST)
        if full:
            shutil.copyfile(_ENTRY, staging / "predict.py")
            (staging / "README.md").write_text(_readme(manifest))
        for item in staging.iterdir():
            item.rename(target / item.name)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the export into {target}: {exc.strerror or exc}; choose a directory "
            "you can write to, with room for the files"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _refuse_unrunnable(manifest: Manifest) -> None:
    fmt = str(manifest.model.get("format"))
    if fmt not in LOADABLE_FORMATS:
        why = (
            "a CustomModel's pickle refers to Floe's own classes"
            if fmt == "floe-custom"
            else "predict.py has no loader for it"
        )
        raise InvalidInput(
            f"cannot export a {manifest.framework} model (format {fmt!r}) with "
            f"ExportMode.FULL: {why}, so it cannot run without Floe; export it with "
            "ExportMode.MODEL (floe export without --full) and run it where Floe is installed"
        )
    partitioned = [f.name for f in manifest.functions if f.is_partitioned]
    if partitioned:
        raise InvalidInput(
            f"cannot export with ExportMode.FULL: functions {', '.join(partitioned)} are "
            "partitioned, which predict.py does not run; export with ExportMode.MODEL and run "
            "them with Floe"
        )


def _readme(manifest: Manifest) -> str:
    functions = ", ".join(f.name for f in manifest.functions)
    return (
        "# Exported Floe model version\n\n"
        f"Framework: {manifest.framework}; functions: {functions}.\n\n"
        "```\n"
        "conda env create -f env/conda.yml   # or: pip install -r env/requirements.txt\n"
        "python predict.py INPUT.parquet OUTPUT.parquet [--function NAME]\n"
        "```\n\n"
        "predict.py checks every file against MANIFEST.yml before loading anything. Without\n"
        "--function it runs the version's one function (explain, which needs Floe, does not\n"
        "count); a version with several needs --function.\n"
    )
