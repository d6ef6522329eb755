"""The fresh-process check itself: a version whose pickle refers to the test code is caught.

The round-trip tests assert ``report["modules"] == []``; this plants a reference to a
function of the ``tests`` package in a pickled scikit-learn pipeline and checks that the
report names the module, so that assertion can fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.models import iris, log1p_features
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process


def test_a_reference_to_the_training_code_is_reported(tmp_path: Path) -> None:
    X, y = iris()
    reg = SqliteRegistry(tmp_path)
    X.to_parquet(reg.workdir / "X.parquet")
    planted = make_pipeline(FunctionTransformer(log1p_features), LogisticRegression(max_iter=500))
    planted.fit(X, y)
    reg.registry.log_model(planted, model_name="planted", version_name="v1",
                           sample_input_data=X[:10])
    report, outputs = run_in_fresh_process(reg, {"planted": ["predict"]})
    assert report["modules"] == ["tests", "tests.models"]
    np.testing.assert_array_equal(outputs[("planted", "predict")].ravel(), planted.predict(X))
