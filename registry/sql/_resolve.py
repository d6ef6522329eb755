"""A query's model methods, read and resolved before anything runs (steps 1, 2 and 4 of
``registry.sql.select``): the ``WITH name AS MODEL m [VERSION v]`` entries sqlglot does not
parse, read from its tokens and blanked out; the rest parsed in Snowflake's dialect; each
``model!method(args)`` resolved to a version and function through the Python API, and
rewritten in the tree as a call of the function DuckDB will know it by."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registry.errors import FloeError, InvalidIdentifier, InvalidInput, NotFound
from registry.identifiers import QualifiedName, format_identifier, parse_qualified_name
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.signatures import FeatureSpec
from registry.sql.cursor import Spot, StatementError

if TYPE_CHECKING:
    from types import ModuleType

    from registry.api.model_version import ModelVersion
    from registry.api.registry import Registry

__all__ = ["Method", "ModelRef", "arguments", "method_of", "method_spots", "model_of",
           "parse_query", "register", "take_model_bindings", "with_fields"]


@dataclass(frozen=True)
class ModelRef:
    """A model as a query names it: its name (resolved) and version or alias (None: the
    default version), and where the name is in the text."""

    name: QualifiedName
    version: str | None
    spot: Spot
    version_spot: Spot | None = None


@dataclass
class Method:
    """One registered (version, function): the DuckDB function's name and what it runs."""

    udf: str
    version: ModelVersion
    function: ModelFunctionInfo
    inputs: tuple[FeatureSpec, ...]
    outputs: tuple[FeatureSpec, ...]

    @property
    def label(self) -> str:
        return str(self.version)


def _spot(text: str, start: int, end: int | None = None) -> Spot:
    word = text[start : (end + 1 if end is not None else start + 1)] or text[start:]
    return Spot(text, start, repr(word) if start < len(text) else "the end of the statement")


def take_model_bindings(sqlglot: ModuleType, text: str) -> tuple[str, dict[str, ModelRef]]:
    """Read and blank out ``WITH name AS MODEL m [VERSION v]`` entries (and WITH itself when
    nothing else is left in it); the text with spaces in their place, and the bindings by
    name (resolved as an identifier)."""
    T = sqlglot.tokens.TokenType
    try:
        tokens = sqlglot.tokenize(text, read="snowflake")
    except sqlglot.errors.TokenError as exc:
        raise StatementError(f"syntax error in the query: {exc}") from exc
    if not tokens or tokens[0].token_type != T.WITH:
        return text, {}
    bindings: dict[str, ModelRef] = {}
    cut: list[tuple[int, int]] = []  # character ranges to blank, end exclusive
    kept = 0  # CTEs that stay
    i = 1
    while i < len(tokens):
        start = i
        if i + 2 < len(tokens) and tokens[i + 1].token_type == T.ALIAS and (
                tokens[i + 2].text.upper() == "MODEL" and tokens[i + 2].token_type != T.STRING
                and (i + 3 >= len(tokens) or tokens[i + 3].token_type != T.L_PAREN)):
            alias = tokens[i]
            i += 3
            name_start = i
            while i + 1 < len(tokens) and tokens[i + 1].token_type == T.DOT:
                i += 2
            name_spot = _spot(text, tokens[name_start].start, tokens[i].end)
            model_text = text[tokens[name_start].start : tokens[i].end + 1]
            i += 1
            version, version_spot = None, None
            if i + 1 < len(tokens) and tokens[i].text.upper() == "VERSION":
                version = _identifier_text(text, tokens[i + 1])
                version_spot = _spot(text, tokens[i + 1].start, tokens[i + 1].end)
                i += 2
            bindings[_resolved(text[alias.start : alias.end + 1], "model",
                               _spot(text, alias.start, alias.end)).name] = ModelRef(
                _resolved(model_text, "model", name_spot), version, name_spot, version_spot)
            if i < len(tokens) and tokens[i].token_type == T.COMMA:
                cut.append((tokens[start].start, tokens[i].end + 1))
                i += 1
                continue
            cut.append((tokens[start].start, tokens[i - 1].end + 1))
            break
        depth = 0  # an ordinary CTE: to the comma after its parenthesised query
        while i < len(tokens):
            kind = tokens[i].token_type
            depth += kind == T.L_PAREN
            depth -= kind == T.R_PAREN
            i += 1
            if depth == 0 and kind == T.R_PAREN:
                break
        kept += 1
        if i < len(tokens) and tokens[i].token_type == T.COMMA:
            i += 1
            continue
        break
    if not bindings:
        return text, {}
    if kept == 0:
        cut.append((tokens[0].start, tokens[0].end + 1))
    chars = list(text)
    for a, b in cut:
        for k in range(a, min(b, len(chars))):
            if chars[k] not in "\r\n":
                chars[k] = " "
    blanked = "".join(chars)
    if kept:  # a model entry last in the list leaves a comma before the query: drop it
        blanked = re.sub(r",(\s*)(SELECT\b)", r" \1\2", blanked, count=1, flags=re.I)
    return blanked, bindings


