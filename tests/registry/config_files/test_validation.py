"""registry.config_files.validation on a config of the tests' own: what parses, and every
refusal naming its YAML line, what is allowed and a close match; files, mappings, the
``prepare`` hook and the YAML dump."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from registry import InvalidInput, dump_config_yaml
from tests.registry.config_files.job_config import (
    GOOD,
    MINIMAL,
    JobConfig,
    Limits,
    Sink,
    Source,
    load,
    parse,
    validate,
)


def test_a_full_config_parses_into_the_model() -> None:
    cfg = parse(GOOD)
    assert cfg.source == Source(path="/data/in", columns=["a", "b"])
    assert cfg.sinks == [Sink(path="/out/a.csv", format="csv"), Sink(path="/out/b")]
    assert cfg.limits == Limits(max_rows=10, ratio=0.25)
    assert cfg.mode == "fast" and cfg.tags == ["x", "y"]
    # YAML's own types: an unquoted date is a date, a quoted one stays text
    assert cfg.start == datetime.date(2026, 11, 1) and cfg.end == "2026-11-01"


def test_an_unknown_key_names_its_line_the_allowed_keys_and_a_close_match() -> None:
    with pytest.raises(InvalidInput, match=r"^job.yaml: line 11: unknown key 'max_row' in limits; "
                       r"allowed keys: max_rows, ratio, min_workers, max_workers "
                       r"\(did you mean 'max_rows'\?\)$"):
        parse(GOOD.replace("  ratio: 0.25\n", "  ratio: 0.25\n  max_row: 3\n"), source="job.yaml")


def test_an_unknown_top_level_key_lists_the_models_keys() -> None:
    with pytest.raises(InvalidInput, match=r"^<config>: line 11: unknown key 'tag' at the top "
                       r"level; allowed keys: name, source, sinks, limits, tags, mode, start, end "
                       r"\(did you mean 'tags'\?\)$"):
        parse(GOOD.replace("tags:", "tag:"))


def test_an_unknown_key_far_from_any_allowed_one_gets_no_guess() -> None:
    with pytest.raises(InvalidInput) as info:
        parse(GOOD.replace("mode: fast", "zzz: fast"))
    assert info.value.message.endswith("allowed keys: name, source, sinks, limits, tags, mode, "
                                       "start, end")


def test_keys_inside_a_list_item_are_checked_against_the_items_model() -> None:
    with pytest.raises(InvalidInput, match=r"line 8: unknown key 'formt' in sinks\[1\]; allowed "
                       r"keys: path, format \(did you mean 'format'\?\)"):
        parse(GOOD.replace("  - path: /out/b", "  - path: /out/b\n    formt: csv"))
    with pytest.raises(InvalidInput, match=r"line 6: sinks\[0\] is missing required key 'path' "
                       r"\(a string\)"):
        parse(GOOD.replace("{path: /out/a.csv, format: csv}", "{format: csv}"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (GOOD.replace("  path: /data/in\n", ""),
         r"line 2: source is missing required key 'path' \(a string\)"),
        (GOOD.replace("name: nightly\n", ""),
         r"line 1: \(top level\) is missing required key 'name' \(a string\)"),
    ],
)
def test_a_missing_key_names_the_line_of_its_parent_and_what_it_allows(
    text: str, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse(text)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("max_rows: 10", "max_rows: '10'", r"line 9: limits.max_rows: Input should be a valid "
         r"integer \(got '10'; allowed: an integer > 0\)"),
        ("ratio: 0.25", "ratio: 2", r"line 10: limits.ratio: Input should be less than or equal "
         r"to 1 \(got 2; allowed: a number >= 0 <= 1\)"),
        ("tags: [x, y]", "tags: x", r"line 11: tags: Input should be a valid list \(got 'x'; "
         r"allowed: a list of \(a string\) or null\)"),
        ("mode: fast", "mode: quick", r"line 12: mode: Input should be 'fast' or 'safe' "
         r"\(got 'quick'\)$"),
        ("format: csv", "format: 3", r"line 6: sinks\[0\].format: Input should be 'csv' or "
         r"'parquet' \(got 3\)"),
    ],
    ids=["type", "bound", "list", "choice", "choice-in-list"],
)
def test_a_wrong_value_names_its_line_what_it_got_and_what_is_allowed(
    old: str, new: str, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse(GOOD.replace(old, new))


def test_validators_keep_their_own_message_and_line() -> None:
    with pytest.raises(InvalidInput, match=r"line 1: name: name 'a b' holds a space; write it "
                       "with '_'$"):
        parse(GOOD.replace("name: nightly", "name: a b"))
    with pytest.raises(InvalidInput, match=r"line 8: limits: max_workers \(2\) must be greater "
                       r"than or equal to min_workers \(3\)$"):
        parse(GOOD.replace("  max_rows: 10\n", "  min_workers: 3\n  max_workers: 2\n"))


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = (GOOD.replace("mode: fast", "mode: 1")
            .replace("name: nightly", "name: 3")
            .replace("  path: /data/in\n", "")
            .replace("ratio: 0.25", "ratoi: 0.25"))
    with pytest.raises(InvalidInput) as info:
        parse(text)
    message = info.value.message
    lines = [int(part.split(":")[0]) for part in message.split("line ")[1:]]
    assert lines == [1, 2, 9, 11] and message.count("; line ") == 3


def test_a_config_that_is_not_a_mapping_says_which_keys_it_takes() -> None:
    with pytest.raises(InvalidInput, match=r"^job.yaml: a job config is a mapping of keys \(name, "
                       r"source, \.\.\.\), not a list; see configs/job.yaml$"):
        parse("- a\n- b\n", source="job.yaml")


def _rooted(data: dict[str, Any]) -> dict[str, Any]:
    """A ``prepare`` hook: relative source paths are made absolute under /root."""
    source = data.get("source")
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        path = source["path"]
        return {**data, "source": {**source, "path": path if path[0] == "/" else f"/root/{path}"}}
    return data


def test_prepare_rewrites_the_mapping_before_validation_and_errors_keep_their_lines() -> None:
    assert parse(GOOD.replace("/data/in", "in"), prepare=_rooted).source.path == "/root/in"
    assert validate({"name": "a", "source": {"path": "in"}}, prepare=_rooted).source.path == \
        "/root/in"
    with pytest.raises(InvalidInput, match=r"line 12: mode"):
        parse(GOOD.replace("/data/in", "in").replace("mode: fast", "mode: x"), prepare=_rooted)


def test_a_mapping_validates_the_same_way_without_lines() -> None:
    cfg = validate({"name": "a", "source": {"path": "/i"}})
    assert isinstance(cfg, JobConfig) and cfg.mode == "safe" and cfg.sinks == []
    with pytest.raises(InvalidInput, match=r"^<config>: limits.max_rows: Input should be a valid "
                       r"integer \(got '1'; allowed: an integer > 0\)$"):
        validate({"name": "a", "source": {"path": "/i"}, "limits": {"max_rows": "1"}})
    with pytest.raises(InvalidInput, match=r"^body: unknown key 'nme' at the top level"):
        validate({"nme": "a", "name": "a", "source": {"path": "/i"}}, source="body")
    with pytest.raises(InvalidInput, match=r"a job config is a mapping of keys .* not a list"):
        validate(["name", "a"])


def test_a_file_is_read_and_named_in_every_message(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(GOOD)
    assert load(path) == parse(GOOD)
    path.write_text(GOOD.replace("mode: fast", "mode: nope"))
    with pytest.raises(InvalidInput, match=rf"^{path}: line 12: mode"):
        load(path)
    with pytest.raises(InvalidInput, match=r"^no job config at .*missing.yaml; pass the path of "
                       r"a YAML file such as configs/job.yaml$"):
        load(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInput, match=r"^cannot read job config "):
        load(tmp_path)  # a folder
    with pytest.raises(InvalidInput, match=r"holds more than 1,000,000 characters, more than a "
                       r"job config holds"):
        load("/dev/zero")  # endless: read no further than the limit


def test_a_file_is_read_with_the_same_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_TEST_DATA", "/lake")
    path = tmp_path / "job.yaml"
    path.write_text(MINIMAL.replace("/i", "'${FLOE_TEST_DATA}/i'"))
    assert load(path).source.path == "/lake/i"
    assert load(path, expand_env=False).source.path == "${FLOE_TEST_DATA}/i"
    path.write_text(MINIMAL.replace("/i", "i"))
    assert load(path, prepare=_rooted).source.path == "/root/i"


def test_the_dump_reads_back_equal_and_writes_no_aliases() -> None:
    cfg = parse(GOOD)
    text = dump_config_yaml(cfg)
    again = parse(text, expand_env=False)
    assert again == cfg and isinstance(again.end, str) and isinstance(again.start, datetime.date)
    assert text.startswith("name: nightly\nsource:\n")  # keys in field order
    day = datetime.date(2026, 1, 2)  # one object twice: PyYAML's own dumper anchors it
    shared = dump_config_yaml(JobConfig(name="a", source=Source(path="/i"), start=day, end=day))
    assert "start: 2026-01-02\nend: 2026-01-02\n" in shared and "&" not in shared
