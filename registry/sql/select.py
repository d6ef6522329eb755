"""``SELECT`` with model methods, over whatever DuckDB reads: Snowflake's forms, run by DuckDB.

::

    SELECT id, m!predict(a, b) FROM t                       -- m's default version
    SELECT m!predict(*):output_feature_0 FROM read_parquet('dir/**/*.parquet', hive_partitioning=true)
    SELECT (MODEL(m, v2)!predict_proba(*)).output_feature_1 FROM 'scores.csv'
    WITH mv AS MODEL db.s.m VERSION champion SELECT mv!predict(*) FROM t

How it runs (``run_select``), in this order, so that nothing is loaded for a query that does
not parse or names something missing:

1. ``WITH name AS MODEL m [VERSION v]`` entries, which sqlglot does not parse, are read from
   sqlglot's tokens and blanked out (spaces of the same length, so every offset into the text
   stays the user's); the rest is parsed with sqlglot's Snowflake dialect. One statement, a
   query; a parse error points at its word as every Floe statement's does.
2. Each ``model!method(args)`` node (``ModelAttribute``) names a model (a WITH binding, a
   ``[db.[schema.]]name`` resolved as everywhere in Floe, or ``MODEL(m, version_or_alias)``)
   and a function. The version is resolved through the Python API (``get_model``, then
   ``Model.version`` or the default), on the caller's registry, so authorization is the API's.
   The function is ``ModelVersion.get_function``'s choice. Arguments match the signature's
   inputs by position; ``*`` becomes the signature's input columns, by name. A wrong count, a
   partitioned function or a missing output field is refused, pointing at the name.
3. Each distinct (version, function) is prepared once (``ModelVersion.prepare``: one load
   per query at most, none when this process holds the version already) and registered as a
   vectorised DuckDB function (``type="arrow"``): each call gets one Arrow batch (DuckDB's
   vector, 2048 rows), builds a table with the signature's column names and runs it through
   ``PreparedModel.run``, the one run path, then returns the output columns as a STRUCT.
   DuckDB casts an argument to the signature's type where it casts implicitly (widening);
   the run path then validates what arrives (NULLs reach it: it refuses them where the
   signature does, as ``mv.run`` does).
4. The tree is rewritten (each method call becomes its function's call, ``call:field``
   becomes ``struct_extract(call, 'field')``) and written in DuckDB's dialect by sqlglot;
   DuckDB runs it on an in-memory database or on a database file (read-only: a SELECT writes
   nothing), and the result comes back as one Arrow table.

Large batches. DuckDB calls a Python function once per vector of 2,048 rows (a compile-time
constant; duckdb's ``create_function`` has no batch size), and each run-path call has a fixed
cost (validation, the framework's own checks: ~0.3 ms), so a 1M-row scan paid it ~500 times.
A query whose every method call is a per-row map over its FROM therefore runs in two steps
(``_plan``): a plain SELECT (no UNION, JOIN, GROUP BY, HAVING, QUALIFY, DISTINCT ON, WINDOW)
with its calls only in the SELECT list, not under an aggregate or window function, their
arguments free of aggregates, windows, subqueries and other calls, and every column the
SELECT list and ORDER BY read unqualified (``t.x`` might be a struct field). DuckDB runs the
FROM/WHERE (and WITH, and LIMIT/OFFSET when there is no ORDER BY or DISTINCT) with each
call's arguments as columns, cast to the signature's types only where DuckDB casts
implicitly (``can_cast_implicitly``, as the function call would), plus the source columns
the SELECT list and ORDER BY name (found with DESCRIBE, so the scan still reads only those
and partition filters still prune); its Arrow stream is gathered into tables of
``_ROWS_PER_BATCH`` rows (DuckDB streams a parallel scan ~32k rows at a time, whatever size
is asked), each scored once per call through ``PreparedModel.run`` (the same ``_score`` as
the per-vector function); then DuckDB runs the SELECT list, ORDER BY and LIMIT over the
scored table, each call replaced by its STRUCT column, cast to the type the function would
return. Any other shape, or a query DuckDB does not bind in the first step, runs as one
query with the per-vector function (which reports its errors as it always has). The scored
table is held whole before the second step (the kept columns and outputs, not the
arguments: about the result's size, which is held whole anyway): pulling batches from a
Python generator inside DuckDB's second query, on DuckDB's threads, measured no faster.

A ``FloeError`` raised in a batch (a ``ModelError``, an ``InvalidInput`` from validation) is
re-raised as itself, not as DuckDB's wrapping of it; DuckDB's own errors (a missing table, a
binder error) become ``InvalidInput`` with DuckDB's message.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from registry.errors import FloeError, InvalidIdentifier, InvalidInput, NotFound
from registry.identifiers import QualifiedName, format_identifier, parse_qualified_name
from registry.runtime.functions import ModelFunctionInfo
from registry.runtime.signatures import DataType, FeatureSpec
from registry.sql.cursor import Spot, StatementError

if TYPE_CHECKING:
    from types import ModuleType

    from registry.api.model_version import ModelVersion
    from registry.api.prepared import PreparedModel
    from registry.api.registry import Registry

__all__ = ["is_select", "run_select", "write_parquet_atomically"]

log = logging.getLogger(__name__)

_FIRST_WORD = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*|\(\s*)*([A-Za-z]+)", re.S)
_INSTALL = "pip install 'floe[sql]'"
# Signature types as DuckDB's: what each argument is cast to, and each STRUCT field's type.
_DUCKDB_TYPES = {
    DataType.INT8: "TINYINT", DataType.INT16: "SMALLINT", DataType.INT32: "INTEGER",
    DataType.INT64: "BIGINT", DataType.UINT8: "UTINYINT", DataType.UINT16: "USMALLINT",
    DataType.UINT32: "UINTEGER", DataType.UINT64: "UBIGINT", DataType.FLOAT: "FLOAT",
    DataType.DOUBLE: "DOUBLE", DataType.BOOL: "BOOLEAN", DataType.STRING: "VARCHAR",
    DataType.BYTES: "BLOB", DataType.TIMESTAMP: "TIMESTAMP",
}


def is_select(text: object) -> bool:
    """Whether ``text`` is a query (its first word, after comments and parentheses, is
    SELECT or WITH): ``Registry.sql`` runs it here rather than as a model or grant statement."""
    if not isinstance(text, str):
        return False
    match = _FIRST_WORD.match(text)
    return match is not None and match.group(1).upper() in ("SELECT", "WITH")


def _need(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InvalidInput(f"a SELECT runs on DuckDB with sqlglot's parser, and {module} is "
                           f"not installed: {_INSTALL}") from exc


@dataclass(frozen=True)
class _ModelRef:
    """A model as a query names it: its name (resolved) and version or alias (None: the
    default version), and where the name is in the text."""

    name: QualifiedName
    version: str | None
    spot: Spot
    version_spot: Spot | None = None


@dataclass
class _Method:
    """One registered (version, function): the DuckDB function's name and what it runs."""

    udf: str
    version: ModelVersion
    function: ModelFunctionInfo
    inputs: tuple[FeatureSpec, ...]
    outputs: tuple[FeatureSpec, ...]

    @property
    def label(self) -> str:
        return str(self.version)


