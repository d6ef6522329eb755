from __future__ import annotations

import pytest

from registry.errors import InvalidIdentifier
from registry.identifiers import (
    QualifiedName,
    format_identifier,
    generate_version_name,
    parse_identifier,
    parse_qualified_name,
)


@pytest.mark.parametrize(
    ("text", "resolved"),
    [
        ("my_model", "MY_MODEL"),
        ("v1", "V1"),
        ("_x$1", "_X$1"),
        ('"MyModel"', "MyModel"),
        ('"my model"', "my model"),
        ('"say ""hi"""', 'say "hi"'),
        ('"MY_MODEL"', "MY_MODEL"),
    ],
)
def test_parse_identifier_follows_snowflake_rules(text: str, resolved: str) -> None:
    assert parse_identifier(text) == resolved


@pytest.mark.parametrize(
    "text", ["", "1abc", "my-model", "my model", '"unterminated', '""', "a" * 256, "a.b", '"a\x00"']
)
def test_invalid_identifiers_are_refused_with_the_rules(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match="double-quoted|at most 255|control|empty"):
        parse_identifier(text)


def test_format_round_trips() -> None:
    for text in ["my_model", '"MyModel"', '"a ""q"" b"', '"with.dot"', "V1"]:
        resolved = parse_identifier(text)
        assert parse_identifier(format_identifier(resolved)) == resolved
    assert format_identifier("MY_MODEL") == "MY_MODEL"
    assert format_identifier("MyModel") == '"MyModel"'


def test_qualified_names() -> None:
    assert parse_qualified_name("m") == QualifiedName("M")
    assert parse_qualified_name("s.m") == QualifiedName("M", schema="S")
    assert parse_qualified_name('db."Odd.Schema".m') == QualifiedName(
        "M", database="DB", schema="Odd.Schema"
    )
    assert str(parse_qualified_name('db."Odd.Schema".m')) == 'DB."Odd.Schema".M'
    with pytest.raises(InvalidIdentifier, match="DATABASE.SCHEMA.NAME"):
        parse_qualified_name("a.b.c.d")
    with pytest.raises(InvalidIdentifier):
        parse_qualified_name("a..b")


def test_generated_version_names_are_valid_identifiers() -> None:
    names = {generate_version_name() for _ in range(50)}
    assert len(names) > 40
    for name in names:
        assert parse_identifier(name, "version") == name
        adjective, animal, number = name.split("_")
        assert adjective.isalpha() and animal.isalpha() and number.isdigit()
