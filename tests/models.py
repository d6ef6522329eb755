"""Small models trained on data sets that ship with scikit-learn, shared by the tests."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression


@cache
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in X.columns]
    return X, y


@cache
def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_") for c in X.columns]
    return X, y


def iris_classifier() -> tuple[LogisticRegression, pd.DataFrame]:
    X, y = iris()
    return LogisticRegression(max_iter=500).fit(X, y), X


def log1p_features(X: pd.DataFrame) -> pd.DataFrame:
    """A feature transform defined in the test code: a model that uses it refers to ``tests``."""
    return np.log1p(X)
