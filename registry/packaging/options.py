"""The options of ``log_model(options=...)`` and ``load(options=...)``: one typed model each.

Options arrive as a plain mapping (Python, YAML, an HTTP body) or as the model itself, and are
validated once, at the edge, by ``parse_log_options`` / ``parse_load_options``: an unknown key
(a typo, or a Snowflake option Floe does not have, such as ``relax_version``) is refused with
the list of known keys and a "did you mean" where one is close; a value of the wrong type is
refused naming the key. Every problem is reported in one ``InvalidInput``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, field_validator

from registry.errors import InvalidInput

__all__ = ["LoadOptions", "LogOptions", "parse_load_options", "parse_log_options"]

log = logging.getLogger(__name__)

# Options of Snowflake's log_model that Floe does not have: named as such when refused.
_SNOWFLAKE_ONLY = frozenset(
    {
        "cuda_version",
        "embed_local_ml_library",
        "function_type",
        "method_options",
        "relax_version",
        "save_location",
        "target_platforms",
    }
)


class LogOptions(BaseModel):
    """``log_model(options=...)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enable_explainability: StrictBool = True
    """Add an ``explain`` function (SHAP) to a tabular model with a known task."""
    target_methods: tuple[StrictStr, ...] | None = None
    """Which of the model's methods become functions (default: every one the handler knows),
    the first being the default function."""
    convert_to: Literal["onnx"] | None = None
    """Log the model converted to this format instead: ``"onnx"`` converts a scikit-learn
    estimator with skl2onnx and checks it predicts the same on ``sample_input_data``."""

    @field_validator("target_methods")
    @classmethod
    def _check_methods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("name at least one method, or leave target_methods out")
        repeated = sorted({m for m in value if value.count(m) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        return value


class LoadOptions(BaseModel):
    """``load(options=...)``, also what a Ray actor loads a version with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    use_gpu: StrictBool = False
    """Put the model on a CUDA device (torch); refused where there is none."""


Options = TypeVar("Options", LogOptions, LoadOptions)


def parse_log_options(options: Mapping[str, object] | LogOptions | None) -> LogOptions:
    """``log_model``'s options, validated (see the module docstring)."""
    return _parse(LogOptions, options, "log_model")


def parse_load_options(options: Mapping[str, object] | LoadOptions | None) -> LoadOptions:
    """``load``'s options, validated (see the module docstring)."""
    return _parse(LoadOptions, options, "load")


def _parse(cls: type[Options], options: Mapping[str, object] | Options | None, call: str) -> Options:
    if options is None:
        return cls()
    if isinstance(options, cls):
        return options
    known = ", ".join(cls.model_fields)
    if not isinstance(options, Mapping):
        raise InvalidInput(
            f"{call}(options=...) takes a mapping of option names to values, not a "
            f"{type(options).__name__}; the known options are: {known}"
        )
    try:
        return cls.model_validate(dict(options))
    except ValidationError as exc:
        problems = [_describe(error, list(cls.model_fields)) for error in exc.errors()]
        raise InvalidInput(
            f"{call}(options=...) is invalid: {'; '.join(problems)}; the known options are: "
            f"{known}"
        ) from exc


def _describe(error: Mapping[str, object], known: list[str]) -> str:
    loc = error.get("loc", ())
    key = loc[0] if isinstance(loc, tuple) and loc else "?"
    if error.get("type") == "extra_forbidden":
        if not isinstance(key, str):
            return f"option names are strings, not {key!r}"
        if key in _SNOWFLAKE_ONLY:
            return f"{key!r} is a Snowflake option that Floe does not have"
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown option {key!r}{hint}"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    message = message.replace("a valid tuple", "a list")  # tuples inside, lists outside
    where = "".join(f"[{part!r}]" for part in loc) if isinstance(loc, tuple) else ""
    return f"options{where} = {error.get('input')!r}: {message}"
