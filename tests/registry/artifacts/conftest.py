"""Fixtures shared by the artifact tests (test_deliver.py defines its own ``logged``)."""

from __future__ import annotations

import pytest

from registry import Registry
from tests.models import iris_classifier


@pytest.fixture
def logged(reg: Registry):
    clf, X = iris_classifier()
    mv = reg.log_model(
        clf, model_name="m", version_name="v1", sample_input_data=X[:5],
        conda_dependencies=["scikit-learn"], pip_requirements=["requests>=2"],
    )
    return reg, mv, clf, X
