"""The access-control statement parser: every form to its dataclass, and every error pointing
at the offending word with its position, what was expected, and a caret under it."""

from __future__ import annotations

import re
import typing

import pytest

from registry.access import statements
from registry.access.statements import (
    CreateRole,
    CreateUser,
    DropRole,
    DropUser,
    GrantPrivilege,
    GrantRole,
    GrantRoleToUser,
    ModelTarget,
    RevokePrivilege,
    RevokeRole,
    RevokeRoleFromUser,
    SchemaModelsTarget,
    SchemaTarget,
    ShowGrantsOn,
    ShowGrantsTo,
    ShowGrantsToUser,
    ShowRoles,
    ShowUsers,
    Statement,
    StatementError,
    parse_statement,
)
from registry.errors import InvalidIdentifier, InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CREATE ROLE analyst", CreateRole("ANALYST")),
        ("create role if not exists analyst", CreateRole("ANALYST", if_not_exists=True)),
        ('CREATE ROLE "Data Team"', CreateRole("Data Team")),
        ("DROP ROLE analyst;", DropRole("ANALYST")),
        ("Drop Role If Exists analyst", DropRole("ANALYST", if_exists=True)),
        ("GRANT ROLE a TO ROLE b", GrantRole("A", to_role="B")),
        ('grant role "a" to role "Say ""hi"""', GrantRole("a", to_role='Say "hi"')),
        ("REVOKE ROLE a FROM ROLE b", RevokeRole("A", from_role="B")),
        # a quoted keyword is a name, not a keyword
        ('GRANT ROLE "IF" TO ROLE "ROLE"', GrantRole("IF", to_role="ROLE")),
        (
            "GRANT USAGE ON MODEL m TO ROLE analyst",
            GrantPrivilege("USAGE", ModelTarget(None, None, "M"), "ANALYST"),
        ),
        (
            "grant read on model s.m to role analyst",
            GrantPrivilege("READ", ModelTarget(None, "S", "M"), "ANALYST"),
        ),
        (
            'GRANT OWNERSHIP ON MODEL ml."Odd.Schema"."My Model" TO ROLE "Owners"',
            GrantPrivilege("OWNERSHIP", ModelTarget("ML", "Odd.Schema", "My Model"), "Owners"),
        ),
        (
            "GRANT USAGE ON ALL MODELS IN SCHEMA ml.prod TO ROLE r",
            GrantPrivilege("USAGE", SchemaModelsTarget("ML", "PROD", "ALL"), "R"),
        ),
        (
            "GRANT OWNERSHIP ON ALL MODELS IN SCHEMA prod TO ROLE r",
            GrantPrivilege("OWNERSHIP", SchemaModelsTarget(None, "PROD", "ALL"), "R"),
        ),
        (
            "grant read on future models in schema ml.prod to role r",
            GrantPrivilege("READ", SchemaModelsTarget("ML", "PROD", "FUTURE"), "R"),
        ),
        (
            "GRANT CREATE MODEL ON SCHEMA ml.prod TO ROLE r",
            GrantPrivilege("CREATE MODEL", SchemaTarget("ML", "PROD"), "R"),
        ),
        (
            "REVOKE USAGE ON MODEL ml.prod.m FROM ROLE r",
            RevokePrivilege("USAGE", ModelTarget("ML", "PROD", "M"), "R"),
        ),
        (
            "REVOKE USAGE ON FUTURE MODELS IN SCHEMA prod FROM ROLE r",
            RevokePrivilege("USAGE", SchemaModelsTarget(None, "PROD", "FUTURE"), "R"),
        ),
        (
            "revoke create model on schema prod from role r",
            RevokePrivilege("CREATE MODEL", SchemaTarget(None, "PROD"), "R"),
        ),
        ("SHOW GRANTS ON MODEL ml.prod.m", ShowGrantsOn(ModelTarget("ML", "PROD", "M"))),
        ("show grants to role analyst", ShowGrantsTo("ANALYST")),
        ("SHOW ROLES", ShowRoles()),
        ("  \n\tSHOW\n   ROLES \t ;  \n", ShowRoles()),
        (
            "GRANT\n  USAGE\n  ON MODEL\tm\n  TO ROLE r ;",
            GrantPrivilege("USAGE", ModelTarget(None, None, "M"), "R"),
        ),
    ],
)
def test_every_form_parses_to_its_dataclass(text: str, expected: Statement) -> None:
    assert parse_statement(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CREATE USER ann", CreateUser("ANN")),
        ("create user if not exists ann;", CreateUser("ANN", if_not_exists=True)),
        ('CREATE USER "Ann Lee"', CreateUser("Ann Lee")),
        ('CREATE USER "USER"', CreateUser("USER")),
        ("CREATE USER ann DEFAULT_ROLE = analyst", CreateUser("ANN", default_role="ANALYST")),
        (
            'Create User If Not Exists "ann" Default_Role = "Data ""Team"""',
            CreateUser("ann", default_role='Data "Team"', if_not_exists=True),
        ),
        # the '=' with or without spaces around it; a quoted name may hold one
        ("CREATE USER ann DEFAULT_ROLE=analyst", CreateUser("ANN", default_role="ANALYST")),
        ("CREATE USER ann default_role= analyst", CreateUser("ANN", default_role="ANALYST")),
        ("CREATE USER ann DEFAULT_ROLE =analyst;", CreateUser("ANN", default_role="ANALYST")),
        ('CREATE USER ann DEFAULT_ROLE="a=b"', CreateUser("ANN", default_role="a=b")),
        (
            "CREATE USER\n  ann\n  DEFAULT_ROLE\t=\n  analyst ;",
            CreateUser("ANN", default_role="ANALYST"),
        ),
        ("DROP USER ann", DropUser("ANN")),
        ("drop user if exists ann;", DropUser("ANN", if_exists=True)),
        ('DROP USER "Ann Lee"', DropUser("Ann Lee")),
        ("GRANT ROLE analyst TO USER ann", GrantRoleToUser("ANALYST", user="ANN")),
        ('grant role "Data Team" to user "ann"', GrantRoleToUser("Data Team", user="ann")),
        ("REVOKE ROLE analyst FROM USER ann", RevokeRoleFromUser("ANALYST", user="ANN")),
        ("revoke role a from user b;", RevokeRoleFromUser("A", user="B")),
        # a quoted keyword is a name, not a keyword
        ('GRANT ROLE "USER" TO USER "ROLE"', GrantRoleToUser("USER", user="ROLE")),
        ('GRANT ROLE "USER" TO ROLE "USER"', GrantRole("USER", to_role="USER")),
        ("SHOW USERS", ShowUsers()),
        ("show users;", ShowUsers()),
        ("SHOW GRANTS TO USER ann", ShowGrantsToUser("ANN")),
        ('show grants to user "Ann Lee"', ShowGrantsToUser("Ann Lee")),
    ],
)
def test_every_user_form_parses_to_its_dataclass(text: str, expected: Statement) -> None:
    assert parse_statement(text) == expected