def _identifier_text(text: str, token: Any) -> str:
    """A name as written (a quoted identifier keeps its quotes)."""
    start = token.start - 1 if text[token.start - 1 : token.start] == '"' else token.start
    end = token.end + 2 if text[token.end + 1 : token.end + 2] == '"' else token.end + 1
    return text[start:end]


def _resolved(written: str, kind: Any, spot: Spot) -> QualifiedName:
    try:
        return parse_qualified_name(written, kind)
    except InvalidIdentifier as exc:
        raise StatementError(f"invalid name {spot.point(exc.message)}") from exc


def parse_query(sqlglot: ModuleType, text: str, blanked: str) -> Any:
    try:
        trees = [t for t in sqlglot.parse(blanked, read="snowflake") if t is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, col = int(first.get("line", 1)), int(first.get("col", 1))
        lines = text.split("\n")
        offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)
        highlight = str(first.get("highlight", ""))
        start = max(offset - len(highlight) + 1, 0) if highlight else offset
        detail = re.sub(r"but got <Token token_type: TokenType.SENTINEL.*>", "but the query ended",
                        str(first.get("description", exc)))
        raise StatementError("syntax error " + _spot(text, start, start + len(highlight) - 1)
                             .point(detail)) from exc
    except sqlglot.errors.SqlglotError as exc:
        raise StatementError(f"syntax error in the query: {exc}") from exc
    if len(trees) != 1 or not isinstance(trees[0], sqlglot.exp.Query):
        raise StatementError("expected one query (SELECT ... or WITH ... SELECT ...); run "
                             "other statements one at a time")
    return trees[0]


def _node_spot(text: str, node: Any) -> Spot:
    """Where ``node`` is written: its own position, else its first identifier's."""
    for candidate in (node, *node.find_all(importlib.import_module("sqlglot").exp.Identifier)):
        meta = getattr(candidate, "meta", None) or {}
        if "start" in meta:
            return _spot(text, int(meta["start"]), int(meta["end"]))
    return _spot(text, 0)


def _written(exp: Any, node: Any) -> str:
    """A name node (identifier, ``a.b.c``, column or string) as written in Snowflake."""
    if isinstance(node, exp.Literal) and node.is_string:
        return format_identifier(node.this)
    return str(node.sql(dialect="snowflake"))


def model_of(exp: Any, text: str, node: Any, bindings: dict[str, ModelRef]) -> ModelRef:
    spot = _node_spot(text, node)
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "MODEL":
        args = node.expressions
        if len(args) != 2:
            raise StatementError("syntax error " + spot.point(
                "MODEL takes the model and a version or alias: MODEL(m, v1)!predict(...)"))
        inner = _node_spot(text, args[0])
        return ModelRef(_resolved(_written(exp, args[0]), "model", inner),
                         _written(exp, args[1]), inner, _node_spot(text, args[1]))
    name = _resolved(_written(exp, node), "model", spot)
    if name.database is None and name.schema is None and name.name in bindings:
        return bindings[name.name]
    return ModelRef(name, None, spot)


def method_spots(sqlglot: ModuleType, text: str, blanked: str) -> list[Spot]:
    """Where each method name (the word after a ``!``) is written, in the text's order."""
    T = sqlglot.tokens.TokenType
    tokens = sqlglot.tokenize(blanked, read="snowflake")
    return [_spot(text, tokens[k + 1].start, tokens[k + 1].end)
            for k in range(len(tokens) - 1) if tokens[k].token_type == T.EXCLAMATION]


def method_of(exp: Any, text: str, node: Any) -> tuple[str, list[Any]]:
    """The function name as written (quoted keeps its case) and its arguments."""
    call = node.expression
    if isinstance(call, exp.Anonymous):
        this = call.this
        name = _written(exp, this) if isinstance(this, exp.Identifier) else str(this)
        args = list(call.expressions)
    elif isinstance(call, exp.Func):  # a method named like a SQL function: m!sum(x)
        name = call.sql_name()
        args = [v for v in call.args.values() if v is not None]
        args = [a for v in args for a in (v if isinstance(v, list) else [v])]
    else:
        raise StatementError("syntax error " + _node_spot(text, node).point(
            "expected a model method call such as m!predict(col1, col2) or m!predict(*)"))
    return name, args


