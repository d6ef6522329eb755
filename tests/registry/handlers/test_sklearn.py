"""scikit-learn: log here, load and run in a fresh process, same predictions.

The one round trip also logs two xgboost models (a Booster and an XGBClassifier) beside the
three scikit-learn ones: it lives here, where most of it belongs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.models import breast_cancer
from tests.registry.handlers import SqliteRegistry, run_in_fresh_process


def test_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    X, y = breast_cancer()
    reg = SqliteRegistry(tmp_path)
    X.to_parquet(reg.workdir / "X.parquet")
    models = {
        "pipe": make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10,
                                                                       random_state=0)).fit(X, y),
        "ridge": Ridge().fit(X, y),
        "kmeans": KMeans(n_clusters=3, n_init=2, random_state=0).fit(X),
        "booster": xgb.train({"objective": "binary:logistic", "max_depth": 3},
                             xgb.DMatrix(X, label=y), num_boost_round=10),
        "xgbc": xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y),
    }
    functions = {
        "pipe": ["predict", "predict_proba"],
        "ridge": ["predict"],
        "kmeans": ["predict", "transform"],
        "booster": ["predict"],
        "xgbc": ["predict", "predict_proba"],
    }
    for name, model in models.items():
        mv = reg.registry.log_model(model, model_name=name, version_name="v1",
                                    sample_input_data=X[:20])
        listed = {f.name: f for f in mv.show_functions()}
        assert set(functions[name]) <= set(listed)
        for fn in functions[name]:
            signature = listed[fn].signature
            assert signature is not None
            assert [f.name for f in signature.inputs] == list(X.columns)
    report, outputs = run_in_fresh_process(reg, functions)
    assert report["modules"] == []  # the fresh process never imported the training code
    assert report["classes"]["booster"] == "Booster"
    assert report["classes"]["xgbc"] == "XGBClassifier"
    for name, model in models.items():
        for fn in functions[name]:
            if name == "booster":
                expected = model.inplace_predict(X.to_numpy())
            else:
                expected = getattr(model, fn)(X)
            got = outputs[(name, fn)]
            np.testing.assert_allclose(got.reshape(len(X), -1).astype(float),
                                       np.asarray(expected).reshape(len(X), -1), rtol=1e-6)