def test_statements_are_frozen_and_the_api_is_listed() -> None:
    statement = parse_statement("CREATE ROLE r")
    assert isinstance(statement, CreateRole)
    with pytest.raises(AttributeError):
        statement.role = "OTHER"  # type: ignore[misc]
    assert sorted(statements.__all__) == [
        "CreateRole", "CreateUser", "DropRole", "DropUser", "GRAMMAR", "GrantPrivilege",
        "GrantRole", "GrantRoleToUser", "ModelTarget", "Privilege", "RevokePrivilege",
        "RevokeRole", "RevokeRoleFromUser", "SchemaModelsTarget", "SchemaTarget", "Scope",
        "ShowGrantsOn", "ShowGrantsTo", "ShowGrantsToUser", "ShowRoles", "ShowUsers",
        "Statement", "StatementError", "Target", "parse_statement",
    ]  # fmt: skip
    assert all(hasattr(statements, name) for name in statements.__all__)
    assert issubclass(StatementError, InvalidInput)


def test_the_user_statements_are_frozen_and_in_the_statement_union() -> None:
    user = parse_statement("CREATE USER ann DEFAULT_ROLE = analyst")
    assert isinstance(user, CreateUser)
    with pytest.raises(AttributeError):
        user.default_role = "OTHER"  # type: ignore[misc]
    assert CreateUser("ANN") == CreateUser("ANN", default_role=None, if_not_exists=False)
    assert DropUser("ANN") == DropUser("ANN", if_exists=False)
    union = set(typing.get_args(Statement))
    assert {
        CreateUser, DropUser, GrantRoleToUser, RevokeRoleFromUser, ShowUsers, ShowGrantsToUser
    } <= union  # fmt: skip


def test_the_message_quotes_the_word_and_puts_a_caret_under_it() -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement("GRANT USAGE ON MODEL ml.r.m TOO ROLE analyst")
    assert str(caught.value) == (
        "syntax error at 'TOO' (position 29): expected TO\n"
        "GRANT USAGE ON MODEL ml.r.m TOO ROLE analyst\n"
        "                            ^"
    )