def register(reg: Registry, methods: dict[tuple[str, str], Method], ref: ModelRef,
              name: str, spot: Spot, query_id: int) -> Method:
    where = reg._in_namespace(ref.name.database, ref.name.schema)
    try:
        model = where.get_model(format_identifier(ref.name.name))
    except NotFound as exc:
        raise NotFound(ref.spot.point(exc.message)) from exc
    try:
        mv = model.version(ref.version) if ref.version is not None else model.default
    except NotFound as exc:
        raise NotFound((ref.version_spot or ref.spot).point(exc.message)) from exc
    try:
        function = mv.get_function(name, argument="model!function")
    except FloeError as exc:
        raise type(exc)(spot.point(exc.message)) from exc
    key = (mv.id, function.name)
    if key in methods:
        return methods[key]
    if function.is_partitioned:
        raise InvalidInput(spot.point(
            f"{function.name} of {mv} is a partitioned (table) function; a SELECT calls row "
            "functions: run it with mv.run(X, partition_column=...)"))
    if function.signature is None:
        raise InvalidInput(spot.point(
            f"{function.name} of {mv} has no signature, so its columns are unknown to SQL; "
            "log the version with sample_input_data= or signatures="))
    udf = f"__floe_{query_id}_{len(methods)}_{re.sub(r'[^a-z0-9_]', '_', function.name.lower())}"
    method = Method(udf,
                     mv, function, tuple(function.signature.inputs),
                     tuple(function.signature.outputs))
    methods[key] = method
    return method


def arguments(exp: Any, method: Method, args: list[Any], spot: Spot) -> list[Any]:
    """The call's arguments in signature order: ``*`` is the inputs by name."""
    if len(args) == 1 and isinstance(args[0], exp.Star):
        return [exp.column(exp.to_identifier(f.name, quoted=True)) for f in method.inputs]
    if len(args) != len(method.inputs):
        expected = ", ".join(f.describe() for f in method.inputs)
        raise InvalidInput(spot.point(
            f"{method.function.name} of {method.label} takes {len(method.inputs)} "
            f"arguments ({expected}), given {len(args)}: pass them in that order, or * to "
            "match the columns by name"))
    return args


def with_fields(exp: Any, text: str, node: Any, call: Any, method: Method,
                 spot: Spot) -> None:
    """Put ``call`` in the place of the method call ``node``: ``node:field`` (Snowflake's
    path access) becomes ``struct_extract(call, 'field')``; ``(node).field`` stays DuckDB's
    field access; a field the function does not output is refused, pointing at it."""
    names = [f.name for f in method.outputs]

    def check(field: str, where: Spot) -> str:
        exact = [n for n in names if n == field]
        match = exact or [n for n in names if n.lower() == field.lower()]
        if not match:
            raise NotFound(where.point(
                f"{method.function.name} of {method.label} has no output {field!r}; "
                f"its outputs: {', '.join(names)}"))
        return match[0]

    parent = node.parent
    if isinstance(parent, exp.JSONExtract) and parent.this is node:
        keys = parent.expression.expressions if isinstance(parent.expression, exp.JSONPath) \
            else []
        keys = [k for k in keys if not isinstance(k, exp.JSONPathRoot)]
        if len(keys) != 1 or not isinstance(keys[0], exp.JSONPathKey):
            raise InvalidInput(_after(text, spot).point(
                "a method's result is an object of its output columns: pick one with "
                ":output_name (one name, no path or index)"))
        field = check(str(keys[0].this), _after(text, spot))
        parent.replace(exp.Anonymous(this="struct_extract",
                                     expressions=[call, exp.Literal.string(field)]))
        return
    outer = parent.parent if isinstance(parent, exp.Paren) else None
    if isinstance(outer, exp.Dot) and outer.this is parent and isinstance(
            outer.expression, exp.Identifier):
        ident = outer.expression
        field = check(ident.this, _node_spot(text, ident))
        outer.set("expression", exp.to_identifier(field, quoted=True))
    node.replace(call)


def _after(text: str, spot: Spot) -> Spot:
    """Where the path access after the method named at ``spot`` starts (its ``:``)."""
    colon = text.find(":", spot.start)
    return _spot(text, colon if colon >= 0 else spot.start)
