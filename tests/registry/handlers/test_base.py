"""Every handler's ``load`` returns a ``Predictor`` that predicts as the model does, keeps what
it decided at load time, and refuses a method it does not run."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import torch
import xgboost as xgb
from sklearn.linear_model import LinearRegression, LogisticRegression
from torch import nn

from registry import CustomModel, InvalidInput, ModelContext, NotFound, inference_api
from registry.handlers import Handler, Predictor, handler_for
from registry.handlers.custom import CustomPredictor
from registry.handlers.lightgbm import LightGBMPredictor
from registry.handlers.sklearn import SklearnPredictor
from registry.handlers.torch import TorchPredictor
from registry.handlers.xgboost import XGBoostPredictor
from registry.runtime.model_input import Batch
from tests.models import iris

Direct = Callable[[Any, str, pd.DataFrame], object]


@dataclass
class _Case:
    """A model, its input, how to call it directly, and what its predictor must hold."""

    model: object
    X: pd.DataFrame
    methods: tuple[str, ...]
    predictor_class: type[Predictor]
    state: dict[str, object]  # the predictor's load-time fields and their values
    direct: Direct = lambda model, method, X: getattr(model, method)(X)


class TwiceTheClass(CustomModel):
    """A custom model around a sub-model in its context."""

    @inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        clf: Any = self.context.model_ref("clf")
        return pd.DataFrame({"twice": clf.predict(X) * 2})


def _sklearn_on_a_frame() -> _Case:
    X, y = iris()
    return _Case(LogisticRegression(max_iter=500).fit(X, y), X,
                 ("predict", "predict_proba", "predict_log_proba", "decision_function"),
                 SklearnPredictor, {"takes_frame": True})


def _sklearn_on_an_array() -> _Case:
    X, y = iris()
    return _Case(LinearRegression().fit(X.to_numpy(), y), X, ("predict",), SklearnPredictor,
                 {"takes_frame": False}, lambda m, method, X: getattr(m, method)(X.to_numpy()))


def _xgboost_wrapper() -> _Case:
    X, y = iris()
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    return _Case(model, X, ("predict", "predict_proba"), XGBoostPredictor, {"is_booster": False})


def _xgboost_booster() -> _Case:
    X, y = iris()
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 2}, xgb.DMatrix(X, y), 5)
    return _Case(booster, X, ("predict",), XGBoostPredictor, {"is_booster": True},
                 lambda m, method, X: getattr(m, method)(xgb.DMatrix(X)))


def _lightgbm_wrapper() -> _Case:
    X, y = iris()
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1).fit(X, y)
    return _Case(model, X, ("predict", "predict_proba"), LightGBMPredictor,
                 {"input_form": "frame"})


def _lightgbm_booster() -> _Case:
    X, y = iris()
    booster = lgb.train({"objective": "regression", "num_leaves": 7, "verbose": -1},
                        lgb.Dataset(X, y), num_boost_round=5)
    return _Case(booster, X, ("predict",), LightGBMPredictor, {"input_form": "numpy"},
                 lambda m, method, X: getattr(m, method)(X.to_numpy()))


def _torch_module() -> _Case:
    X, _ = iris()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()

    def direct(m: Any, method: str, X: pd.DataFrame) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(getattr(m, method)(torch.tensor(X.to_numpy())).numpy())

    return _Case(net, X, ("forward",), TorchPredictor,
                 {"device": torch.device("cpu"), "dtype": torch.float64}, direct)


def _custom_model() -> _Case:
    X, y = iris()
    clf = LogisticRegression(max_iter=500).fit(X, y)
    return _Case(TwiceTheClass(ModelContext(models={"clf": clf})), X, ("predict",),
                 CustomPredictor, {})


_CASES: dict[str, Callable[[], _Case]] = {
    "sklearn_frame": _sklearn_on_a_frame,
    "sklearn_array": _sklearn_on_an_array,
    "xgboost_wrapper": _xgboost_wrapper,
    "xgboost_booster": _xgboost_booster,
    "lightgbm_wrapper": _lightgbm_wrapper,
    "lightgbm_booster": _lightgbm_booster,
    "torch": _torch_module,
    "custom": _custom_model,
}


def _load(handler: Handler, model: object, tmp_path: Path) -> Predictor:
    """Save ``model`` under ``tmp_path/model`` and load it back, as a version's copy is."""
    spec = json.loads(json.dumps(handler.save(model, tmp_path / "model")))  # as stored
    return handler.load(tmp_path, spec, {})


