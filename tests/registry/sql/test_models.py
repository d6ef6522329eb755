"""The model statement grammar: every form to its dataclass, the ways Snowflake writes ``=``
and names, and every error pointing at the offending word with its position and a caret."""

from __future__ import annotations

import typing

import pytest

from registry.identifiers import QualifiedName
from registry.sql import models
from registry.sql.cursor import StatementError
from registry.sql.models import (
    AlterModel,
    DescribeModel,
    DropModel,
    DropVersion,
    GetFiles,
    ListFiles,
    ModelStatement,
    RenameModel,
    SetAlias,
    SetComment,
    SetDefaultVersion,
    SetTag,
    SetVersionComment,
    SetVersionMetadata,
    ShowFunctions,
    ShowModels,
    ShowVersions,
    UnsetAlias,
    UnsetTag,
)
from registry.sql.statements import parse_sql

M = QualifiedName("M")


def alter(change: models.ModelChange, *, model: QualifiedName = M,
          if_exists: bool = False) -> AlterModel:
    return AlterModel(model, change, if_exists)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SHOW MODELS", ShowModels()),
        ("show models like '%churn%';", ShowModels(like="%churn%")),
        ("SHOW MODELS LIKE'c_'", ShowModels(like="c_")),
        ("SHOW MODELS IN DATABASE ml", ShowModels(database="ML")),
        ("SHOW MODELS IN SCHEMA prod", ShowModels(schema="PROD")),
        ('SHOW MODELS LIKE \'a\'\'b\' IN SCHEMA ml."Prod"',
         ShowModels(like="a'b", database="ML", schema="Prod")),
        ("SHOW VERSIONS IN MODEL m", ShowVersions(M)),
        ("SHOW VERSIONS LIKE 'V%' IN MODEL ml.prod.m",
         ShowVersions(QualifiedName("M", "ML", "PROD"), like="V%")),
        ("SHOW FUNCTIONS IN MODEL m", ShowFunctions(M)),
        ("show functions like 'pred%' in model s.m version v2",
         ShowFunctions(QualifiedName("M", schema="S"), "V2", like="pred%")),
        ("SHOW FUNCTIONS IN MODEL m VERSION champion", ShowFunctions(M, "CHAMPION")),
        ("DESCRIBE MODEL m", DescribeModel(M)),
        ('DESC MODEL "My Model"', DescribeModel(QualifiedName("My Model"))),
        ("ALTER MODEL m SET COMMENT = 'churn; by region'",
         alter(SetComment("churn; by region"))),
        ("ALTER MODEL IF EXISTS m SET COMMENT='it''s'", alter(SetComment("it's"), if_exists=True)),
        ("ALTER MODEL m SET COMMENT= ''", alter(SetComment(""))),
        ("alter model m unset comment", alter(SetComment(None))),
        ("ALTER MODEL m RENAME TO n", alter(RenameModel(QualifiedName("N")))),
        ("ALTER MODEL ml.a.m RENAME TO ml.b.\"n 2\"",
         alter(RenameModel(QualifiedName("n 2", "ML", "B")), model=QualifiedName("M", "ML", "A"))),
        ("ALTER MODEL m SET DEFAULT_VERSION = v2", alter(SetDefaultVersion("V2"))),
        ("ALTER MODEL m SET DEFAULT_VERSION='v2'", alter(SetDefaultVersion("V2"))),
        ("ALTER MODEL m SET DEFAULT_VERSION = '\"v2\"'", alter(SetDefaultVersion("v2"))),
        ("ALTER MODEL m VERSION v1 SET ALIAS = champion", alter(SetAlias("V1", "CHAMPION"))),
        ("ALTER MODEL m VERSION v1 SET ALIAS='champion'", alter(SetAlias("V1", "CHAMPION"))),
        ("ALTER MODEL m VERSION champion UNSET ALIAS", alter(UnsetAlias("CHAMPION"))),
        ("ALTER MODEL m DROP VERSION \"v1\"", alter(DropVersion("v1"))),
        ("ALTER MODEL m MODIFY VERSION v1 SET COMMENT = 'better'",
         alter(SetVersionComment("V1", "better"))),
        ("ALTER MODEL m MODIFY VERSION v1 UNSET COMMENT", alter(SetVersionComment("V1", None))),
        ("""ALTER MODEL m MODIFY VERSION last SET METADATA = '{"metrics": {"acc": 0.9, """
         """"cm": [[1, 0], [0, 1]], "note": "it''s"}}'""",
         alter(SetVersionMetadata("LAST", {"acc": 0.9, "cm": [[1, 0], [0, 1]], "note": "it's"}))),
        ("""ALTER MODEL m MODIFY VERSION v1 SET METADATA='{"metrics": {}}'""",
         alter(SetVersionMetadata("V1", {}))),
        ("ALTER MODEL m SET TAG stage = 'prod'", alter(SetTag("STAGE", "prod"))),
        ("ALTER MODEL m SET TAG stage='prod'", alter(SetTag("STAGE", "prod"))),
        ("ALTER MODEL m SET TAG \"a=b\"= 'x y'", alter(SetTag("a=b", "x y"))),
        ("ALTER MODEL m UNSET TAG stage", alter(UnsetTag("STAGE"))),
        ("DROP MODEL m", DropModel(M)),
        ("drop model if exists ml.prod.m;", DropModel(QualifiedName("M", "ML", "PROD"), True)),
        ("LIST 'floe://model/m/versions/v1/'", ListFiles("floe://model/m/versions/v1/")),
        ("ls floe://model/m/versions/v1/model", ListFiles("floe://model/m/versions/v1/model")),
        ("GET 'floe://model/m/versions/v1/MANIFEST.yml' 'file:///tmp/my models'",
         GetFiles("floe://model/m/versions/v1/MANIFEST.yml", "/tmp/my models")),
        ("get floe://model/m/versions/v1/ file://~/out;",
         GetFiles("floe://model/m/versions/v1/", "~/out")),
        ("\n  ALTER\tMODEL m\n  SET   TAG  stage\n = 'prod' ;\n", alter(SetTag("STAGE", "prod"))),
    ],
)  # fmt: skip
def test_every_form_parses_to_its_dataclass(text: str, expected: ModelStatement) -> None:
    assert parse_sql(text) == expected


