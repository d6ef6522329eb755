"""Identifiers under Snowflake's rules, and fully qualified names.

* An unquoted identifier starts with a letter or ``_`` and holds letters, digits, ``_`` and
  ``$``. It is case-insensitive and stored upper-cased: ``my_model`` is ``MY_MODEL``.
* A double-quoted identifier keeps its case and may hold any character that prints; a ``"``
  inside it is written ``""``: ``"My Model"`` is ``My Model``. Characters that do not print,
  so that a name could look like another (``"IRIS\u200b"`` like ``IRIS``) or break a listing,
  are refused, naming the code point: control (Cc), format (Cf: zero-width, bidi overrides),
  line and paragraph separators (Zl, Zp), spaces other than U+0020 (Zs), private-use,
  surrogate and unassigned code points, and the invisible fillers and variation selectors.
* At most 255 characters.

``parse_identifier`` turns user text into the *resolved* name that the catalog stores;
``format_identifier`` turns a resolved name back into text that parses to the same name
(quoted only where it must be), which is what every property and listing shows.

``parse_model_ref`` splits a config's model reference (``NAME@ALIAS`` or ``NAME/VERSION``,
NAME possibly ``DB.SCHEMA.NAME``) without resolving its identifiers: the catalog resolves
them when the reference is used.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal

from registry.errors import InvalidIdentifier, InvalidInput

__all__ = [
    "ModelRef",
    "QualifiedName",
    "format_identifier",
    "generate_version_name",
    "id_ref",
    "parse_identifier",
    "parse_model_ref",
    "parse_qualified_name",
]

IdentifierKind = Literal[
    "database", "schema", "model", "version", "alias", "tag", "metric", "role", "user"
]

_MAX_LENGTH = 255
_UNQUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_UPPER_UNQUOTED = re.compile(r"[A-Z_][A-Z0-9_$]*")
# Printable by Python's rule (str.isprintable) yet invisible: the combining grapheme joiner,
# Hangul and Khmer fillers, Mongolian and other variation selectors, the braille blank.
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "a format character that does not print",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than U+0020",
}


def _rules(kind: str) -> str:
    return (
        f"a {kind} name is an unquoted identifier (a letter or '_' followed by letters, digits, "
        "'_' or '$'; case-insensitive, stored upper-cased) or a double-quoted one that keeps "
        'its case, such as "My Model"'
    )


def parse_identifier(text: str, kind: IdentifierKind = "model") -> str:
    """Resolve one identifier: upper-case an unquoted one, unquote a quoted one."""
    if not isinstance(text, str):
        raise InvalidIdentifier(f"{kind} name must be a string, not {type(text).__name__}")
    name, rest = _scan(text, 0, kind)
    if rest != len(text):
        raise InvalidIdentifier(
            f"invalid {kind} name {text!r}: unexpected {text[rest:]!r}; {_rules(kind)}"
        )
    return name


def _scan(text: str, pos: int, kind: str) -> tuple[str, int]:
    """Read one identifier starting at ``pos``; return it resolved and the position after it."""
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        i = pos + 1
        while i < len(text):
            ch = text[i]
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                name = "".join(out)
                _check_resolved(name, text, kind)
                return name, i + 1
            out.append(ch)
            i += 1
        raise InvalidIdentifier(
            f"invalid {kind} name {text!r}: the closing double quote is missing; {_rules(kind)}"
        )
    match = _UNQUOTED.match(text, pos)
    if match is None:
        shown = text if text else "an empty string"
        raise InvalidIdentifier(f"invalid {kind} name {shown!r}; {_rules(kind)}")
    name = match.group(0).upper()
    _check_resolved(name, text, kind)
    return name, match.end()


def _check_resolved(name: str, text: str, kind: str) -> None:
    if not name:
        raise InvalidIdentifier(f'invalid {kind} name {text!r}: "" is empty; {_rules(kind)}')
    if len(name) > _MAX_LENGTH:
        raise InvalidIdentifier(
            f"invalid {kind} name: {len(name)} characters, at most {_MAX_LENGTH} are allowed"
        )
    if not name.isprintable() or _INVISIBLE.search(name):
        ch = next(c for c in name if not c.isprintable() or _INVISIBLE.match(c))
        what = _CATEGORIES.get(unicodedata.category(ch), "an invisible character")
        label = unicodedata.name(ch, "")
        shown = _INVISIBLE.sub(lambda m: ascii(m.group())[1:-1], repr(text))
        raise InvalidIdentifier(
            f"invalid {kind} name {shown}: U+{ord(ch):04X}{f' ({label})' if label else ''} is "
            f"{what}, so the name could look like another; remove it (names may hold only "
            "characters that print)"
        )


def format_identifier(name: str) -> str:
    """The text form of a resolved name: bare when it is an upper-case unquoted identifier."""
    if _UPPER_UNQUOTED.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class QualifiedName:
    """``DATABASE.SCHEMA.NAME`` with each part resolved; database and schema may be absent."""

    name: str
    database: str | None = None
    schema: str | None = None

    def __str__(self) -> str:
        parts = [p for p in (self.database, self.schema, self.name) if p is not None]
        return ".".join(format_identifier(p) for p in parts)


_ID_REF = re.compile(r"@([0-9a-f]{32})")


def id_ref(text: object) -> str | None:
    """The id in ``@ID``: a model or version named by its immutable id (``Model.id``,
    ``ModelVersion.id``), which survives renames; None for anything else."""
    found = _ID_REF.fullmatch(text) if isinstance(text, str) else None
    return found.group(1) if found else None


def parse_qualified_name(text: str, kind: IdentifierKind = "model") -> QualifiedName:
    """Parse ``NAME``, ``SCHEMA.NAME`` or ``DATABASE.SCHEMA.NAME``; quoted parts may hold dots."""
    if not isinstance(text, str):
        raise InvalidIdentifier(f"{kind} name must be a string, not {type(text).__name__}")
    parts: list[str] = []
    pos = 0
    while True:
        part, pos = _scan(text, pos, kind)
        parts.append(part)
        if pos == len(text):
            break
        if text[pos] != "." or len(parts) == 3:
            raise InvalidIdentifier(
                f"invalid {kind} name {text!r}: expected NAME, SCHEMA.NAME or "
                f"DATABASE.SCHEMA.NAME; {_rules(kind)}"
            )
        pos += 1
    if len(parts) == 1:
        return QualifiedName(parts[0])
    if len(parts) == 2:
        return QualifiedName(parts[1], schema=parts[0])
    return QualifiedName(parts[2], database=parts[0], schema=parts[1])


_REF_FORMS = (
    "NAME@ALIAS (DEFAULT, FIRST, LAST or your own) or NAME/VERSION, e.g. ML.PROD.CHURN@DEFAULT "
    "or churn/v3"
)


@dataclass(frozen=True)
class ModelRef:
    """``NAME@ALIAS`` or ``NAME/VERSION``, split but not resolved: each part keeps the text it
    was written with (quotes included), and the catalog resolves it when the reference is used."""

    database: str | None
    schema: str | None
    name: str
    selector: str
    is_alias: bool

    @property
    def qualified_name(self) -> str:
        """``DB.SCHEMA.NAME`` (as far as given), without the alias or version."""
        return ".".join(p for p in (self.database, self.schema, self.name) if p)

    def __str__(self) -> str:
        return f"{self.qualified_name}{'@' if self.is_alias else '/'}{self.selector}"


def parse_model_ref(text: str, *, default_alias: str | None = None) -> ModelRef:
    """Split a reference on ``@`` or ``/`` and ``.`` outside double quotes; the identifiers
    themselves are checked by the catalog. With ``default_alias``, a plain ``NAME`` (or
    ``DB.SCHEMA.NAME``) is accepted and means ``NAME@{default_alias}``; without it, a plain
    name is refused, since it would not say which version to use."""
    parts: list[str] = []
    separators: list[str] = []
    current, quoted = "", False
    for char in text if isinstance(text, str) else "":
        if char == '"':
            quoted = not quoted
        if not quoted and char in "@/.":
            parts.append(current.strip())
            separators.append(char)
            current = ""
        else:
            current += char
    parts.append(current.strip())
    if default_alias is not None and "@" not in separators and "/" not in separators:
        separators.append("@")
        parts.append(default_alias)
    is_valid = (
        not quoted
        and 1 <= len(separators) <= 3
        and separators[-1] in "@/"
        and all(s == "." for s in separators[:-1])
        and all(parts)
    )
    if not is_valid:
        plain = "" if default_alias is None else f"NAME (meaning NAME@{default_alias}), "
        raise InvalidInput(f"model {text!r} is not a model reference; write {plain}{_REF_FORMS}")
    *names, selector = parts
    database, schema = ([None] * (3 - len(names)) + names)[:2]
    return ModelRef(database, schema, names[-1], selector, is_alias=separators[-1] == "@")


_ADJECTIVES = (
    "AGILE AMBER ARCTIC BOLD BRAVE BRIGHT BRISK CALM CLEVER COSMIC CRISP CURIOUS DARING "
    "DEFT EAGER EARNEST FAIR FEARLESS FROSTY GENTLE GLAD GOLDEN GRAND HAPPY HARDY HONEST "
    "JOLLY KEEN KIND LIVELY LUCID LUCKY MERRY MIGHTY MODEST NIMBLE NOBLE PATIENT PLUCKY "
    "POLAR PROUD QUICK QUIET RAPID SERENE SHARP SILENT SILVER SLEEK SMART SOLAR STEADY "
    "STURDY SUNNY SWIFT TIDY UPBEAT VIVID WARM WILD WISE WITTY ZESTY"
).split()
_ANIMALS = (
    "ALBATROSS BADGER BEAVER BISON CARIBOU CHEETAH CONDOR CORMORANT COUGAR CRANE DINGO "
    "DOLPHIN EAGLE EGRET ELK FALCON FERRET FINCH FOX GAZELLE GECKO HERON HUSKY IBEX IGUANA "
    "JACKAL JAGUAR KESTREL KOALA LEMUR LYNX MARMOT MARTEN MOOSE NARWHAL NEWT OCELOT ORCA "
    "OSPREY OTTER PANDA PANTHER PELICAN PENGUIN PUFFIN RAVEN SALMON SEAL SPARROW STOAT "
    "TAPIR TERN TOUCAN WALRUS WEASEL WOLF WOMBAT YAK ZEBRA"
).split()


def generate_version_name() -> str:
    """A human-readable version name such as ``BRAVE_OTTER_42`` (callers retry on a clash)."""
    return (
        f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_ANIMALS)}_{secrets.randbelow(1000)}"
    )
