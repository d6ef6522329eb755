"""YAML with line numbers, safe for untrusted configs: plain values and the line of every key.

``load_with_lines`` composes the document (PyYAML's node tree keeps each node's position)
and builds the values itself, so that later validation errors can name the line they come
from. It is the loader for every Floe config (pipeline and serve configs alike), used through
``registry.config_files.validation``; nothing in it is specific to one kind of config.

``safe_load`` alone is not enough for a config anyone may write. While composing, it refuses,
each with one ``InvalidInput`` naming the line:

- any explicit tag (``!!python/name:...``, ``!!python/object:...``, ``!!str``, ``!``): a
  config holds plain strings, numbers, booleans, dates, lists and mappings;
- an alias inside the node it names (``&a [*a]``), which would repeat forever;
- aliases that expand the document past ``MAX_VALUES`` values (the "billion laughs": a few
  hundred bytes of nested aliases expand to gigabytes); aliases within that budget are fine;
- nesting deeper than ``MAX_DEPTH`` levels, and text longer than ``MAX_CHARS``.

While building values it refuses what PyYAML would silently accept: a key given twice, a
key that is not a string, a merge key. ``${VAR}`` and ``${VAR:-default}`` in string values
are replaced by environment variables (``$$`` is a literal ``$``) unless ``expand_env`` is
off. Values are YAML's own: an unquoted ``2026-11-01`` is a ``date``, a quoted one a string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from registry.errors import InvalidInput

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_VALUES",
    "Loc",
    "YamlDocument",
    "format_loc",
    "load_with_lines",
]

Loc = tuple[str | int, ...]

#: Values (scalars, lists and mappings) a document may hold once its aliases are expanded.
MAX_VALUES = 10_000
#: How deeply lists and mappings may nest.
MAX_DEPTH = 32
#: The longest text accepted (a config is a few kilobytes).
MAX_CHARS = 1_000_000

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STANDARD_TAGS = "tag:yaml.org,2002:"
_MERGE = _STANDARD_TAGS + "merge"


@dataclass
class YamlDocument:
    """The document's values, and the line (1-based) of each mapping key and list item."""

    data: Any
    source: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """The line of ``loc``, else of its nearest ancestor that the document has."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return 1


def load_with_lines(
    text: str,
    source: str,
    *,
    env: Mapping[str, str] | None = None,
    expand_env: bool = True,
    kind: str = "config",
) -> YamlDocument:
    """Parse ``text`` (read from ``source``, used in messages; ``kind`` says what it is, such
    as "pipeline config"); raise ``InvalidInput`` listing every problem found with its line."""
    if len(text) > MAX_CHARS:
        raise InvalidInput(f"{source} holds more than {MAX_CHARS:,} characters, more than a "
                           f"{kind} holds; is it the right file?")
    try:
        root = _SafeComposer(text).get_single_node()
    except _Refused as exc:
        raise InvalidInput(f"{source} line {exc.line}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InvalidInput(f"{source}{where}: {problem}; fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: {exc}; fix the YAML syntax") from None
    doc = YamlDocument(data=None, source=source, lines={(): 1})
    if root is None:
        raise InvalidInput(f"{source} is empty; a {kind} is a YAML mapping")
    builder = _Builder(doc, os.environ if env is None else env, expand_env=expand_env)
    doc.data = builder.build(root, ())
    if builder.problems:
        raise InvalidInput(f"{source}: " + "; ".join(builder.problems))
    return doc


class _Refused(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


class _SafeComposer(yaml.SafeLoader):
    """PyYAML's safe composer, refusing tags, self-referencing aliases, alias expansion past
    ``MAX_VALUES`` values and nesting past ``MAX_DEPTH`` while it composes: the node tree it
    returns is small and acyclic whatever the text was."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.expanded = 0  # values so far, each alias counting the values it stands for
        self.sizes: dict[int, int] = {}  # id(anchored node) -> the values it holds
        self.open_anchors: dict[str, int] = {}  # anchors being composed -> their line

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped stub
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.AliasEvent):
            alias = str(event.anchor)
            if alias in self.open_anchors:
                raise _Refused(
                    line, f"alias *{alias} is inside the node it names (&{alias}, line "
                    f"{self.open_anchors[alias]}), so it would repeat forever; remove the alias"
                )
            node = super().compose_node(parent, index)
            self._count(self.sizes.get(id(node), 1), line)
            return node
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = "!!" + tag.removeprefix(_STANDARD_TAGS) if tag.startswith(_STANDARD_TAGS) else tag
            raise _Refused(
                line, f"tag {shown} is not allowed; a config holds plain strings, numbers, "
                "booleans, dates, lists and mappings: remove the tag (quote the value to make "
                "it a string)"
            )
        if self.depth >= MAX_DEPTH:
            raise _Refused(line, f"lists and mappings nest deeper than {MAX_DEPTH} levels; "
                                 "a config is a few levels deep: flatten it")
        anchor: str | None = getattr(event, "anchor", None)
        if anchor is not None:
            self.open_anchors[anchor] = line
        before = self.expanded
        self._count(1, line)
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if anchor is not None:
            del self.open_anchors[anchor]
            self.sizes[id(node)] = self.expanded - before
        return node

    def _count(self, values: int, line: int) -> None:
        self.expanded += values
        if self.expanded > MAX_VALUES:
            raise _Refused(
                line, f"aliases expand the document past {MAX_VALUES:,} values (nested aliases "
                "multiply: a few hundred bytes can expand to gigabytes); write the values out "
                "or use fewer aliases"
            )


class _Builder:
    def __init__(self, doc: YamlDocument, env: Mapping[str, str], *, expand_env: bool) -> None:
        self.doc = doc
        self.env = env
        self.expand_env = expand_env
        self.problems: list[str] = []
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.doc.lines[(*loc, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*loc, index)))
            return items
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, str) and self.expand_env:
            return self._expand(value, loc, node.start_mark.line + 1)
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                self.problems.append(f"line {line}: merge keys (<<) are not supported; "
                                     "write the keys out")
                continue
            key = self.build(key_node, loc) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problems.append(f"line {line}: keys are strings, not {key_node.value!r}; "
                                     "quote the key")
                continue
            if key in out:
                first = self.doc.lines[(*loc, key)]
                self.problems.append(f"line {line}: {format_loc((*loc, key))} is given twice "
                                     f"(first at line {first}); keep one")
                continue
            self.doc.lines[(*loc, key)] = line
            out[key] = self.build(value_node, (*loc, key))
        return out

    def _expand(self, text: str, loc: Loc, line: int) -> str:
        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            value = self.env.get(name)
            if value:
                return value
            if default is not None:
                return default
            self.problems.append(
                f"line {line}: {format_loc(loc)}: environment variable {name} is not set; set it, "
                f"or give a default: ${{{name}:-VALUE}}"
            )
            return match.group(0)

        return _ENV.sub(substitute, text)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
