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
import itertools
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from registry.errors import FloeError, InvalidInput, NotFound
from registry.sql._duckdb_run import (
    batch_function,
    duckdb_type,
    plan_materialised,
    run_materialised,
    struct_type,
    typed,
)
from registry.sql._resolve import (
    Method,
    arguments,
    method_of,
    method_spots,
    model_of,
    parse_query,
    register,
    take_model_bindings,
    with_fields,
)

if TYPE_CHECKING:
    from types import ModuleType

    from registry.api.registry import Registry

__all__ = ["is_select", "run_select"]

log = logging.getLogger(__name__)

_FIRST_WORD = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*|\(\s*)*([A-Za-z]+)", re.S)
_INSTALL = "pip install 'floe[sql]'"
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


def run_select(reg: Registry, text: str, *, duckdb_path: str | Path | None = None) -> pa.Table:
    """Run one query with model methods (see the module) as ``reg``'s caller; its rows as
    one Arrow table. ``duckdb_path``: a DuckDB database file whose tables the query reads."""
    sqlglot = _need("sqlglot")
    duckdb = _need("duckdb")
    exp = sqlglot.exp
    blanked, bindings = take_model_bindings(sqlglot, text)
    tree = parse_query(sqlglot, text, blanked)
    query_id = next(_QUERIES)
    methods: dict[tuple[str, str], Method] = {}
    failures: list[FloeError] = []
    # In pre-order, the method calls come in the order of their "!" in the text.
    nodes = list(tree.find_all(exp.ModelAttribute, bfs=False))
    for node, spot in zip(nodes, method_spots(sqlglot, text, blanked), strict=False):
        ref = model_of(exp, text, node.this, bindings)
        name, args = method_of(exp, text, node)
        method = register(reg, methods, ref, name, spot, query_id)
        call = exp.Anonymous(this=method.udf,
                             expressions=arguments(exp, method, args, spot))
        with_fields(exp, text, node, call, method, spot)
    # Every name checked: now the run path's models, each loaded once however many batches.
    prepared = {method.udf: method.version.prepare() for method in methods.values()}
    query = tree.sql(dialect="duckdb")
    log.debug("SELECT as DuckDB runs it: %s", query)
    plan = plan_materialised(exp, tree, methods)  # rewrites tree: the query above is written
    con = _connect(duckdb, duckdb_path)
    created: list[str] = []
    try:
        if plan is not None and typed(exp, con, plan, duckdb):
            log.debug("SELECT materialised: %s, then %s", plan.inner, plan.outer)
            try:
                return run_materialised(con, plan, prepared, failures)
            except duckdb.Error as exc:
                if failures:
                    raise failures[0] from exc
                raise InvalidInput(f"the query failed in DuckDB: {_one_line(str(exc))}") \
                    from exc
        for method in methods.values():
            con.create_function(
                method.udf, batch_function(method, prepared[method.udf], failures),
                [duckdb_type(f) for f in method.inputs], struct_type(method.outputs),
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
