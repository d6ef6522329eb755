"""log_model and load options: one typed model each; unknown keys and bad values refused."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from registry import InvalidInput, Registry
from registry.packaging.options import (
    LoadOptions,
    LogOptions,
    parse_load_options,
    parse_log_options,
)
from tests.models import iris_classifier


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(catalog_url=f"sqlite:///{tmp_path / 'c.db'}", artifact_root=str(tmp_path / "a"))


def test_a_misspelt_log_option_is_refused_and_nothing_is_logged(reg: Registry, tmp_path: Path) -> None:
    """Regression: the typo was silently ignored, and explain was added although the caller
    asked for it off."""
    clf, X = iris_classifier()
    with pytest.raises(
        InvalidInput,
        match=r"unknown option 'enable_explainabilty' \(did you mean 'enable_explainability'\?\)"
        r".*the known options are: enable_explainability, target_methods",
    ):
        reg.log_model(clf, model_name="m", sample_input_data=X[:5],
                      options={"enable_explainabilty": False})
    assert reg.models() == []
    versions = tmp_path / "a" / "versions"  # opening a root writes nothing: it may be absent
    assert not versions.exists() or list(versions.iterdir()) == []


@pytest.mark.parametrize("key", ["relax_version", "method_options", "target_platforms"])
def test_snowflake_options_floe_does_not_have_are_named_as_such(reg: Registry, key: str) -> None:
    clf, X = iris_classifier()
    with pytest.raises(InvalidInput, match=rf"'{key}' is a Snowflake option that Floe does not "
                       "have; the known options are: enable_explainability, target_methods"):
        reg.log_model(clf, model_name="m", sample_input_data=X[:5], options={key: True})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput, match=r"log_model\(options=...\) is invalid: "
                       r"options\['enable_explainability'\] = 'yes': Input should be a valid "
                       r"boolean; unknown option 'colour'; the known options"):
        parse_log_options({"enable_explainability": "yes", "colour": "red"})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("predict", r"options\['target_methods'\] = 'predict': Input should be a list"),
        (["predict", 1], r"options\['target_methods'\]\[1\] = 1: Input should be a valid string"),
        (["predict", "predict"], r"lists predict more than once"),
        ([], r"name at least one method, or leave target_methods out"),
    ],
)
def test_target_methods_must_be_a_list_of_distinct_names(value: object, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_log_options({"target_methods": value})


def test_options_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInput, match=r"takes a mapping of option names to values, not a "
                       "list; the known options are: enable_explainability, target_methods"):
        parse_log_options(["enable_explainability"])  # type: ignore[arg-type]


def test_options_parse_from_a_mapping_or_pass_through_as_the_model() -> None:
    assert parse_log_options(None) == LogOptions()
    assert parse_log_options({}) == LogOptions(enable_explainability=True, target_methods=None)
    given = LogOptions(target_methods=("predict",))
    assert parse_log_options(given) is given
    assert parse_log_options({"target_methods": ["predict"]}).target_methods == ("predict",)
    assert parse_load_options({"use_gpu": False}) == LoadOptions()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        given.enable_explainability = False  # type: ignore[misc]


def test_target_methods_choose_the_functions(reg: Registry) -> None:
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", sample_input_data=X[:5],
                       options={"target_methods": ["predict_proba"],
                                "enable_explainability": False})
    assert [f.name for f in mv.show_functions()] == ["predict_proba"]
    assert mv.run(X[:3]).shape == (3, X.shape[1] + 3)
    with pytest.raises(InvalidInput, match=r"target_methods \['transform'\] are not methods of "
                       "this model; it has: predict"):
        reg.log_model(clf, model_name="m", sample_input_data=X[:5],
                      options={"target_methods": ["transform"]})


def test_a_misspelt_load_option_is_refused(reg: Registry) -> None:
    """Regression: ``load(options={"use_gpus": True})`` loaded on the CPU, silently."""
    clf, X = iris_classifier()
    mv = reg.log_model(clf, model_name="m", sample_input_data=X[:5],
                       options={"enable_explainability": False})
    with pytest.raises(InvalidInput, match=r"load\(options=...\) is invalid: unknown option "
                       r"'use_gpus' \(did you mean 'use_gpu'\?\); the known options are: use_gpu"):
        mv.load(options={"use_gpus": True})
    with pytest.raises(InvalidInput, match=r"options\['use_gpu'\] = 'no': Input should be a "
                       "valid boolean"):
        mv.load(options={"use_gpu": "no"})
    assert mv.load(options={"use_gpu": False}) is not None
