from __future__ import annotations

import re

import pytest

from registry.errors import InvalidIdentifier, InvalidInput
from registry.identifiers import (
    ModelRef,
    QualifiedName,
    format_identifier,
    generate_version_name,
    parse_identifier,
    parse_model_ref,
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
    with pytest.raises(InvalidIdentifier, match=r"invalid model name 'a\.\.b'.*an unquoted identifier"):
        parse_qualified_name("a..b")


def test_generated_version_names_are_valid_identifiers() -> None:
    names = {generate_version_name() for _ in range(50)}
    assert len(names) > 40
    for name in names:
        assert parse_identifier(name, "version") == name
        adjective, animal, number = name.split("_")
        assert adjective.isalpha() and animal.isalpha() and number.isdigit()


@pytest.mark.parametrize(
    ("text", "code_point"),
    [
        ('"IRIS\u200b"', "U+200B"),  # zero-width space: looks like IRIS
        ('"a\x85b"', "U+0085"),  # next line (Cc outside ASCII)
        ('"a\u2028b"', "U+2028"),  # line separator (Zl)
        ('"a\u2029b"', "U+2029"),  # paragraph separator (Zp)
        ('"abc\u202e"', "U+202E"),  # right-to-left override (bidi, Cf)
        ('"a\u2066b"', "U+2066"),  # left-to-right isolate (bidi, Cf)
        ('"\ufeffa"', "U+FEFF"),  # byte order mark / zero-width no-break space (Cf)
        ('"a\u00a0b"', "U+00A0"),  # no-break space: looks like "a b"
        ('"a\u3164"', "U+3164"),  # Hangul filler: printable by Python's rule, yet invisible
        ('"a\ufe0f"', "U+FE0F"),  # variation selector
        ('"a\ue000"', "U+E000"),  # private use
    ],
)
def test_characters_that_do_not_print_are_refused_naming_the_code_point(
    text: str, code_point: str
) -> None:
    for kind in ("model", "version", "alias", "tag", "database", "schema"):
        with pytest.raises(InvalidIdentifier, match=rf"{kind} name .*{re.escape(code_point)}.*remove it"):
            parse_identifier(text, kind)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentifier, match=re.escape(code_point)):
        parse_qualified_name(f"db.{text}.m")
    with pytest.raises(InvalidIdentifier) as raised:
        parse_identifier(text)
    assert raised.value.message.isprintable()  # the message shows the name escaped


def test_names_that_print_are_kept() -> None:
    for text in ['"Modèle für 日本"', '"a b"', '"ø-1.5 (beta)"', '"Ωmega"']:
        assert parse_identifier(text) == text[1:-1]


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
    # a default alias changes nothing for a reference that names its alias or version
    assert parse_model_ref(text, default_alias="DEFAULT") == expected


@pytest.mark.parametrize("text", ["churn", "churn@", "@DEFAULT", "a.b.c.d@x", "a@b@c", "a@b.c",
                                  "a/b@c", '"unclosed@x'])
def test_a_bad_model_reference_is_refused_with_the_forms_it_may_take(text: str) -> None:
    with pytest.raises(InvalidInput, match="NAME@ALIAS .* or NAME/VERSION"):
        parse_model_ref(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef(None, None, "churn", "DEFAULT", is_alias=True)),
        (" churn ", ModelRef(None, None, "churn", "DEFAULT", is_alias=True)),
        ("PROD.churn", ModelRef(None, "PROD", "churn", "DEFAULT", is_alias=True)),
        ("ML.PROD.churn", ModelRef("ML", "PROD", "churn", "DEFAULT", is_alias=True)),
        ('ML."a.b"."my.model"', ModelRef("ML", '"a.b"', '"my.model"', "DEFAULT", is_alias=True)),
        ('"churn@v1"', ModelRef(None, None, '"churn@v1"', "DEFAULT", is_alias=True)),
        ('"odd/name"', ModelRef(None, None, '"odd/name"', "DEFAULT", is_alias=True)),
    ],
)
def test_a_plain_name_means_the_default_alias_when_one_is_given(
    text: str, expected: ModelRef
) -> None:
    ref = parse_model_ref(text, default_alias="DEFAULT")
    assert ref == expected
    assert str(ref) == f"{ref.qualified_name}@DEFAULT"
    assert parse_model_ref(str(ref)) == ref  # its text form needs no default
    assert parse_model_ref(text, default_alias="champion").selector == "champion"


@pytest.mark.parametrize(
    "text", ["", "a.b.c.d", "a..b", ".churn", "churn.", '"unclosed', "churn@", "churn/",
             "a.b.c.d@x", "a@b.c"]
)
def test_a_bad_plain_name_is_refused_naming_the_default(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"is not a model reference; write NAME \(meaning "
                       r"NAME@DEFAULT\), NAME@ALIAS .* or NAME/VERSION"):
        parse_model_ref(text, default_alias="DEFAULT")


def test_a_reference_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidInput, match="is not a model reference"):
        parse_model_ref(3, default_alias="DEFAULT")  # type: ignore[arg-type]


def test_the_qualified_name_leaves_out_the_selector() -> None:
    assert parse_model_ref('ML.PROD."my.model"/v3').qualified_name == 'ML.PROD."my.model"'
    assert parse_model_ref("churn@LAST").qualified_name == "churn"
