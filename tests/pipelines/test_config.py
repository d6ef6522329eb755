"""Pipeline configs: what parses, and every refusal naming its YAML line and what is allowed."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipelines import ModelRef, PipelineConfig, load_config, parse_config
from pipelines.config import config_from_mapping, dump_config, parse_model_ref
from registry import ComputeConfig, InvalidInput

GOOD = """\
model: ML.PROD.CHURN@DEFAULT
function: predict
input:
  path: /data/customers
  filters:
    - {column: day, op: ">=", value: 2026-11-01}
    - {column: tag, op: "==", value: "2026-11-01"}
output:
  path: /data/scores
  partition_by: [region]
  mode: overwrite
compute:
  max_actors: 4
  num_cpus: 0.5
explain: true
"""


def test_a_full_config_parses_with_defaults_for_what_it_leaves_out() -> None:
    cfg = parse_config(GOOD)
    assert cfg.model_ref == ModelRef("ML", "PROD", "CHURN", "DEFAULT", is_alias=True)
    assert cfg.compute == ComputeConfig(max_actors=4, num_cpus=0.5)
    assert cfg.output.mode == "overwrite" and cfg.output.partition_by == ["region"]
    assert cfg.explain is True and cfg.passthrough is None and cfg.partition_column is None
    # YAML's own types: an unquoted date is a date, a quoted one stays text
    assert cfg.input.filters is not None
    assert cfg.input.filters[0].value == datetime.date(2026, 11, 1)
    assert cfg.input.filters[1].value == "2026-11-01"


def test_dump_config_round_trips_exactly() -> None:
    cfg = parse_config(GOOD)
    again = parse_config(dump_config(cfg), expand_env=False)
    assert again == cfg
    assert isinstance(again.input.filters[1].value, str)  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn@DEFAULT", ModelRef(None, None, "churn", "DEFAULT", is_alias=True)),
        ("churn/v3", ModelRef(None, None, "churn", "v3", is_alias=False)),
        ("PROD.churn@LAST", ModelRef(None, "PROD", "churn", "LAST", is_alias=True)),
        ("ML.PROD.churn@champion", ModelRef("ML", "PROD", "churn", "champion", is_alias=True)),
        ('PROD."my.model"/"v/1"', ModelRef(None, "PROD", '"my.model"', '"v/1"', is_alias=False)),
    ],
)
def test_model_references(text: str, expected: ModelRef) -> None:
    ref = parse_model_ref(text)
    assert ref == expected
    assert parse_model_ref(str(ref)) == ref


@pytest.mark.parametrize("text", ["churn", "churn@", "@DEFAULT", "a.b.c.d@x", "a@b@c", "a@b.c",
                                  "a/b@c", '"unclosed@x'])
def test_a_bad_model_reference_is_refused_with_the_forms_it_may_take(text: str) -> None:
    with pytest.raises(InvalidInput, match="NAME@ALIAS .* or NAME/VERSION"):
        parse_model_ref(text)


def test_unknown_keys_name_their_line_the_allowed_keys_and_a_close_match() -> None:
    text = GOOD.replace("  num_cpus: 0.5\n", "  num_cpus: 0.5\n  batchsize: 10\n")
    with pytest.raises(InvalidInput) as info:
        parse_config(text, source="configs/x.yaml")
    message = info.value.message
    assert message.startswith("configs/x.yaml: line 15: unknown key 'batchsize' in compute;")
    assert "allowed keys: min_actors, max_actors, batch_size, num_cpus, num_gpus" in message
    assert "did you mean 'batch_size'?" in message


def test_an_unknown_top_level_key_lists_the_config_keys() -> None:
    with pytest.raises(InvalidInput, match=r"line 15: unknown key 'explian' at the top level; "
                       r"allowed keys: model, function, input, output, compute"):
        parse_config(GOOD.replace("explain: true", "explian: true"))


def test_wrong_types_name_the_line_the_value_and_what_is_allowed() -> None:
    text = GOOD.replace("  max_actors: 4", "  max_actors: '4'").replace("num_cpus: 0.5", "num_gpus: -1")
    with pytest.raises(InvalidInput) as info:
        parse_config(text)
    message = info.value.message
    assert "line 13: compute.max_actors: Input should be a valid integer (got '4'; allowed: " \
           "an integer > 0)" in message
    assert "line 14: compute.num_gpus: Input should be greater than or equal to 0 (got -1; " \
           "allowed: a number >= 0)" in message


def test_a_bad_choice_lists_the_allowed_values() -> None:
    with pytest.raises(InvalidInput, match=r"line 11: output.mode: Input should be 'overwrite', "
                       r"'error_if_exists' or 'append' \(got 'replace'\)"):
        parse_config(GOOD.replace("mode: overwrite", "mode: replace"))


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = (GOOD.replace("explain: true", "explain: maybe")
            .replace("function: predict", "function: 3")
            .replace("  path: /data/scores\n", ""))
    with pytest.raises(InvalidInput) as info:
        parse_config(text)
    message = info.value.message
    lines = [int(part.split(":")[0]) for part in message.split("line ")[1:]]
    assert lines == sorted(lines) and len(lines) == 3
    assert "line 2: function: Input should be a valid string (got 3; allowed: a string or null)" \
        in message
    assert "output is missing required key 'path'" in message
    assert "explain: Input should be a valid boolean (got 'maybe'; allowed: true or false)" in message


def test_cross_field_checks_keep_their_own_message_and_line() -> None:
    text = GOOD.replace("  max_actors: 4", "  min_actors: 5\n  max_actors: 4")
    with pytest.raises(InvalidInput, match=r"line 12: compute: max_actors \(4\) must be greater "
                       r"than or equal to min_actors \(5\)"):
        parse_config(text)


def test_model_reference_errors_name_the_line() -> None:
    with pytest.raises(InvalidInput, match=r"line 1: model: model 'churn' is not a model "
                       "reference; write NAME@ALIAS"):
        parse_config(GOOD.replace("ML.PROD.CHURN@DEFAULT", "churn"))


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


def test_relative_local_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = parse_config(GOOD.replace("/data/customers", "data/c").replace("/data/scores",
                                                                         "s3://bucket/scores"))
    assert cfg.input.path == str(tmp_path / "data" / "c")
    assert cfg.output.path == "s3://bucket/scores"


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


def test_load_config_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD.replace("mode: overwrite", "mode: nope"))
    with pytest.raises(InvalidInput, match=rf"^{path}: line 11: output.mode"):
        load_config(path)
    with pytest.raises(InvalidInput, match="no pipeline config at .*; pass the path of a YAML"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInput, match=r"holds more than 1,000,000 characters"):
        load_config("/dev/zero")  # endless: read no further than the limit


def test_a_mapping_validates_the_same_way_without_lines() -> None:
    cfg = config_from_mapping({"model": "a@b", "input": {"path": "/i"}, "output": {"path": "/o"}})
    assert isinstance(cfg, PipelineConfig) and cfg.output.mode == "error_if_exists"
    with pytest.raises(InvalidInput, match=r"^<config>: compute.num_cpus: Input should be a "
                       r"valid number"):
        config_from_mapping({"model": "a@b", "input": {"path": "/i"}, "output": {"path": "/o"},
                             "compute": {"num_cpus": "1"}})
