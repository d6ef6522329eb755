"""YAML with line numbers: a document as plain Python values and the line of every key.

``load_with_lines`` composes the document (PyYAML's node tree keeps each node's position)
and builds the values itself, so that later validation errors can name the line they come
from. Along the way it refuses what PyYAML would silently accept: a key given twice, a
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

from registry import InvalidInput

__all__ = ["Loc", "YamlDocument", "format_loc", "load_with_lines"]

Loc = tuple[str | int, ...]

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE = "tag:yaml.org,2002:merge"


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
    text: str, source: str, *, env: Mapping[str, str] | None = None, expand_env: bool = True
) -> YamlDocument:
    """Parse ``text`` (read from ``source``, used in messages); raise ``InvalidInput`` listing
    every problem found with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InvalidInput(f"{source}{where}: {problem}; fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: {exc}; fix the YAML syntax") from None
    doc = YamlDocument(data=None, source=source, lines={(): 1})
    if root is None:
        raise InvalidInput(f"{source} is empty; a pipeline config is a YAML mapping (see configs/)")
    builder = _Builder(doc, os.environ if env is None else env, expand_env=expand_env)
    doc.data = builder.build(root, ())
    if builder.problems:
        raise InvalidInput(f"{source}: " + "; ".join(builder.problems))
    return doc


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
