"""Reading an MLflow model registry for ``importers.mlflow``: the tracking URI checked (a local
store that does not exist is refused, not created), the registered models and their versions
as plain data, and MLflow's errors translated into Floe's in one place."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.artifacts.paths import redact_uri
from registry.errors import InvalidInput, NotFound

__all__ = [
    "SourceModel",
    "SourceVersion",
    "checked_uri",
    "first_line",
    "mlflow_errors",
    "no_progress_bars",
    "read_sources",
]

_PAGE = 1000


@dataclass(frozen=True)
class SourceVersion:
    version: str
    description: str | None
    tags: dict[str, str]
    run_id: str | None
    status: str
    created_ms: int
    source: str


@dataclass(frozen=True)
class SourceModel:
    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, str]  # alias -> version
    versions: tuple[SourceVersion, ...]


def checked_uri(tracking_uri: str) -> str:
    """The tracking URI, refused where it names a local store that does not exist: MLflow
    would create an empty one there (directories included) rather than fail."""
    uri = tracking_uri.strip() if isinstance(tracking_uri, str) else ""
    if not uri:
        raise InvalidInput(
            "the MLflow tracking URI is empty; pass one such as sqlite:///path/to/mlflow.db "
            "or http://host:5000"
        )
    scheme = uri.partition(":")[0].lower() if re.match(r"[A-Za-z][\w+.-]*:", uri) else ""
    if scheme.startswith("sqlite"):
        import sqlalchemy as sa

        try:
            database = sa.engine.make_url(uri).database
        except sa.exc.ArgumentError as exc:
            raise InvalidInput(f"{redact_uri(uri)} is not an SQLAlchemy URL ({exc})") from exc
        if not database or database == ":memory:" or not Path(database).is_file():
            raise NotFound(
                f"there is no MLflow database at {redact_uri(uri)} (MLflow would create an "
                "empty one); check the path: sqlite:///relative/mlflow.db or "
                "sqlite:////absolute/mlflow.db"
            )
    elif scheme in ("", "file"):
        path = Path(uri.removeprefix("file://") if scheme == "file" else uri).expanduser()
        if not path.is_dir():
            raise NotFound(
                f"there is no MLflow file store at {redact_uri(uri)} (MLflow would create an "
                "empty one); check the path, or pass the server's URI (http://host:5000)"
            )
    return uri


@contextlib.contextmanager
def mlflow_errors(label: str) -> Iterator[None]:
    """The one translation of MLflow's errors (and of a server that cannot be reached) into
    Floe's, naming the registry."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        message = f"MLflow at {label}: {first_line(exc)}"
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(f"{message}; check the name (the MLflow UI lists them)") from exc
        raise InvalidInput(
            f"{message}; check the tracking URI and that the MLflow server answers"
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the MLflow registry at {label} ({type(exc).__name__}: "
            f"{first_line(exc)}); check the tracking URI and that the MLflow server answers"
        ) from exc


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def read_sources(client: Any, names: Sequence[str] | None, label: str) -> list[SourceModel]:
    from mlflow.exceptions import MlflowException

    registered: list[Any] = []
    if names is None:
        registered = list(_pages(lambda token: client.search_registered_models(
            max_results=_PAGE, page_token=token)))
    else:
        missing = []
        for name in dict.fromkeys(names):
            try:
                registered.append(client.get_registered_model(name))
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                missing.append(repr(name))
        if missing:
            raise NotFound(
                f"MLflow at {label} has no registered model {', '.join(missing)}; check the "
                "names (the MLflow UI lists them), or import every model without --model"
            )
    out = []
    for found in sorted(registered, key=lambda m: str(m.name)):
        name = str(found.name)
        filter_string = f"name = {_quoted(name)}"

        def search(token: str | None, filter_string: str = filter_string) -> Any:
            return client.search_model_versions(
                filter_string=filter_string, max_results=_PAGE, page_token=token)

        versions = list(_pages(search))
        out.append(SourceModel(
            name=name,
            description=found.description or None,
            tags={str(k): str(v) for k, v in (found.tags or {}).items()},
            aliases={str(k): str(v) for k, v in (found.aliases or {}).items()},
            versions=tuple(sorted(
                (_source_version(v) for v in versions if str(v.name) == name),
                key=lambda v: int(v.version))),
        ))
    return out


def _pages(search: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = search(token)
        yield from page
        token = page.token
        if not token:
            return


def _quoted(name: str) -> str:
    """A name as a string in MLflow's search filter."""
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    raise InvalidInput(
        f"MLflow model {name!r} holds both kinds of quote, which MLflow's search cannot "
        "express; rename it in MLflow to import it"
    )


def _source_version(found: Any) -> SourceVersion:
    return SourceVersion(
        version=str(found.version),
        description=found.description or None,
        tags={str(k): str(v) for k, v in (found.tags or {}).items()},
        run_id=found.run_id or None,
        status=str(found.status),
        created_ms=int(found.creation_timestamp),
        source=str(found.source),
    )



@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """MLflow draws a progress bar on stderr for every download unless told not to."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