def run_select(reg: Registry, text: str, *, duckdb_path: str | Path | None = None) -> pa.Table:
    """Run one query with model methods (see the module) as ``reg``'s caller; its rows as
    one Arrow table. ``duckdb_path``: a DuckDB database file whose tables the query reads."""
    sqlglot = _need("sqlglot")
    duckdb = _need("duckdb")
    exp = sqlglot.exp
    blanked, bindings = _take_model_bindings(sqlglot, text)
    tree = _parse(sqlglot, text, blanked)
    query_id = next(_QUERIES)
    methods: dict[tuple[str, str], _Method] = {}
    failures: list[FloeError] = []
    # In pre-order, the method calls come in the order of their "!" in the text.
    nodes = list(tree.find_all(exp.ModelAttribute, bfs=False))
    for node, spot in zip(nodes, _method_spots(sqlglot, text, blanked), strict=False):
        ref = _model_of(exp, text, node.this, bindings)
        name, args = _method_of(exp, text, node)
        method = _register(reg, methods, ref, name, spot, query_id)
        call = exp.Anonymous(this=method.udf,
                             expressions=_arguments(exp, method, args, spot))
        _with_fields(exp, text, node, call, method, spot)
    # Every name checked: now the run path's models, each loaded once however many batches.
    prepared = {method.udf: method.version.prepare() for method in methods.values()}
    query = tree.sql(dialect="duckdb")
    log.debug("SELECT as DuckDB runs it: %s", query)
    plan = _plan(exp, tree, methods)  # rewrites tree: the per-vector query is written above
    con = _connect(duckdb, duckdb_path)
    created: list[str] = []
    try:
        if plan is not None and _typed(exp, con, plan, duckdb):
            log.debug("SELECT materialised: %s, then %s", plan.inner, plan.outer)
            try:
                return _run_materialised(con, plan, prepared, failures)
            except duckdb.Error as exc:
                if failures:
                    raise failures[0] from exc
                raise InvalidInput(f"the query failed in DuckDB: {_one_line(str(exc))}") \
                    from exc
        for method in methods.values():
            con.create_function(
                method.udf, _batch_function(method, prepared[method.udf], failures),
                [_duckdb_type(f) for f in method.inputs], _struct_type(method.outputs),
                type="arrow", null_handling="special",
            )
            created.append(method.udf)
        try:
            return con.sql(query).to_arrow_table()
        except duckdb.Error as exc:
            if failures:
                raise failures[0] from exc
            raise InvalidInput(f"the query failed in DuckDB: {_one_line(str(exc))}") from exc
    finally:
        for udf in created:
            con.remove_function(udf)
        con.close()


