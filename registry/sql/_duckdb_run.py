"""A resolved query run on DuckDB (step 3 and "Large batches" of ``registry.sql.select``):
each (version, function) as a vectorised DuckDB function of one Arrow batch, and the
two-step plan that scores a plain per-row query in batches of ``_ROWS_PER_BATCH`` rows, both
through ``PreparedModel.run``, the one run path."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from registry.errors import FloeError
from registry.runtime.signatures import DataType, FeatureSpec
from registry.sql._resolve import Method

if TYPE_CHECKING:
    from types import ModuleType

    from registry.api.prepared import PreparedModel

__all__ = ["Plan", "batch_function", "duckdb_type", "plan_materialised", "run_materialised",
           "struct_type", "typed"]

# Signature types as DuckDB's: what each argument is cast to, and each STRUCT field's type.
_DUCKDB_TYPES = {
    DataType.INT8: "TINYINT", DataType.INT16: "SMALLINT", DataType.INT32: "INTEGER",
    DataType.INT64: "BIGINT", DataType.UINT8: "UTINYINT", DataType.UINT16: "USMALLINT",
    DataType.UINT32: "UINTEGER", DataType.UINT64: "UBIGINT", DataType.FLOAT: "FLOAT",
    DataType.DOUBLE: "DOUBLE", DataType.BOOL: "BOOLEAN", DataType.STRING: "VARCHAR",
    DataType.BYTES: "BLOB", DataType.TIMESTAMP: "TIMESTAMP",
}


def duckdb_type(feature: FeatureSpec) -> str:
    base = _DUCKDB_TYPES[feature.dtype]
    return base if feature.shape is None else base + "[]" * len(feature.shape)


def struct_type(outputs: tuple[FeatureSpec, ...]) -> str:
    fields = ", ".join(f'"{f.name.replace(chr(34), chr(34) * 2)}" {duckdb_type(f)}'
                       for f in outputs)
    return f"STRUCT({fields})"


def batch_function(method: Method, prepared: PreparedModel,
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

    method: Method
    arguments: list[str]
    result: str


@dataclass
class Plan:
    """A query in two steps: ``inner`` (FROM/WHERE with the arguments as columns, streamed in
    large batches and scored) and ``outer`` (the SELECT list, ORDER BY, LIMIT over them)."""

    calls: list[_Call]
    items: list[Any]  # the inner query's argument items (sqlglot ``arg AS "__floe_a.."``)
    names: set[str]  # the column names the outer query reads (lower case)
    has_star: bool
    inner: Any  # sqlglot Select, without its SELECT list until ``typed``
    outer: str


def plan_materialised(exp: Any, tree: Any, methods: dict[tuple[str, str], Method]) -> Plan | None:
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
                              to=exp.DataType.build(struct_type(method.outputs),
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
    return Plan(list(keyed.values()), items, names, has_star, inner,
                 tree.sql(dialect="duckdb"))


def typed(exp: Any, con: Any, plan: Plan, duckdb: ModuleType) -> bool:
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
                given, wanted = types[name], duckdb_type(feature)
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


def run_materialised(con: Any, plan: Plan, prepared: dict[str, PreparedModel],
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


def _arrow_struct(method: Method) -> pa.StructType:
    return pa.struct([pa.field(f.name, f.arrow_type()) for f in method.outputs])


def _score(method: Method, prepared: PreparedModel,
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