def _assert_same(got: object, expected: object) -> None:
    if isinstance(expected, pd.DataFrame):
        assert isinstance(got, pd.DataFrame)
        pd.testing.assert_frame_equal(got, expected)
    else:
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-6, atol=1e-7)


@pytest.fixture(params=list(_CASES))
def case(request: pytest.FixtureRequest) -> _Case:
    return _CASES[request.param]()


def test_load_returns_a_predictor_that_predicts_as_the_model(case: _Case, tmp_path: Path) -> None:
    predictor = _load(handler_for(case.model), case.model, tmp_path)
    assert type(predictor) is case.predictor_class
    assert type(predictor.model) is type(case.model)
    assert predictor.model is not case.model  # the object the handler loaded
    assert predictor.methods == case.methods
    for method in case.methods:
        got = predictor.predict(method, Batch(frame=case.X))
        _assert_same(got, case.direct(predictor.model, method, case.X))
        _assert_same(got, case.direct(case.model, method, case.X))


def test_load_keeps_what_the_handler_decided(case: _Case, tmp_path: Path) -> None:
    predictor = _load(handler_for(case.model), case.model, tmp_path)
    assert {name: getattr(predictor, name) for name in case.state} == case.state


def test_wrap_gives_the_predictor_of_the_object_itself(case: _Case) -> None:
    predictor = handler_for(case.model).wrap(case.model)
    assert type(predictor) is case.predictor_class
    assert predictor.model is case.model
    assert predictor.methods == case.methods
    assert {name: getattr(predictor, name) for name in case.state} == case.state
    for method in case.methods:
        _assert_same(predictor.predict(method, Batch(frame=case.X)),
                     case.direct(case.model, method, case.X))


def test_a_predictor_refuses_a_method_it_does_not_run(case: _Case, tmp_path: Path) -> None:
    predictor = _load(handler_for(case.model), case.model, tmp_path)
    methods = ", ".join(case.methods)
    with pytest.raises(NotFound, match=rf"has no method 'score' to predict with; call one of "
                                       rf"its methods: {methods}$"):
        predictor.predict("score", Batch(frame=case.X))


def test_a_booster_refuses_predict_proba() -> None:
    case = _xgboost_booster()  # a Booster runs inplace_predict whatever the method's name
    predictor = handler_for(case.model).wrap(case.model)
    with pytest.raises(NotFound, match=r"xgboost\.core\.Booster has no method 'predict_proba'"):
        predictor.predict("predict_proba", Batch(frame=case.X))


def test_a_predictor_is_frozen(tmp_path: Path) -> None:
    case = _sklearn_on_a_frame()
    predictor = _load(handler_for(case.model), case.model, tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        predictor.methods = ("fit",)  # type: ignore[misc]


def test_a_custom_predictor_holds_the_loaded_context(tmp_path: Path) -> None:
    case = _custom_model()
    predictor = _load(handler_for(case.model), case.model, tmp_path)
    assert isinstance(predictor, CustomPredictor)
    assert isinstance(predictor.model, CustomModel)
    assert predictor.context is predictor.model.context  # the one the model was unpickled with
    loaded_clf = predictor.context.model_ref("clf")
    assert isinstance(loaded_clf, LogisticRegression)
    assert loaded_clf is not case.model.context.model_ref("clf")  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["x" * 5000, "a\0b", "/no/such/dir"])
def test_text_that_is_no_model_folder_is_refused_by_every_handler(text: str) -> None:
    # every handler that takes a folder's path (SavedModel, MLflow) looks for its file
    # there; text too long for a path, or holding a NUL, is no folder either
    with pytest.raises(InvalidInput, match="no handler for it"):
        handler_for(text)
