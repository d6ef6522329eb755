"""A version's environment: what it was logged under, and whether the current one can load it.

Recorded in the manifest as an ``EnvironmentSpec`` and written as ``env/conda.yml`` and
``env/requirements.txt``.
Loading under a different Python minor version, or a different major version of the model's
framework, is refused with ``EnvironmentMismatch`` naming both; ``force=True`` loads anyway.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import platform
import warnings
from collections.abc import Iterable, Mapping

import yaml
from pydantic import BaseModel, ConfigDict

from registry.errors import EnvironmentMismatch, InvalidInput

__all__ = [
    "EnvironmentSpec",
    "EnvironmentWarning",
    "capture_environment",
    "check_environment",
    "conda_yaml",
    "distribution_version",
    "requirements_txt",
]

log = logging.getLogger(__name__)


class EnvironmentWarning(UserWarning):
    """Loading went ahead with ``force=True`` in an environment that differs from the logged one."""


class EnvironmentSpec(BaseModel):
    """The manifest's ``env`` section: what the version was logged under."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    python: str
    """The Python version, ``3.11.7`` (or the ``python_version=`` given, ``3.11``)."""
    frameworks: Mapping[str, str]
    """Installed version of every distribution the model needs to load, by name."""
    conda_dependencies: tuple[str, ...]
    pip_requirements: tuple[str, ...]
    conda: str
    requirements: str


@functools.cache
def distribution_version(name: str) -> str | None:
    """The installed version of a distribution (cached: it cannot change under a process)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def capture_environment(
    *,
    distributions: Iterable[str],
    conda_dependencies: Iterable[str] | None,
    pip_requirements: Iterable[str] | None,
    python_version: str | None,
) -> EnvironmentSpec:
    """The manifest's ``env`` section for a model that needs ``distributions`` to load."""
    current_python = platform.python_version()
    python = python_version or current_python
    if python_version is not None and python_version.count(".") not in (1, 2):
        raise InvalidInput(f"python_version {python_version!r} must look like '3.11' or '3.11.7'")
    frameworks: dict[str, str] = {}
    for dist in distributions:
        version = distribution_version(dist)
        if version is not None:
            frameworks[dist] = version
    conda = _clean_list(conda_dependencies, "conda_dependencies")
    pip = _clean_list(pip_requirements, "pip_requirements")
    return EnvironmentSpec(
        python=python,
        frameworks=frameworks,
        conda_dependencies=tuple(conda),
        pip_requirements=tuple(pip),
        conda="env/conda.yml",
        requirements="env/requirements.txt",
    )


def _clean_list(values: Iterable[str] | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise InvalidInput(f"{what} must be a list of package specs, not one string: [{values!r}]")
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{what} holds {value!r}; each entry must be a package spec string")
        out.append(value.strip())
    return out


def _pinned(env: EnvironmentSpec) -> list[str]:
    pins = [f"{dist}=={ver}" for dist, ver in sorted(env.frameworks.items())]
    named = {p.split("==")[0].lower() for p in pins}
    extra = [p for p in env.pip_requirements if _dist_name(p) not in named]
    return pins + extra


def _dist_name(spec: str) -> str:
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
        spec = spec.split(sep)[0]
    return spec.strip().lower()


def requirements_txt(env: EnvironmentSpec) -> str:
    return "".join(f"{line}\n" for line in _pinned(env))


def conda_yaml(env: EnvironmentSpec) -> str:
    python = ".".join(env.python.split(".")[:2])
    deps: list[str | dict[str, list[str]]] = [f"python=={python}.*"]
    deps += list(env.conda_dependencies)
    deps.append("pip")
    deps.append({"pip": _pinned(env)})
    doc = {"name": "floe-model", "channels": ["conda-forge"], "dependencies": deps}
    return yaml.safe_dump(doc, sort_keys=False)


def check_environment(env: EnvironmentSpec, *, force: bool, what: str) -> None:
    """Refuse (or, with ``force``, warn about) a Python minor or framework major mismatch."""
    problems = []
    logged_py = ".".join(env.python.split(".")[:2])
    current_py = ".".join(platform.python_version().split(".")[:2])
    if logged_py and logged_py != current_py:
        problems.append(f"Python {logged_py} (logged) vs {current_py} (here)")
    for dist, logged in sorted(env.frameworks.items()):
        here = _installed(dist)
        if here is None:
            problems.append(f"{dist} {logged} (logged) vs not installed (here)")
        elif _major(here) != _major(logged):
            problems.append(f"{dist} {logged} (logged) vs {here} (here)")
    if not problems:
        return
    summary = "; ".join(problems)
    if not force:
        raise EnvironmentMismatch(
            f"{what} was logged in another environment: {summary}; recreate it from the "
            "version's env/conda.yml or env/requirements.txt, or go ahead anyway with "
            "load(force=True) or run(..., force=True)"
        )
    warnings.warn(
        f"loading {what} with force=True although its environment differs: {summary}",
        EnvironmentWarning,
        stacklevel=3,
    )


# One package published under several distribution names: a version logged with one loads
# where another is installed (TensorFlow's CPU build on a CPU node, its full build on a GPU one).
_SAME_PACKAGE: tuple[frozenset[str], ...] = (
    frozenset({"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel"}),
    frozenset({"onnxruntime", "onnxruntime-gpu"}),
)


def _installed(dist: str) -> str | None:
    """The version of ``dist`` installed here, or of another distribution of its package."""
    here = distribution_version(dist)
    if here is not None:
        return here
    for group in _SAME_PACKAGE:
        if dist in group:
            for other in sorted(group - {dist}):
                here = distribution_version(other)
                if here is not None:
                    return here
    return None


def _major(version: str) -> str:
    return version.split(".")[0]
