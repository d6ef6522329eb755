"""``reg.sql("SELECT id, m!predict(*) ... FROM read_parquet(...)")`` against the ways to score
the same Parquet table without Floe's SQL.

    .venv/bin/python benchmarks/sql_scoring.py [--rows 1000000] [--repeat 7]

Writes a hive-partitioned Parquet table (``p=0..9/*.parquet``, an ``id`` column and four
float64 features), fits a scikit-learn LinearRegression on 1,000 of its rows and logs it to a
fresh Floe catalog as LIN. Then, in this process, times on the same table (best of
``--repeat`` rounds, the model already loaded by a warm-up round for every contender):

- floe sql: ``reg.sql("SELECT id, lin!predict(*):output_feature_0 AS y FROM
  read_parquet('.../**/*.parquet', hive_partitioning=true)")``: parse, resolve, register the
  DuckDB function, DuckDB's scan and the one run path on each 2048-row batch, to a DataFrame;
- floe sql (filter): the same with ``WHERE p = 3`` (a tenth of the rows; pruned files);
- mv.run in memory: the table read with ``pyarrow.parquet.read_table`` (not timed) and
  ``mv.run`` on it whole;
- hand-written DuckDB: ``duckdb.sql("SELECT * FROM read_parquet(...)").df()`` and the
  model's own ``predict`` on the feature columns, the read timed: what a DuckDB user writes.

The ratio column is each contender's rows/s over the hand-written path's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LinearRegression

from registry import Registry

COLUMNS = ["a", "b", "c", "d"]


def best_of(repeat: int, fns: list[Callable[[], object]]) -> list[float]:
    """Each function's best time of ``repeat`` rounds, the rounds interleaved (one call of
    each per round), so that a busy spell on a shared machine slows every contender alike."""
    for fn in fns:
        fn()  # warm-up: loads the model, fills the OS cache
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    n = args.rows
    work = Path(tempfile.mkdtemp(prefix="floe-sql-bench-"))
    rng = np.random.default_rng(0)
    X = rng.random((n, len(COLUMNS)))
    table = pa.table({**{c: X[:, i] for i, c in enumerate(COLUMNS)}, "id": np.arange(n),
                      "p": np.repeat(np.arange(10), -(-n // 10))[:n]})
    pq.write_to_dataset(table, work / "data", partition_cols=["p"])
    model = LinearRegression().fit(X[:1000], X[:1000] @ np.array([1.0, -2.0, 3.0, 0.5]))
    reg = Registry(catalog_url=f"sqlite:///{work / 'catalog.db'}",
                   artifact_root=str(work / "artifacts"))
    mv = reg.log_model(model, model_name="lin", version_name="v1",
                       sample_input_data=pd.DataFrame(X[:5], columns=COLUMNS))
    source = f"read_parquet('{work}/data/**/*.parquet', hive_partitioning=true)"
    query = f"SELECT id, lin!predict(*):output_feature_0 AS y FROM {source}"
    in_memory = pq.read_table(work / "data").select(COLUMNS)

    def hand_written() -> object:
        frame = duckdb.sql(f"SELECT * FROM {source}").df()
        return frame[["id"]].assign(y=model.predict(frame[COLUMNS]))

    got = reg.sql(query + " ORDER BY id")["y"].to_numpy()
    want = mv.run(in_memory)["output_feature_0"].to_numpy()
    assert np.array_equal(got, want), "the SQL path and mv.run disagree"

    contenders: list[tuple[str, int, Callable[[], object]]] = [
        ("hand-written DuckDB", n, hand_written),
        ("floe sql", n, lambda: reg.sql(query)),
        ("floe sql (filter)", n // 10, lambda: reg.sql(query + " WHERE p = 3")),
        ("mv.run in memory", n, lambda: mv.run(in_memory)),
    ]
    seconds = best_of(args.repeat, [fn for _, _, fn in contenders])
    timed = [(name, rows, spent) for (name, rows, _), spent in zip(contenders, seconds,
                                                                   strict=True)]
    base = timed[0][1] / timed[0][2]
    print(f"{n:,} rows, 10 hive partitions, LinearRegression; best of {args.repeat}")
    print(f"{'contender':<22}{'rows':>11}{'seconds':>10}{'rows/s':>14}{'ratio':>8}")
    for name, rows, seconds in timed:
        rate = rows / seconds
        print(f"{name:<22}{rows:>11,}{seconds:>10.3f}{rate:>14,.0f}{rate / base:>8.2f}")


if __name__ == "__main__":
    main()