def _one_line(message: str) -> str:
    return " ".join(message.split())


_QUERIES = itertools.count()
_memory: Any = None
_memory_lock = threading.Lock()


def _connect(duckdb: ModuleType, path: str | Path | None) -> Any:
    """A connection for one query: a cursor of this process's one in-memory DuckDB, or the
    database file at ``path``, read-only. Opening an in-memory database costs about 15 ms (a
    tenth of a 1M-row query), a cursor microseconds. Cursors share only DuckDB's catalog of
    functions, none of a query's views: each query's functions are named by its own number
    and removed when it ends, so queries in other threads never see them."""
    global _memory
    if path is None:
        with _memory_lock:
            if _memory is None:
                _memory = duckdb.connect(":memory:")
            return _memory.cursor()
    where = Path(path).expanduser()
    if not where.is_file():
        raise NotFound(f"no DuckDB database at {where}; check the path given to --duckdb / "
                       "duckdb_path=")
    try:
        return duckdb.connect(str(where), read_only=True)
    except duckdb.Error as exc:
        raise InvalidInput(f"{where} is not a DuckDB database DuckDB can open: "
                           f"{_one_line(str(exc))}") from exc


# -- parsing --------------------------------------------------------------------------------


def _spot(text: str, start: int, end: int | None = None) -> Spot:
    word = text[start : (end + 1 if end is not None else start + 1)] or text[start:]
    return Spot(text, start, repr(word) if start < len(text) else "the end of the statement")