def test_statements_are_frozen_and_remember_where_their_names_are() -> None:
    statement = parse_sql("ALTER MODEL  ml.s.m VERSION v1 SET ALIAS = champion")
    assert isinstance(statement, AlterModel)
    with pytest.raises(AttributeError):
        statement.if_exists = True  # type: ignore[misc]
    spots = statement.spots
    assert {k: (s.start, s.where) for k, s in spots.items()} == {
        "model": (13, "'ml.s.m'"), "version": (28, "'v1'"), "alias": (43, "'champion'"),
    }
    assert spots["alias"].point("taken") == (
        "at 'champion' (position 44): taken\n"
        "ALTER MODEL  ml.s.m VERSION v1 SET ALIAS = champion\n" + " " * 43 + "^"
    )
    assert set(models.MODEL_STATEMENTS) == set(typing.get_args(ModelStatement))
    assert all(hasattr(models, name) for name in models.__all__)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("SHOW MODEL", r"at 'MODEL' \(position 6\): expected GRANTS, ROLES, USERS, MODELS, "
         r"VERSIONS or FUNCTIONS\n"),
        ("SHOW MODELS LIKE churn", r"at 'churn' \(position 18\): expected a pattern in single "
         r"quotes, such as 'text'\n"),
        ("SHOW MODELS IN ACCOUNT", r"at 'ACCOUNT' \(position 16\): expected DATABASE or SCHEMA"),
        ("SHOW MODELS IN SCHEMA a.b.c", r"at 'a.b.c' \(position 23\): expected a schema name as "
         r"SCHEMA or DATABASE.SCHEMA, not DATABASE.SCHEMA.NAME"),
        ("SHOW MODELS IN DATABASE", r"the end of the statement \(position 24\): expected a "
         r"database name\n"),
        ("SHOW VERSIONS OF MODEL m", r"at 'OF' \(position 15\): expected IN\n"),
        ("SHOW VERSIONS IN m", r"at 'm' \(position 18\): expected MODEL\n"),
        ("SHOW FUNCTIONS IN MODEL m VERSIONS v", r"at 'VERSIONS' \(position 27\): expected the "
         r"end of the statement"),
        ("DESCRIBE MODELS m", r"at 'MODELS' \(position 10\): expected MODEL\n"),
        ("DROP MODELS m", r"at 'MODELS' \(position 6\): expected ROLE, USER or MODEL\n"),
        ("DROP MODEL IF EXIST m", r"at 'EXIST' \(position 15\): expected EXISTS\n"),
        ("ALTER ROLE r", r"at 'ROLE' \(position 7\): expected MODEL\n"),
        ("ALTER MODEL m SET COMENT = 'x'", r"at 'COMENT' \(position 19\): expected COMMENT, "
         r"DEFAULT_VERSION or TAG\n"),
        ("ALTER MODEL m SET COMMENT 'x'", r"at \"'x'\" \(position 27\): expected =\n"),
        ("ALTER MODEL m SET COMMENT = x", r"at 'x' \(position 29\): expected the comment in "
         r"single quotes, such as 'text'\n"),
        ("ALTER MODEL m SET COMMENT = 'x' 'y'", r"at \"'y'\" \(position 33\): expected the end"),
        ("ALTER MODEL m SET COMMENT = 'a'b'", r"at \"'a'b'\" \(position 29\): expected the "
         r"comment in single quotes; \"b'\" follows its closing quote \(write '' for a quote"),
        ("ALTER MODEL m UNSET TAGS t", r"at 'TAGS' \(position 21\): expected COMMENT or TAG\n"),
        ("ALTER MODEL m RENAME n", r"at 'n' \(position 22\): expected TO\n"),
        ("ALTER MODEL m VERSION v1 SET ALIAS", r"the end of the statement \(position 35\): "
         r"expected =\n"),
        ("ALTER MODEL m VERSION v1 DROP ALIAS", r"at 'DROP' \(position 26\): expected SET or "
         r"UNSET\n"),
        ("ALTER MODEL m MODIFY v1 SET COMMENT = 'x'", r"at 'v1' \(position 22\): expected "
         r"VERSION\n"),
        ("ALTER MODEL m MODIFY VERSION v1 SET ALIAS = a", r"at 'ALIAS' \(position 37\): expected "
         r"COMMENT or METADATA\n"),
        ("ALTER MODEL m SET TAG a = 'x', b = 'y'", r"at \"'x',\" \(position 27\): expected the "
         r"tag's value in single quotes; ',' follows its closing quote"),
        ("ALTER MODEL m SET DEFAULT_VERSION = v1 COMMENT = 'x'", r"at 'COMMENT' \(position 40\): "
         r"expected the end of the statement\n"),
        ("ALTER MODEL m", r"the end of the statement \(position 14\): expected SET, UNSET, "
         r"RENAME, VERSION, DROP or MODIFY\n"),
        ("LIST", r"the end of the statement \(position 5\): expected a floe:// URL in single "
         r"quotes\n"),
        ("GET 'floe://model/m/versions/v/'", r"the end of the statement \(position 33\): "
         r"expected the local directory as a file:// URL in single quotes\n"),
        ("GET 'floe://model/m/versions/v/' '/tmp/out'", r"at \"'/tmp/out'\" \(position 34\): "
         r"expected the local directory as a file:// URL, such as 'file:///tmp/model'\n"),
        ("GET 'floe://model/m/versions/v/' file://", r"at 'file://' \(position 34\): expected "
         r"the local directory as a file:// URL"),
        ("LIST 'floe://model/m/versions/v/' 'x'", r"at \"'x'\" \(position 35\): expected the end"),
        # keywords are ASCII: a dotless i does not upper-case into LIST
        ("L\u0131ST 'floe://model/m/versions/v/'", r"at 'L\u0131ST' \(position 1\): expected one "
         r"of CREATE ROLE"),
    ],
)  # fmt: skip
def test_a_syntax_error_points_at_the_word(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match) as caught:
        parse_sql(text)
    message = str(caught.value)
    assert message.startswith("syntax error at ") and message.count("\n") == 2
    assert message.endswith("^")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ALTER MODEL m SET COMMENT = 'unterminated", r"^unterminated string at \"'unterminated\" "
         r"\(position 29\): expected the comment; its closing single quote is missing"),
        ("SHOW MODELS LIKE 'x", r"^unterminated string at \"'x\" \(position 18\)"),
        ("ALTER MODEL my-model UNSET COMMENT", r"^invalid name at 'my-model' \(position 13\): "
         r"expected a model name; invalid model name"),
        ("ALTER MODEL m VERSION v1 SET ALIAS = '1x'", r"^invalid name at \"'1x'\" "
         r"\(position 38\): expected an alias name; invalid alias name '1x'"),
        ("SHOW FUNCTIONS IN MODEL m VERSION 9", r"^invalid name at '9' \(position 35\): expected "
         r"a version name or alias; invalid version name '9'"),
        ("ALTER MODEL m RENAME TO a.b.c.d", r"^invalid name at 'a.b.c.d' \(position 25\)"),
        ("""ALTER MODEL m MODIFY VERSION v SET METADATA = '{"metrics": [1]}'""",
         r"^invalid metadata at .* \(position 47\): expected a JSON object such as "
         r"'\{\"metrics\": \{\"accuracy\": 0.93\}\}': the metadata holds \"metrics\" only\n"),
        ("""ALTER MODEL m MODIFY VERSION v SET METADATA = '{"metrics": {}, "task": "x"}'""",
         r"holds \"metrics\" only \(not 'task': a version's task and framework are fixed when "
         r"it is logged\)\n"),
        ("ALTER MODEL m MODIFY VERSION v SET METADATA = '{metrics}'",
         r"^invalid metadata at \"'\{metrics\}'\" \(position 47\): the metadata is not JSON "
         r"\(Expecting property name"),
        ("ALTER MODEL m MODIFY VERSION v SET METADATA = '" + "[" * 100_000 + "'",
         r"^invalid metadata at .* \(position 47\): the metadata nests too deeply to read"),
    ],
)  # fmt: skip
def test_a_bad_string_name_or_json_is_named_at_its_word(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match) as caught:
        parse_sql(text)
    assert str(caught.value).count("\n") == 2
