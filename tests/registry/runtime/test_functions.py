"""Function resolution: one decision for run, a Dataset, pipelines and serving."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from registry import InvalidInput, ModelFunctionInfo, NotFound, Registry
from registry.runtime.functions import resolve_function
from tests.models import iris

LABEL = "ML.REGISTRY.M version V1"


def _functions(*names: str) -> list[ModelFunctionInfo]:
    return [ModelFunctionInfo(name, name, None) for name in names]



def test_names_are_identifiers_unquoted_ignore_case_quoted_match_exactly() -> None:
    functions = _functions("predict", "predict_proba", "explain")
    assert resolve_function(functions, "PREDICT", label=LABEL).name == "predict"
    assert resolve_function(functions, "Predict_Proba", label=LABEL).name == "predict_proba"
    assert resolve_function(functions, '"predict"', label=LABEL).name == "predict"
    with pytest.raises(NotFound, match=r"has no function '\"PREDICT\"'; set function_name= "
                                        r"to one of explain, predict, predict_proba"):
        resolve_function(functions, '"PREDICT"', label=LABEL)


def test_names_differing_only_in_case_pick_the_exact_spelling() -> None:
    functions = _functions("score", "Score")
    assert resolve_function(functions, "Score", label=LABEL).name == "Score"
    assert resolve_function(functions, "score", label=LABEL).name == "score"
    with pytest.raises(InvalidInput, match="spell the one to run exactly as listed"):
        resolve_function(functions, "SCORE", label=LABEL)


def test_explain_never_counts_when_choosing_the_default() -> None:
    assert resolve_function(_functions("predict", "explain"), None, label=LABEL).name == "predict"
    assert resolve_function(_functions("explain"), None, label=LABEL).name == "explain"
    with pytest.raises(InvalidInput, match=r"has functions explain, predict, predict_proba; say "
                                           r"which one to run: pass function_name=NAME"):
        resolve_function(_functions("predict", "predict_proba", "explain"), None, label=LABEL)
    with pytest.raises(NotFound, match="has no functions"):
        resolve_function([], None, label=LABEL)


def test_the_fix_names_the_callers_setting() -> None:
    functions = _functions("predict", "decision_function")
    with pytest.raises(NotFound, match="set function: to one of decision_function, predict"):
        resolve_function(functions, "score", label=LABEL, argument="function:")
    with pytest.raises(InvalidInput, match="say which one to run: function: NAME"):
        resolve_function(functions, None, label=LABEL, argument="function:")


@pytest.mark.parametrize("name", [123, 1.5, ["predict"], b"predict"])
def test_a_name_that_is_not_a_string_is_invalid_input(name: object) -> None:
    with pytest.raises(InvalidInput, match="a function name is a string, not"):
        resolve_function(_functions("predict"), name, label=LABEL)


def test_run_picks_the_one_user_function_beside_explain(sqlite_reg: Registry) -> None:
    X, y = iris()
    mv = sqlite_reg.log_model(Ridge().fit(X, y), model_name="m", version_name="v1",
                              sample_input_data=X[:20])
    assert sorted(f.name for f in mv.show_functions()) == ["explain", "predict"]
    out = mv.run(X)  # explain was added; predict is still the one function to run
    assert list(out.columns) == [*X.columns, "output_feature_0"]
    assert mv.get_function().name == "predict"
    assert mv.get_function("EXPLAIN").name == "explain"
    assert list(mv.run(X[:3], function_name="Explain").columns)[-1].endswith("_explanation")


def test_run_and_get_function_refuse_unknown_and_non_string_names(sqlite_reg: Registry) -> None:
    X, y = iris()
    mv = sqlite_reg.log_model(Ridge().fit(X, y), model_name="m", version_name="v1",
                              sample_input_data=X[:20])
    with pytest.raises(NotFound, match=r"M version V1 has no function 'nope'; set "
                                       r"function_name= to one of explain, predict"):
        mv.run(X, function_name="nope")
    with pytest.raises(NotFound, match="set function: to one of explain, predict"):
        mv.get_function("nope", argument="function:")
    with pytest.raises(InvalidInput, match="a function name is a string, not int 123"):
        mv.run(X, function_name=123)  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match="a function name is a string"):
        mv.run(pd.DataFrame(X), function_name=["predict"])  # type: ignore[call-overload]
