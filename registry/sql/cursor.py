"""The words of a SQL statement and the cursor every Floe grammar reads them with.

A statement is split into words once, by one rule: a word is a run of characters other than
whitespace, ``;`` and quotes, joined with double-quoted segments (identifiers, which may hold
spaces, dots and ``;``) and single-quoted ones (strings, such as ``'a comment; with spaces'``),
in which a doubled quote is a quote. ``;`` is a word of its own. An unterminated quote runs
to the end of the statement, so the word that holds it is the one an error points at. What a
word means is left to the grammar: a keyword (ASCII, any case), an identifier (through
``registry.identifiers``), a string (``Cursor.string``). A word such as ``COMMENT='x'`` is
split where the grammar expects ``=`` (``Cursor.split``, ``Cursor.split_before``), so ``=``
may be written with spaces around it or not.

Backslashes in strings are ordinary characters (standard SQL; Snowflake reads them as
escapes): write ``''`` for a quote inside a string.

Every error is a ``StatementError`` that quotes the offending word, gives its 1-based
position and what was expected there, and repeats the statement's line with a caret under
the word::

    syntax error at 'TOO' (position 29): expected TO
    GRANT USAGE ON MODEL ml.r.m TOO ROLE analyst
                                ^

``parse_with`` reads a statement's verb and the word after it (its noun: ``ROLE`` in ``CREATE
ROLE``) and hands the rest to the grammar that has that verb and noun: the one place that
chooses a grammar, for the access-control statements alone and for all of ``Registry.sql``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from registry.errors import InvalidIdentifier, InvalidInput
from registry.identifiers import (
    IdentifierKind,
    QualifiedName,
    parse_identifier,
    parse_qualified_name,
)

__all__ = ["Cursor", "Grammar", "Spot", "StatementError", "one_of", "parse_with"]

_T = TypeVar("_T")
_S = TypeVar("_S")
_S_co = TypeVar("_S_co", covariant=True)

_WORD = re.compile(r"""(?:"(?:[^"]|"")*"?|'(?:[^']|'')*'?|[^\s"';])+|;""")
_END = "the end of the statement"


class StatementError(InvalidInput):
    """A statement that does not parse; the message points at the word."""


def one_of(words: tuple[str, ...]) -> str:
    """``A``, ``A or B``, ``A, B or C``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


@dataclass(frozen=True)
class Spot:
    """Where a word is in a statement, for a message that points at it: ``start`` is its
    0-based offset, ``where`` the word quoted (or "the end of the statement")."""

    text: str
    start: int
    where: str

    def point(self, detail: str) -> str:
        """``at 'word' (position N): detail``, then the word's line and a caret under it."""
        text, start = self.text, self.start
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        line = text[line_start : len(text) if line_end < 0 else line_end].rstrip("\r")
        pad = "".join(c if c == "\t" else " " for c in text[line_start:start])
        return f"at {self.where} (position {start + 1}): {detail}\n{line}\n{pad}^"