def test_a_multi_line_statement_shows_the_offending_line() -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement("SHOW GRANTS\n  ON\tMODL m")
    assert str(caught.value).endswith(
        "at 'MODL' (position 18): expected MODEL\n  ON\tMODL m\n    \t^"
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CREAT ROLE r", r"at 'CREAT' \(position 1\): expected one of CREATE ROLE, DROP ROLE"),
        ("CREATE ROLL r", r"at 'ROLL' \(position 8\): expected ROLE or USER\n"),
        ("DROP USERS u", r"at 'USERS' \(position 6\): expected ROLE or USER\n"),
        ("CREATE ROLE IF EXISTS r", r"at 'EXISTS' \(position 16\): expected NOT"),
        ("CREATE ROLE IF NOT EXIST r", r"at 'EXIST' \(position 20\): expected EXISTS"),
        ("DROP ROLE IF NOT EXISTS r", r"at 'NOT' \(position 14\): expected EXISTS"),
        ("GRANT ROLES a TO ROLE b", r"at 'ROLES' \(position 7\): expected ROLE, USAGE, READ"),
        ("GRANT ROLE a INTO ROLE b", r"at 'INTO' \(position 14\): expected TO\n"),
        ("GRANT ROLE a TO ROL b", r"at 'ROL' \(position 17\): expected ROLE or USER\n"),
        ("GRANT ROLE a TO USERS b", r"at 'USERS' \(position 17\): expected ROLE or USER\n"),
        ("REVOKE ROLE a TO USER b", r"at 'TO' \(position 15\): expected FROM\n"),
        ("GRANT USER a TO ROLE b", r"at 'USER' \(position 7\): expected ROLE, USAGE, READ"),
        ("REVOKE ROLE a TO ROLE b", r"at 'TO' \(position 15\): expected FROM\n"),
        ("GRANT USAGES ON MODEL m TO ROLE r", r"at 'USAGES' \(position 7\): expected ROLE, USAGE"),
        (
            "GRANT CREATE MODELS ON SCHEMA s TO ROLE r",
            r"at 'MODELS' \(position 14\): expected MODEL\n",
        ),
        ("GRANT USAGE IN MODEL m TO ROLE r", r"at 'IN' \(position 13\): expected ON\n"),
        (
            "GRANT USAGE ON TABLE m TO ROLE r",
            r"at 'TABLE' \(position 16\): expected MODEL, ALL MODELS, FUTURE MODELS or SCHEMA",
        ),
        (
            "GRANT USAGE ON ALL MODEL IN SCHEMA s TO ROLE r",
            r"at 'MODEL' \(position 20\): expected MODELS\n",
        ),
        (
            "GRANT USAGE ON ALL MODELS ON SCHEMA s TO ROLE r",
            r"at 'ON' \(position 27\): expected IN\n",
        ),
        (
            "GRANT USAGE ON FUTURE MODELS IN DATABASE d TO ROLE r",
            r"at 'DATABASE' \(position 33\): expected SCHEMA\n",
        ),
        ("GRANT USAGE ON MODEL m TOO ROLE r", r"at 'TOO' \(position 24\): expected TO\n"),
        ("REVOKE USAGE ON MODEL m TO ROLE r", r"at 'TO' \(position 25\): expected FROM\n"),
        ("SHOW GRANT ON MODEL m", r"at 'GRANT' \(position 6\): expected GRANTS, ROLES or USERS"),
        ("SHOW USER", r"at 'USER' \(position 6\): expected GRANTS, ROLES or USERS\n"),
        ("SHOW GRANTS OF ROLE r", r"at 'OF' \(position 13\): expected ON or TO"),
        ("SHOW GRANTS ON SCHEMA s", r"at 'SCHEMA' \(position 16\): expected MODEL\n"),
        ("SHOW GRANTS TO USERS u", r"at 'USERS' \(position 16\): expected ROLE or USER\n"),
        # keywords are ASCII: a dotless i does not upper-case into EXISTS
        ("DROP ROLE IF EX\u0131STS r", r"at 'EX\u0131STS' \(position 14\): expected EXISTS"),
    ],
)
def test_a_misspelt_keyword_is_named_with_its_position(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_statement(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CREATE ROLE", r"at the end of the statement \(position 12\): expected a role name\n"),
        ("DROP ROLE IF  ", r"at the end of the statement \(position 13\): expected EXISTS\n"),
        ("GRANT ROLE a TO",
         r"at the end of the statement \(position 16\): expected ROLE or USER\n"),
        ("REVOKE ROLE a FROM", r"the end of the statement \(position 19\): expected ROLE or USER"),
        ("GRANT ROLE a TO USER", r"the end of the statement \(position 21\): expected a user name"),
        ("CREATE USER", r"at the end of the statement \(position 12\): expected a user name\n"),
        ("DROP USER IF EXISTS ;", r"at ';' \(position 21\): expected a user name\n"),
        ("SHOW GRANTS TO", r"at the end of the statement \(position 15\): expected ROLE or USER\n"),
        ("SHOW GRANTS TO USER", r"the end of the statement \(position 20\): expected a user name"),
        ("GRANT USAGE ON MODEL m TO ROLE ;", r"at ';' \(position 32\): expected a role name\n"),
        ("GRANT USAGE ON", r"at the end of the statement \(position 15\): expected MODEL, ALL"),
        ("GRANT CREATE", r"at the end of the statement \(position 13\): expected MODEL\n"),
        ("GRANT USAGE ON ALL MODELS IN SCHEMA", r"\(position 36\): expected a schema name"),
        (
            "SHOW GRANTS ON MODEL\n",
            r"at the end of the statement \(position 21\): expected a model",
        ),
        ("SHOW", r"at the end of the statement \(position 5\): expected GRANTS, ROLES or USERS\n"),
    ],
)  # fmt: skip
def test_a_missing_word_at_the_end_is_named(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_statement(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("SHOW ROLES now", r"at 'now' \(position 12\): expected the end of the statement\n"),
        ("CREATE ROLE a b", r"at 'b' \(position 15\): expected the end of the statement\n"),
        ("DROP ROLE r;;", r"at ';' \(position 13\): expected the end of the statement\n"),
        ("CREATE ROLE a; DROP ROLE b", r"at 'DROP' \(position 16\): expected the end"),
    ],
)
def test_an_extra_trailing_word_is_refused(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_statement(text)


@pytest.mark.parametrize("text", ["", "   \n ", ";", "ALTER ROLE r SET x", "SELECT 1"])
def test_an_empty_statement_or_unknown_verb_lists_the_statements(text: str) -> None:
    with pytest.raises(StatementError, match=r"\(position 1\): expected one of CREATE ROLE, "
                       r"DROP ROLE, CREATE USER, DROP USER, GRANT ROLE, .*SHOW GRANTS, "
                       r"SHOW ROLES or SHOW USERS\n"):  # fmt: skip
        parse_statement(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CREATE USER IF EXISTS u", r"at 'EXISTS' \(position 16\): expected NOT\n"),
        ("CREATE USER IF NOT EXIST u", r"at 'EXIST' \(position 20\): expected EXISTS\n"),
        ("DROP USER IF NOT EXISTS u", r"at 'NOT' \(position 14\): expected EXISTS\n"),
        ("CREATE USER u DEFAULT_ROLE analyst",
         r"at 'analyst' \(position 28\): expected =\n"
         r"CREATE USER u DEFAULT_ROLE analyst\n {27}\^$"),
        ("CREATE USER u DEFAULT_ROLE", r"the end of the statement \(position 27\): expected =\n"),
        ("CREATE USER u DEFAULT_ROLE =", r"at the end of the statement \(position 29\): "
         r"expected a role name\n"),
        ("CREATE USER u DEFAULT_ROLE=;", r"at ';' \(position 28\): expected a role name\n"),
        ("CREATE USER u DEFAULT_ROLE : r", r"at ':' \(position 28\): expected =\n"),
        ("CREATE USER u DEFAULT_ROL = r",
         r"at 'DEFAULT_ROL' \(position 15\): expected DEFAULT_ROLE or the end of the "
         r"statement\n"),
        # DEFAULT_ROLEX is not DEFAULT_ROLE followed by '='
        ("CREATE USER u DEFAULT_ROLEX=r",
         r"at 'DEFAULT_ROLEX=r' \(position 15\): expected DEFAULT_ROLE or the end of the"),
        ("CREATE USER u v", r"at 'v' \(position 15\): expected DEFAULT_ROLE or the end of the"),
        # a user is created with one default role
        ("CREATE USER u DEFAULT_ROLE = r s",
         r"at 's' \(position 32\): expected the end of the statement\n"),
        ("DROP USER u DEFAULT_ROLE = r",
         r"at 'DEFAULT_ROLE' \(position 13\): expected the end of the statement\n"),
        ("SHOW USERS now", r"at 'now' \(position 12\): expected the end of the statement\n"),
        ("GRANT ROLE a TO USER b c", r"at 'c' \(position 24\): expected the end of the"),
        # keywords are ASCII: a dotless i does not upper-case into EXISTS
        ("DROP USER IF EX\u0131STS u", r"at 'EX\u0131STS' \(position 14\): expected EXISTS"),
    ],
)  # fmt: skip
def test_a_user_statement_error_points_at_the_word(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_statement(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("GRANT USAGE ON MODEL m TO USER u",
         r"at 'USER' \(position 27\): expected ROLE: privileges are granted to roles, and roles "
         r"to users \(GRANT ROLE role TO USER user\)\n"),
        ("REVOKE READ ON ALL MODELS IN SCHEMA s FROM USER u",
         r"at 'USER' \(position 44\): expected ROLE:.*\(REVOKE ROLE role FROM USER user\)\n"),
    ],
)  # fmt: skip
def test_a_privilege_granted_to_a_user_says_to_grant_a_role(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_statement(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CREATE ROLE 1abc", r"at '1abc' \(position 13\): expected a role name; invalid role name"),
        ('CREATE ROLE "unterminated', r"\(position 13\).*the closing double quote is missing"),
        ("GRANT ROLE a.b TO ROLE c", r"at 'a.b' \(position 12\).*invalid role name 'a.b'"),
        ('DROP ROLE ""', r"""at '""' \(position 11\).*"" is empty"""),
        ("GRANT USAGE ON MODEL ml.1m TO ROLE r", r"at 'ml.1m' \(position 22\).*invalid model"),
        ("GRANT USAGE ON MODEL a.b.c.d TO ROLE r", r"\(position 22\).*DATABASE.SCHEMA.NAME"),
        ("SHOW GRANTS ON MODEL my-model", r"at 'my-model' \(position 22\).*invalid model"),
        ("GRANT USAGE ON ALL MODELS IN SCHEMA d.s.x TO ROLE r",
         r"at 'd.s.x' \(position 37\): expected a schema name as SCHEMA or DATABASE.SCHEMA"),
        ("GRANT CREATE MODEL ON SCHEMA 9s TO ROLE r", r"at '9s' \(position 30\).*invalid schema"),
        ("CREATE USER 1abc",
         r"at '1abc' \(position 13\): expected a user name; invalid user name '1abc'; a user"),
        ('DROP USER IF EXISTS "unterminated', r"\(position 21\): expected a user name; .*the "
         r"closing double quote is missing"),
        ("GRANT ROLE r TO USER a.b", r"at 'a.b' \(position 22\): expected a user name; invalid"),
        ('SHOW GRANTS TO USER ""', r"""at '""' \(position 21\): expected a user name; .*"" is"""),
        ("CREATE USER u DEFAULT_ROLE = 9r",
         r"at '9r' \(position 30\): expected a role name; invalid role name '9r'"),
        ("CREATE USER u DEFAULT_ROLE==r", r"at '=r' \(position 28\): expected a role name"),
    ],
)  # fmt: skip
def test_a_bad_identifier_names_the_word_and_the_rules(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match) as caught:
        parse_statement(text)
    message = str(caught.value)
    assert message.count("\n") == 2 and message.endswith("^")
    if "invalid" in message.split("\n")[0].split(": ", 1)[1]:
        assert isinstance(caught.value.__cause__, InvalidIdentifier)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("GRANT OWNERSHIP ON FUTURE MODELS IN SCHEMA s TO ROLE r",
         r"at 'OWNERSHIP' \(position 7\): OWNERSHIP does not apply to FUTURE MODELS: a new model "
         r"is owned by the role that creates it; expected USAGE or READ"),
        ("REVOKE OWNERSHIP ON FUTURE MODELS IN SCHEMA s FROM ROLE r",
         r"at 'OWNERSHIP' \(position 8\).*expected USAGE or READ"),
        ("GRANT CREATE MODEL ON MODEL m TO ROLE r",
         r"at 'CREATE' \(position 7\): CREATE MODEL does not apply to a model; grant it ON "
         r"SCHEMA; expected USAGE, READ or OWNERSHIP"),
        ("GRANT CREATE MODEL ON ALL MODELS IN SCHEMA s TO ROLE r",
         r"at 'CREATE' \(position 7\).*expected USAGE, READ or OWNERSHIP"),
        ("GRANT USAGE ON SCHEMA ml.prod TO ROLE r",
         r"at 'USAGE' \(position 7\): USAGE does not apply to a schema.*expected CREATE MODEL"),
        ("revoke ownership on schema prod from role r",
         r"at 'ownership' \(position 8\).*expected CREATE MODEL"),
    ],
)  # fmt: skip
def test_a_privilege_that_does_not_apply_names_the_valid_ones(text: str, match: str) -> None:
    with pytest.raises(StatementError, match=match):
        parse_statement(text)


def test_a_statement_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(StatementError, match=re.escape("must be a string, not int")):
        parse_statement(42)  # type: ignore[arg-type]
