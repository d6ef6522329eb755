"""``parse_sql``: one entry for both grammars, chosen by the statement's first words, each
statement parsed as its own grammar parses it, and errors that list both grammars' words."""

from __future__ import annotations

import pytest

from registry.access.statements import parse_statement
from registry.sql.cursor import StatementError
from registry.sql.models import ShowModels
from registry.sql.statements import is_model_statement, parse_sql

ACCESS = [
    "CREATE ROLE analyst", "drop role if exists analyst;", "CREATE USER ann DEFAULT_ROLE=r",
    "GRANT USAGE ON MODEL ml.prod.m TO ROLE r", "REVOKE ROLE a FROM USER b",
    "SHOW GRANTS ON MODEL m", "SHOW ROLES", "SHOW USERS",
]


@pytest.mark.parametrize("text", ACCESS)
def test_an_access_statement_parses_as_the_access_grammar_parses_it(text: str) -> None:
    parsed = parse_sql(text)
    assert parsed == parse_statement(text)
    assert not is_model_statement(parsed)


def test_a_model_statement_is_one_and_the_access_grammar_refuses_it() -> None:
    assert is_model_statement(parse_sql("SHOW MODELS"))
    assert parse_sql("show models") == ShowModels()
    # the access grammar alone (the server's /sql) does not know it
    with pytest.raises(StatementError, match=r"at 'MODELS' \(position 6\): expected GRANTS, "
                       r"ROLES or USERS\n"):
        parse_statement("SHOW MODELS")


@pytest.mark.parametrize("text", ["", " \n ", ";", "SELECT 1", "UPDATE m SET x = 1"])
def test_an_empty_statement_or_unknown_verb_lists_every_statement(text: str) -> None:
    with pytest.raises(StatementError, match=r"\(position 1\): expected one of CREATE ROLE, "
                       r"DROP ROLE, .*, SHOW USERS, SHOW MODELS, SHOW VERSIONS, SHOW FUNCTIONS, "
                       r"DESCRIBE MODEL, ALTER MODEL, DROP MODEL, LIST or GET\n"):
        parse_sql(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("SHOW", r"the end of the statement \(position 5\): expected GRANTS, ROLES, USERS, "
         r"MODELS, VERSIONS or FUNCTIONS\n"),
        ("DROP ROLL r", r"at 'ROLL' \(position 6\): expected ROLE, USER or MODEL\n"),
        # the grammar is chosen, then its own errors follow
        ("DROP MODEL IF NOT EXISTS m", r"at 'NOT' \(position 15\): expected EXISTS\n"),
        ("SHOW GRANTS OF ROLE r", r"at 'OF' \(position 13\): expected ON or TO\n"),
    ],
)
def test_the_shared_verbs_list_the_words_of_both_grammars(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_sql(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a quoted name or string holds spaces, ';', '=' and the other quote
        ("ALTER MODEL \"a; b\" SET COMMENT = 'x; \"y\" = z'", ("a; b", 'x; "y" = z')),
        ("ALTER MODEL m SET COMMENT = ''''", ("M", "'")),
        ("ALTER MODEL m SET COMMENT = 'line\nbreak\\n'", ("M", "line\nbreak\\n")),
    ],
)
def test_words_keep_quoted_text_whole(text: str, expected: tuple[str, str]) -> None:
    parsed = parse_sql(text)
    assert (parsed.model.name, parsed.change.comment) == expected  # type: ignore[union-attr]


def test_a_statement_that_is_not_text_is_refused() -> None:
    with pytest.raises(StatementError, match="a statement must be a string, not int"):
        parse_sql(1)  # type: ignore[arg-type]
