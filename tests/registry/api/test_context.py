"""The checks of the metadata the API writes: metric values as JSON, metric names, metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from registry import InvalidInput
from registry.api.context import MAX_JSON_DEPTH, check_metrics, to_json_value


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_json_values_convert_numpy_and_keep_plain_values() -> None:
    assert to_json_value({"a": np.float32(0.5), "b": np.arange(3), "c": (1, "x", None)}) == {
        "a": 0.5, "b": [0, 1, 2], "c": [1, "x", None]
    }
    shared = [1]
    assert to_json_value([shared, shared]) == [[1], [1]]  # shared, not a cycle
    assert to_json_value(_nested(MAX_JSON_DEPTH)) == _nested(MAX_JSON_DEPTH)


def test_deep_nesting_is_refused_before_recursion_fails() -> None:
    with pytest.raises(InvalidInput, match=f"deeper than {MAX_JSON_DEPTH} levels; flatten it"):
        to_json_value(_nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(InvalidInput, match="deeper than"):
        to_json_value(_nested(100_000))  # RecursionError before the bound existed


def test_values_that_contain_themselves_are_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(InvalidInput, match="contains itself .*store a copy without the cycle"):
        to_json_value(loop)
    mapping: dict[str, Any] = {}
    mapping["self"] = {"again": mapping}
    with pytest.raises(InvalidInput, match="contains itself"):
        to_json_value(mapping, what="metric 'm'")


@pytest.mark.parametrize("metrics", [[1, 2], "acc", 0.9, {("a",): 1}.keys()])
def test_metrics_must_be_a_mapping(metrics: object) -> None:
    with pytest.raises(InvalidInput, match="metrics must be a mapping of metric names to values"):
        check_metrics(metrics)


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({1: 0.5}, "a metric name is a non-empty string, not 1"),
        ({" ": 0.5}, "a metric name is a non-empty string"),
        ({"x" * 256: 0.5}, "metric name is 256 characters long, at most 255 are allowed"),
        ({"a\x00": 0.5}, r"metric name holds a NUL character \(U\+0000\)"),
        ({"acc": float("nan")}, "not valid JSON; store finite numbers"),
    ],
)
def test_metric_names_and_values_are_checked(metrics: dict[Any, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_metrics(metrics)
    assert check_metrics({"acc": np.float64(0.9)}) == {"acc": 0.9}
    assert check_metrics(None) == {}
