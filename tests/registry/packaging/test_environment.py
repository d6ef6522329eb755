"""The environment a version was logged in, checked where it loads: one package under
several distribution names counts as the same package."""

from __future__ import annotations

import platform

import pytest

from registry import EnvironmentMismatch
from registry.packaging.environment import EnvironmentSpec, check_environment, distribution_version


def _env(**frameworks: str) -> EnvironmentSpec:
    return EnvironmentSpec(python=platform.python_version(), frameworks=frameworks,
                           conda_dependencies=(), pip_requirements=(), conda="", requirements="")


def test_tensorflow_logged_loads_where_its_cpu_build_is_installed() -> None:
    here = distribution_version("tensorflow-cpu")
    assert here is not None and distribution_version("tensorflow") is None  # this machine's
    major = here.split(".")[0]
    check_environment(_env(tensorflow=f"{major}.0.0"), force=False, what="v1")
    check_environment(_env(**{"tensorflow-gpu": f"{major}.1"}), force=False, what="v1")
    with pytest.raises(EnvironmentMismatch, match=r"tensorflow 1\.15 \(logged\) vs "
                       rf"{here} \(here\)"):
        check_environment(_env(tensorflow="1.15"), force=False, what="v1")


def test_a_package_of_another_name_is_still_missing() -> None:
    with pytest.raises(EnvironmentMismatch, match=r"no-such-dist 1\.0 \(logged\) vs not "
                       r"installed"):
        check_environment(_env(**{"no-such-dist": "1.0"}), force=False, what="v1")
