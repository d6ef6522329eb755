"""Pipeline configs: what parses, and every refusal naming its YAML line and what is allowed."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipelines import PipelineConfig, load_config, parse_config
from pipelines.config import config_from_mapping, dump_config
from registry import ComputeConfig, InvalidInput, ModelRef
from tests.pipelines.pipeline_data import GOOD


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


def test_unknown_keys_name_their_line_the_allowed_keys_and_a_close_match() -> None:
    text = GOOD.replace("  num_cpus: 0.5\n", "  num_cpus: 0.5\n  batchsize: 10\n")
    with pytest.raises(InvalidInput) as info:
        parse_config(text, source="configs/x.yaml")
    message = info.value.message
    assert message.startswith("configs/x.yaml: line 15: unknown key 'batchsize' in compute;")
    assert "allowed keys: strategy, min_actors, max_actors, batch_size, num_cpus, num_gpus" in message
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


def test_relative_local_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = parse_config(GOOD.replace("/data/customers", "data/c").replace("/data/scores",
                                                                         "s3://bucket/scores"))
    assert cfg.input.path == str(tmp_path / "data" / "c")
    assert cfg.output.path == "s3://bucket/scores"


def test_load_config_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD.replace("mode: overwrite", "mode: nope"))
    with pytest.raises(InvalidInput, match=rf"^{path}: line 11: output.mode"):
        load_config(path)
    with pytest.raises(InvalidInput, match="no pipeline config at .*; pass the path of a YAML"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInput, match=r"holds more than 1,000,000 characters"):
        load_config("/dev/zero")  # endless: read no further than the limit


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"^p.yaml is empty; a pipeline config is a YAML mapping$"),
        ("- a\n- b\n", r"^p.yaml: a pipeline config is a mapping of keys \(model, input, "
         r"output, \.\.\.\), not a list; see configs/score.yaml$"),
        ("model: " + "x" * 1_000_001, r"more than a pipeline config holds"),
    ],
)
def test_what_is_not_a_config_is_refused_as_a_pipeline_config(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_config(text, source="p.yaml")


def test_a_mapping_validates_the_same_way_without_lines() -> None:
    cfg = config_from_mapping({"model": "a@b", "input": {"path": "/i"}, "output": {"path": "/o"}})
    assert isinstance(cfg, PipelineConfig) and cfg.output.mode == "error_if_exists"
    with pytest.raises(InvalidInput, match=r"^<config>: compute.num_cpus: Input should be a "
                       r"valid number"):
        config_from_mapping({"model": "a@b", "input": {"path": "/i"}, "output": {"path": "/o"},
                             "compute": {"num_cpus": "1"}})
