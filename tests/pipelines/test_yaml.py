"""pipelines._yaml, the loader of every config: line numbers in its refusals, environment
variables, and untrusted YAML (tags, aliases, depth, size) refused with one clear error."""

from __future__ import annotations

import pytest

from pipelines import parse_config
from registry import InvalidInput
from tests.pipelines.pipeline_data import GOOD


def test_environment_variables_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_TEST_DATA", "/lake")
    monkeypatch.delenv("FLOE_TEST_UNSET", raising=False)
    text = (GOOD.replace("/data/customers", "${FLOE_TEST_DATA}/customers")
            .replace("/data/scores", "${FLOE_TEST_UNSET:-/tmp/out}/scores$$"))
    cfg = parse_config(text)
    assert cfg.input.path == "/lake/customers"
    assert cfg.output.path == "/tmp/out/scores$"


def test_an_unset_environment_variable_is_refused_with_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_TEST_UNSET", raising=False)
    with pytest.raises(InvalidInput, match=r"line 4: input.path: environment variable "
                       r"FLOE_TEST_UNSET is not set; set it, or give a default"):
        parse_config(GOOD.replace("/data/customers", "${FLOE_TEST_UNSET}/c"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty; a pipeline config is a YAML mapping"),
        ("- a\n- b\n", "is a mapping of keys .* not a list"),
        ("model: [1\n", r"line 2: .*; fix the YAML syntax"),
        ("model: a@b\nmodel: a@c\n", r"line 2: model is given twice \(first at line 1\); keep one"),
        ("1: x\n", "line 1: keys are strings"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", r"line 3: merge keys \(<<\) are not supported"),
    ],
)
def test_yaml_problems_are_refused_with_their_line(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_config(text, source="p.yaml")


MINIMAL = "model: a@b\ninput: {path: /i}\noutput: {path: /o/x}\n"


def _alias_bomb(levels: int) -> str:
    """The "billion laughs": each level lists the one before ten times (10**levels values)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, levels + 1):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]")
    return MINIMAL + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_alias_bomb(5), r"^p.yaml line 7: aliases expand the document past 10,000 values"),
        (MINIMAL + "compute: &c {batch_size: *c}\n",
         r"^p.yaml line 4: alias \*c is inside the node it names \(&c, line 4\), so it would "
         r"repeat forever; remove the alias"),
        ("model: a@b\ninput: &i [*i]\n", r"^p.yaml line 2: alias \*i is inside the node"),
        (MINIMAL + "function: !!python/name:os.system\n",
         r"^p.yaml line 4: tag !!python/name:os.system is not allowed; .* remove the tag"),
        (MINIMAL + "compute: !!python/object:registry.ComputeConfig {max_actors: 2}\n",
         r"^p.yaml line 4: tag !!python/object:registry.ComputeConfig is not allowed"),
        ("model: !!str a@b\n", r"^p.yaml line 1: tag !!str is not allowed"),
        ("model: ! a@b\n", r"^p.yaml line 1: tag ! is not allowed"),
        ("model: !custom a@b\n", r"^p.yaml line 1: tag !custom is not allowed"),
        (MINIMAL + "passthrough: " + "[" * 40 + "]" * 40 + "\n",
         r"^p.yaml line 4: lists and mappings nest deeper than 32 levels"),
        ("model: " + "x" * 1_000_001, r"^p.yaml holds more than 1,000,000 characters, more "
         r"than a pipeline config holds; is it the right file\?"),
    ],
    ids=["alias-bomb", "self-alias", "self-alias-in-list", "python-name", "python-object",
         "standard-tag", "non-specific-tag", "local-tag", "depth", "size"],
)
def test_untrusted_yaml_is_refused_with_one_clear_error(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_config(text, source="p.yaml")


def test_aliases_within_the_budget_are_expanded() -> None:
    text = MINIMAL.replace("output: {path: /o/x}", "output: {path: &o /o/x}") + (
        "compute: &c {max_actors: 2}\nfunction: predict\npassthrough: [*o]\n"
    )
    cfg = parse_config(text)
    assert cfg.compute.max_actors == 2 and cfg.passthrough == ["/o/x"]