def _take_model_bindings(sqlglot: ModuleType, text: str) -> tuple[str, dict[str, _ModelRef]]:
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
    bindings: dict[str, _ModelRef] = {}
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
                               _spot(text, alias.start, alias.end)).name] = _ModelRef(
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


def _parse(sqlglot: ModuleType, text: str, blanked: str) -> Any:
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


def _model_of(exp: Any, text: str, node: Any, bindings: dict[str, _ModelRef]) -> _ModelRef:
    spot = _node_spot(text, node)
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "MODEL":
        args = node.expressions
        if len(args) != 2:
            raise StatementError("syntax error " + spot.point(
                "MODEL takes the model and a version or alias: MODEL(m, v1)!predict(...)"))
        inner = _node_spot(text, args[0])
        return _ModelRef(_resolved(_written(exp, args[0]), "model", inner),
                         _written(exp, args[1]), inner, _node_spot(text, args[1]))
    name = _resolved(_written(exp, node), "model", spot)
    if name.database is None and name.schema is None and name.name in bindings:
        return bindings[name.name]
    return _ModelRef(name, None, spot)


def _method_spots(sqlglot: ModuleType, text: str, blanked: str) -> list[Spot]:
    """Where each method name (the word after a ``!``) is written, in the text's order."""
    T = sqlglot.tokens.TokenType
    tokens = sqlglot.tokenize(blanked, read="snowflake")
    return [_spot(text, tokens[k + 1].start, tokens[k + 1].end)
            for k in range(len(tokens) - 1) if tokens[k].token_type == T.EXCLAMATION]


def _method_of(exp: Any, text: str, node: Any) -> tuple[str, list[Any]]:
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


def _register(reg: Registry, methods: dict[tuple[str, str], _Method], ref: _ModelRef,
              name: str, spot: Spot, query_id: int) -> _Method:
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
    method = _Method(udf,
                     mv, function, tuple(function.signature.inputs),
                     tuple(function.signature.outputs))
    methods[key] = method
    return method


def _arguments(exp: Any, method: _Method, args: list[Any], spot: Spot) -> list[Any]:
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


def _with_fields(exp: Any, text: str, node: Any, call: Any, method: _Method,
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


def _duckdb_type(feature: FeatureSpec) -> str:
    base = _DUCKDB_TYPES[feature.dtype]
    return base if feature.shape is None else base + "[]" * len(feature.shape)


def _struct_type(outputs: tuple[FeatureSpec, ...]) -> str:
    fields = ", ".join(f'"{f.name.replace(chr(34), chr(34) * 2)}" {_duckdb_type(f)}'
                       for f in outputs)
    return f"STRUCT({fields})"


def _batch_function(method: _Method, prepared: PreparedModel,
                    failures: list[FloeError]) -> Callable[..., pa.Array]:
    """The DuckDB function of one (version, function): one Arrow batch in, one STRUCT array
    out, through the one run path."""
    names = [f.name for f in method.inputs]

    def score(*arrays: pa.Array | pa.ChunkedArray) -> pa.Array:
        return _score(method, prepared, arrays, failures)

    # DuckDB counts a Python function's parameters to check its arity against the types.
    setattr(score, "__signature__", inspect.Signature([  # noqa: B010
        inspect.Parameter(f"x{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(names))
    ]))
    return score


# -- materialising: the model on large batches -----------------------------------------------

_ROWS_PER_BATCH = 262_144
_SCORED = "__floe_scored"
# The clauses of a query whose method calls are a per-row map from its FROM/WHERE's rows.
_PLAIN = frozenset({"expressions", "from_", "where", "order", "limit", "offset", "with_",
                    "distinct", "kind"})


@dataclass
class _Call:
    """One distinct method call of a materialised query: its function, the inner query's
    columns that hold its arguments (in signature order) and the scored stream's column that
    holds its STRUCT."""

    method: _Method
    arguments: list[str]
    result: str


@dataclass
class _Plan:
    """A query in two steps: ``inner`` (FROM/WHERE with the arguments as columns, streamed in
    large batches and scored) and ``outer`` (the SELECT list, ORDER BY, LIMIT over them)."""

    calls: list[_Call]
    items: list[Any]  # the inner query's argument items (sqlglot ``arg AS "__floe_a.."``)
    names: set[str]  # the column names the outer query reads (lower case)
    has_star: bool
    inner: Any  # sqlglot Select, without its SELECT list until ``_typed``
    outer: str


def _plan(exp: Any, tree: Any, methods: dict[tuple[str, str], _Method]) -> _Plan | None:
    """The two steps of ``tree`` (rewritten in place), or None where it is not a plain
    per-row query over its FROM: see the module's "Large batches"."""
    udfs = {m.udf: m for m in methods.values()}
    if not udfs or not isinstance(tree, exp.Select) or tree.args.get("from_") is None:
        return None
    if any(v for k, v in tree.args.items() if k not in _PLAIN):
        return None
    distinct = tree.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        return None
    barrier = (exp.AggFunc, exp.Window, exp.Query, exp.Subquery)
    calls = [n for n in tree.find_all(exp.Anonymous) if n.this in udfs]
    for call in calls:
        node = call
        while node.parent is not tree:
            node = node.parent
            if node is None or isinstance(node, barrier):
                return None
        if node.arg_key != "expressions":  # a call in WHERE, ORDER BY, ...
            return None
        if any(isinstance(n, barrier) or (isinstance(n, exp.Anonymous) and n.this in udfs)
               for arg in call.expressions for n in arg.walk()):
            return None
    keyed: dict[str, _Call] = {}
    items: list[Any] = []
    for call in calls:
        method = udfs[call.this]
        key = call.sql(dialect="duckdb")
        if key not in keyed:
            k = len(keyed)
            held = [f"__floe_a{k}_{i}" for i in range(len(call.expressions))]
            items += [exp.alias_(arg.copy(), name, quoted=True)
                      for arg, name in zip(call.expressions, held, strict=True)]
            keyed[key] = _Call(method, held, f"__floe_r{k}")
        call.replace(exp.Cast(this=exp.column(keyed[key].result, quoted=True),
                              to=exp.DataType.build(_struct_type(method.outputs),
                                                    dialect="duckdb")))
    outer_part = [*tree.expressions, *([tree.args["order"]] if tree.args.get("order") else [])]
    names: set[str] = set()
    has_star = False
    for part in outer_part:
        for n in part.walk():
            if isinstance(n, barrier):
                return None
            if isinstance(n, exp.Column):
                if n.table:  # t.x (or a struct's field): the per-vector path binds it
                    return None
                names.add(n.name.lower())
            if isinstance(n, exp.Star):
                has_star = True
                n.set("except_", [*(n.args.get("except_") or []),
                                  *(exp.column(c.result, quoted=True)
                                    for c in keyed.values())])
    inner = exp.Select(from_=tree.args["from_"].pop(), where=tree.args.get("where"),
                       with_=tree.args.get("with_"))
    for clause in ("where", "with_"):
        tree.set(clause, None)
    if not tree.args.get("order") and not tree.args.get("distinct"):
        for clause in ("limit", "offset"):  # the outer query maps rows one to one
            inner.set(clause, tree.args.get(clause))
            tree.set(clause, None)
    tree.set("from_", exp.From(this=exp.to_table(_SCORED)))
    return _Plan(list(keyed.values()), items, names, has_star, inner,
                 tree.sql(dialect="duckdb"))


def _typed(exp: Any, con: Any, plan: _Plan, duckdb: ModuleType) -> bool:
    """Complete ``plan.inner`` (the source columns the outer query reads, each argument cast
    to its signature type): False, for the per-vector path, where DuckDB does not bind it or
    an argument does not cast implicitly (the per-vector path reports it as it always has)."""
    probe = exp.Select(expressions=[exp.Star()], from_=plan.inner.args["from_"].copy(),
                       with_=plan.inner.args.get("with_"))
    try:
        source = [row[0] for row in con.execute("DESCRIBE " + probe.sql(dialect="duckdb"))
                  .fetchall()]
        passed = [exp.Star()] if plan.has_star else [
            exp.column(name, quoted=True) for name in source if name.lower() in plan.names]
        plan.inner.set("expressions", [*passed, *plan.items])
        types = dict(row[:2] for row in con.execute(
            "DESCRIBE " + plan.inner.sql(dialect="duckdb")).fetchall())
        casts: dict[str, str] = {}
        for call in plan.calls:
            for name, feature in zip(call.arguments, call.method.inputs, strict=True):
                given, wanted = types[name], _duckdb_type(feature)
                if given != wanted:
                    ok = con.execute(f"SELECT can_cast_implicitly(NULL::{given}, "
                                     f"NULL::{wanted})").fetchone()
                    if not (ok and ok[0]):
                        return False
                    casts[name] = wanted
    except duckdb.Error:
        return False
    for item in plan.items:
        if item.alias in casts:
            item.set("this", exp.Cast(this=item.this,
                                      to=exp.DataType.build(casts[item.alias],
                                                            dialect="duckdb")))
    plan.inner = plan.inner.sql(dialect="duckdb")
    return True


def _run_materialised(con: Any, plan: _Plan, prepared: dict[str, PreparedModel],
                      failures: list[FloeError]) -> pa.Table:
    """DuckDB streams the inner query; its batches, gathered to ``_ROWS_PER_BATCH`` rows, go
    through the run path once per call, in this thread; DuckDB runs the outer query over
    the scored table (the columns the outer query reads and the STRUCTs, not the
    arguments: about the result's size)."""
    source = con.sql(plan.inner).to_arrow_reader(_ROWS_PER_BATCH)
    arguments = {a for c in plan.calls for a in c.arguments}
    kept = [i for i, f in enumerate(source.schema) if f.name not in arguments]
    where = {f.name: i for i, f in enumerate(source.schema)}
    schema = pa.schema([source.schema.field(i) for i in kept]
                       + [pa.field(c.result, _arrow_struct(c.method)) for c in plan.calls])
    parts: list[pa.Table] = []
    for group in _groups(source, _ROWS_PER_BATCH):
        columns = [group.column(i) for i in kept]
        columns += [_score(c.method, prepared[c.method.udf],
                           [group.column(where[a]) for a in c.arguments], failures)
                    for c in plan.calls]
        parts.append(pa.Table.from_arrays(columns, schema=schema))
    outer = con.cursor()
    try:
        outer.register(_SCORED, pa.concat_tables(parts) if parts else schema.empty_table())
        return outer.sql(plan.outer).to_arrow_table()
    finally:
        outer.close()


def _groups(source: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """``source``'s batches gathered into tables of at least ``rows`` rows (the last one
    fewer): DuckDB streams a parallel scan in batches of its own size (a Parquet row
    group's share, ~32k rows), whatever size is asked for; a table of chunked columns is
    not copied until the run path makes its numpy array."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in source:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending, schema=source.schema)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema=source.schema)


def _arrow_struct(method: _Method) -> pa.StructType:
    return pa.struct([pa.field(f.name, f.arrow_type()) for f in method.outputs])


def _score(method: _Method, prepared: PreparedModel,
           arrays: Sequence[pa.Array | pa.ChunkedArray], failures: list[FloeError]) -> pa.Array:
    """One batch of one (version, function), whatever its length, through the one run path
    (``PreparedModel.run``: validation included); its outputs as one STRUCT array. A
    ``FloeError`` is kept in ``failures`` (DuckDB re-raises it as its own error)."""
    struct = _arrow_struct(method)
    try:
        table = pa.table(dict(zip([f.name for f in method.inputs], arrays, strict=True)))
        out = prepared.run(table, function_name=f'"{method.function.name}"')
        columns = [out.column(f.name).combine_chunks().cast(f.type) for f in struct]
        return pa.StructArray.from_arrays(columns, fields=list(struct))
    except FloeError as exc:
        failures.append(exc)
        raise


def write_parquet_atomically(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` to the Parquet file ``path`` atomically: into a temporary file in the
    same directory, then ``os.replace``d over ``path``; a failure leaves neither file."""
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise NotFound(f"no directory {target.parent} to write {target.name} in; create it "
                       "first")
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
