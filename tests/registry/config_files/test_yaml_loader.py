"""registry.config_files.yaml_loader, the loader of every config: line numbers in its refusals,
environment variables, and untrusted YAML (tags, aliases, depth, size) refused with one clear
error."""

from __future__ import annotations

import pytest

from registry import InvalidInput
from registry.config_files.yaml_loader import load_with_lines
from tests.registry.config_files.job_config import GOOD, MINIMAL, parse


def test_every_key_and_item_keeps_its_line() -> None:
    doc = load_with_lines("a:\n  - x\n  - {y: 1}\nb: 2\n", "s.yaml")
    assert doc.data == {"a": ["x", {"y": 1}], "b": 2}
    assert doc.lines == {(): 1, ("a",): 1, ("a", 0): 2, ("a", 1): 3, ("a", 1, "y"): 3, ("b",): 4}
    assert doc.line_of(("a", 1, "missing")) == 3  # the nearest ancestor the document has
    assert doc.line_of(("nowhere",)) == 1


def test_environment_variables_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_TEST_DATA", "/lake")
    monkeypatch.delenv("FLOE_TEST_UNSET", raising=False)
    text = (GOOD.replace("/data/in", "${FLOE_TEST_DATA}/in")
            .replace("/out/b", "${FLOE_TEST_UNSET:-/tmp/out}/b$$"))
    cfg = parse(text)
    assert cfg.source.path == "/lake/in"
    assert cfg.sinks[1].path == "/tmp/out/b$"


def test_environment_variables_are_kept_when_expansion_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOE_TEST_DATA", "/lake")
    cfg = parse(GOOD.replace("/data/in", "${FLOE_TEST_DATA}/in$$"), expand_env=False)
    assert cfg.source.path == "${FLOE_TEST_DATA}/in$$"


def test_an_unset_environment_variable_is_refused_with_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_TEST_UNSET", raising=False)
    with pytest.raises(InvalidInput, match=r"line 3: source.path: environment variable "
                       r"FLOE_TEST_UNSET is not set; set it, or give a default"):
        parse(GOOD.replace("/data/in", "${FLOE_TEST_UNSET}/c"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty; a job config is a YAML mapping"),
        ("name: [1\n", r"line 2: .*; fix the YAML syntax"),
        ("name: a\nname: b\n", r"line 2: name is given twice \(first at line 1\); keep one"),
        ("1: x\n", "line 1: keys are strings"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", r"line 3: merge keys \(<<\) are not supported"),
    ],
)
def test_yaml_problems_are_refused_with_their_line(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse(text, source="p.yaml")


def _alias_bomb(levels: int) -> str:
    """The "billion laughs": each level lists the one before ten times (10**levels values)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, levels + 1):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]")
    return MINIMAL + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_alias_bomb(5), r"^p.yaml line 6: aliases expand the document past 10,000 values"),
        (MINIMAL + "limits: &c {max_rows: *c}\n",
         r"^p.yaml line 3: alias \*c is inside the node it names \(&c, line 3\), so it would "
         r"repeat forever; remove the alias"),
        ("name: a\nsource: &i [*i]\n", r"^p.yaml line 2: alias \*i is inside the node"),
        (MINIMAL + "mode: !!python/name:os.system\n",
         r"^p.yaml line 3: tag !!python/name:os.system is not allowed; .* remove the tag"),
        (MINIMAL + "limits: !!python/object:registry.ComputeConfig {max_actors: 2}\n",
         r"^p.yaml line 3: tag !!python/object:registry.ComputeConfig is not allowed"),
        ("name: !!str a\n", r"^p.yaml line 1: tag !!str is not allowed"),
        ("name: ! a\n", r"^p.yaml line 1: tag ! is not allowed"),
        ("name: !custom a\n", r"^p.yaml line 1: tag !custom is not allowed"),
        (MINIMAL + "tags: " + "[" * 40 + "]" * 40 + "\n",
         r"^p.yaml line 3: lists and mappings nest deeper than 32 levels"),
        ("name: " + "x" * 1_000_001, r"^p.yaml holds more than 1,000,000 characters, more "
         r"than a job config holds; is it the right file\?"),
    ],
    ids=["alias-bomb", "self-alias", "self-alias-in-list", "python-name", "python-object",
         "standard-tag", "non-specific-tag", "local-tag", "depth", "size"],
)
def test_untrusted_yaml_is_refused_with_one_clear_error(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse(text, source="p.yaml")


def test_aliases_within_the_budget_are_expanded() -> None:
    text = MINIMAL.replace("source: {path: /i}", "source: {path: &p /i}") + (
        "limits: &l {max_rows: 2}\nmode: fast\ntags: [*p, *p]\n"
    )
    cfg = parse(text)
    assert cfg.limits.max_rows == 2 and cfg.tags == ["/i", "/i"]
