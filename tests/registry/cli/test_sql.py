"""``floe sql`` with model statements: a table, ``--json`` with the listings' JSON columns
decoded, a status line for a change, GET into a local directory, and a bad statement as one
``error:`` line on stderr with a non-zero exit (run in process through ``registry.cli.main``,
as tests/registry/cli/test_access.py does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry import Registry
from tests.registry.cli.conftest import Shell
from tests.registry.cli.test_app import log_iris


def test_floe_sql_prints_model_statements(reg: Registry, sh: Shell, tmp_path: Path) -> None:
    log_iris(reg, "v1", "v2")
    table = sh.ok("sql", "SHOW MODELS LIKE 'IR%'")
    assert table.splitlines()[0] == "SHOW MODELS LIKE 'IR%'"  # the statement is the title
    assert "IRIS" in table and "V1, V2" in table  # the versions list, as text
    listed = sh.json("sql", "SHOW MODELS")
    expected = json.loads(reg.show_models().to_json(orient="records", date_format="iso"))
    assert [m["name"] for m in listed] == [m["name"] for m in expected] == ["IRIS"]
    assert listed[0]["versions"] == ["V1", "V2"] and listed[0]["aliases"] == {}  # decoded
    versions = sh.json("sql", "SHOW VERSIONS IN MODEL iris")
    assert versions[0]["metadata"]["task"] == "TABULAR_MULTI_CLASSIFICATION"
    assert sh.json("sql", "SHOW FUNCTIONS LIKE 'predict' IN MODEL iris")[0]["arguments"][0] == {
        "name": "sepal_length", "type": "DOUBLE"}

    assert sh.ok("sql", "ALTER MODEL iris SET COMMENT = 'from the shell'") == (
        "Statement executed successfully.\n")
    assert reg.get_model("iris").comment == "from the shell"
    assert sh.ok("sql", "DROP MODEL IF EXISTS nope") == "model ML.REGISTRY.NOPE did not exist\n"

    got = sh.json("sql", f"GET 'floe://model/iris/versions/v2/MANIFEST.yml' 'file://{tmp_path}'")
    assert [(g["file"], g["status"]) for g in got] == [
        (str(tmp_path / "MANIFEST.yml"), "DOWNLOADED")]
    listed_files = sh.json("sql", "LIST 'floe://model/iris/versions/v2/'")
    manifest = next(f for f in listed_files if f["name"] == "versions/V2/MANIFEST.yml")
    assert manifest["size"] == (tmp_path / "MANIFEST.yml").stat().st_size


@pytest.mark.parametrize(
    ("statement", "line"),
    [
        ("SHOW MODLES", "error: syntax error at 'MODLES' (position 6): expected GRANTS, ROLES, "
         "USERS, MODELS, VERSIONS or FUNCTIONS"),
        ("ALTER MODEL iris SET COMMENT = 'open", "error: unterminated string at \"'open\" "
         "(position 32): expected the comment; its closing single quote is missing (write '' "
         "for a quote inside it)"),
        ("ALTER MODEL nope UNSET COMMENT", "error: at 'nope' (position 13): ML.REGISTRY has no "
         "model NOPE; list them: floe models list --database ML --schema REGISTRY"),
        ("LIST 'floe://model/iris/versions/v1/../v1/'", "error: at \"'floe://model/iris/versions"
         "/v1/../v1/'\" (position 6): path in 'floe://model/iris/versions/v1/../v1/' '../v1/' "
         "leaves its version ('..'); remove the '..' parts"),
    ],
)  # fmt: skip
def test_a_bad_statement_is_one_error_line(reg: Registry, sh: Shell, statement: str,
                                           line: str) -> None:
    log_iris(reg, "v1")
    assert sh.error("sql", statement) == line