class Cursor:
    """The words of one statement and the position of the next one to read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = [(m.group(), m.start()) for m in _WORD.finditer(text)]
        self.i = 0

    def peek(self) -> str:
        return self.words[self.i][0] if self.i < len(self.words) else ""

    def is_at_end(self) -> bool:
        """Whether no word but an optional ``;`` is left."""
        return self.peek() in ("", ";")

    def is_at(self, *keywords: str) -> bool:
        word = self.peek()
        # isascii: else "EX\u0131STS" (dotless i) would upper-case to the keyword EXISTS.
        return word.isascii() and word.upper() in keywords

    def take(self, *keywords: str, expected: str | None = None) -> str:
        """The keyword here, upper-cased; else an error naming what was expected."""
        if not self.is_at(*keywords):
            raise self.error(f"expected {expected or one_of(keywords)}")
        self.i += 1
        return self.words[self.i - 1][0].upper()

    def skip(self, *keywords: str) -> bool:
        """Step over the keyword here if it is one of ``keywords``; whether it was."""
        if not self.is_at(*keywords):
            return False
        self.i += 1
        return True

    def parse_word(self, parse: Callable[[str], _T], expected: str) -> _T:
        word = self.peek()
        if word in ("", ";"):
            raise self.error(f"expected {expected}")
        try:
            value = parse(word)
        except InvalidIdentifier as exc:
            raise self.error(f"expected {expected}; {exc.message}", "invalid name") from exc
        self.i += 1
        return value

    def identifier(self, kind: IdentifierKind) -> str:
        """One identifier (``registry.identifiers``), resolved."""
        return self.parse_word(lambda w: parse_identifier(w, kind), f"a {kind} name")

    def qualified(self, kind: IdentifierKind = "model") -> QualifiedName:
        """``NAME``, ``SCHEMA.NAME`` or ``DATABASE.SCHEMA.NAME``, resolved."""
        return self.parse_word(lambda w: parse_qualified_name(w, kind), f"a {kind} name")

    def schema_name(self) -> tuple[str | None, str]:
        """``SCHEMA`` or ``DATABASE.SCHEMA``, resolved: (database or None, schema)."""
        expected = "a schema name as SCHEMA or DATABASE.SCHEMA"
        name = self.parse_word(lambda w: parse_qualified_name(w, "schema"), expected)
        if name.database is not None:
            raise self.error(f"expected {expected}, not DATABASE.SCHEMA.NAME", at=self.i - 1)
        return name.schema, name.name

    def string(self, what: str = "a string") -> str:
        """A single-quoted string, unquoted (``''`` is a quote inside it)."""
        word = self.peek()
        if not word.startswith("'"):
            raise self.error(f"expected {what} in single quotes, such as 'text'")
        out: list[str] = []
        k = 1
        while k < len(word):
            if word[k] != "'":
                out.append(word[k])
                k += 1
            elif word[k + 1 : k + 2] == "'":
                out.append("'")
                k += 2
            elif k + 1 < len(word):
                raise self.error(f"expected {what} in single quotes; {word[k + 1:]!r} follows "
                                 "its closing quote (write '' for a quote inside it)")
            else:
                self.i += 1
                return "".join(out)
        raise self.error(f"expected {what}; its closing single quote is missing (write '' for "
                         "a quote inside it)", "unterminated string")

    def split(self, head: str, then: str = "") -> None:
        """Where the word here is ``head`` and more that starts with ``then``, make it two
        words, ``head`` and the rest: so ``DEFAULT_ROLE=R`` reads as ``DEFAULT_ROLE = R``."""
        word = self.peek()
        n = len(head)
        if (
            len(word) > n
            and word[:n].isascii()
            and word[:n].upper() == head
            and word[n:].startswith(then)
        ):
            self._cut(n)

    def split_before(self, char: str) -> None:
        """Where the word here holds ``char`` after its start and outside quotes, make it two
        words there: so a name followed by ``='value'`` reads as the name and ``= 'value'``."""
        quote = ""
        for k, c in enumerate(self.peek()):
            if quote:
                quote = "" if c == quote else quote  # a doubled quote closes and reopens
            elif c in "\"'":
                quote = c
            elif c == char:
                if k > 0:
                    self._cut(k)
                return

    def _cut(self, n: int) -> None:
        word, start = self.words[self.i]
        self.words[self.i : self.i + 1] = [(word[:n], start), (word[n:], start + n)]

    def end(self) -> None:
        if self.peek() == ";":
            self.i += 1
        if self.i < len(self.words):
            raise self.error(f"expected {_END}")

    def spot(self, at: int | None = None) -> Spot:
        """Where word ``at`` (default: the one here) is, for an error raised later."""
        index = self.i if at is None else at
        if index < len(self.words):
            word, start = self.words[index]
            return Spot(self.text, start, repr(word))
        return Spot(self.text, len(self.text.rstrip()), _END)

    def error(
        self, detail: str, problem: str = "syntax error", at: int | None = None
    ) -> StatementError:
        return StatementError(f"{problem} {self.spot(at).point(detail)}")


@dataclass(frozen=True)
class Grammar(Generic[_S_co]):
    """The statements of one grammar: the verbs they start with, the words that may follow
    a verb (its nouns, such as ``ROLE`` after ``CREATE``; a verb without any takes none), how
    an error lists the statements, and the parser of the rest after the verb and noun."""

    verbs: tuple[str, ...]
    nouns: Mapping[str, tuple[str, ...]]
    forms: tuple[str, ...]
    parse_rest: Callable[[Cursor, str, str], _S_co]


def parse_with(text: object, *grammars: Grammar[_S]) -> _S:
    """Parse one statement of one of ``grammars``: its verb and noun choose the grammar (a
    verb may be in several, each with its own nouns); an optional ``;`` may end it."""
    if not isinstance(text, str):
        raise StatementError(f"a statement must be a string, not {type(text).__name__}")
    p = Cursor(text)
    verbs = tuple(dict.fromkeys(verb for g in grammars for verb in g.verbs))
    forms = tuple(form for g in grammars for form in g.forms)
    verb = p.take(*verbs, expected=f"one of {one_of(forms)}")
    nouns = tuple(noun for g in grammars for noun in g.nouns.get(verb, ()))
    noun = p.take(*nouns) if nouns else ""
    grammar = next(g for g in grammars
                   if verb in g.verbs and noun in g.nouns.get(verb, ("",)))
    statement = grammar.parse_rest(p, verb, noun)
    p.end()
    return statement
