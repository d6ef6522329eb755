"""``floe sql "SELECT ..."``: a table of the rows, ``--json``, ``--output`` written atomically
(a failing query leaves no file and keeps an existing one), ``--duckdb`` tables, and a bad
query as one ``error:`` line with exit 1 (in process through ``registry.cli.main``)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from registry import Registry
from tests.models import iris
from tests.registry.cli.conftest import Shell
from tests.registry.cli.test_app import log_iris


@pytest.fixture
def flowers(reg: Registry, tmp_path: Path) -> Path:
    log_iris(reg, "v1")
    X, _ = iris()
    path = tmp_path / "flowers.parquet"
    X.assign(id=range(len(X))).to_parquet(path)
    return path


def test_floe_sql_select_prints_writes_and_reads_duckdb(reg: Registry, sh: Shell,
                                                        flowers: Path, tmp_path: Path) -> None:
    X, _ = iris()
    want = reg.get_model("iris").default.run(X, function_name="predict")["output_feature_0"]
    query = (f"SELECT id, iris!predict(*):output_feature_0 AS p FROM '{flowers}' "
             "ORDER BY id LIMIT 3")
    table = sh.ok("sql", query)
    assert table.splitlines()[0] == query and "id" in table and " p" in table
    assert sh.json("sql", query) == [{"id": i, "p": int(want[i])} for i in range(3)]

    out = tmp_path / "out.parquet"
    assert sh.ok("sql", query, "--output", str(out)) == f"wrote 3 rows to {out}\n"
    assert pq.read_table(out).column("p").to_pylist() == want[:3].tolist()
    before = out.read_bytes()
    assert sh.error("sql", "SELECT nope!predict(*) FROM t", "--output", str(out)).startswith(
        "error: at 'nope' (position 8): ML.REGISTRY has no model NOPE")
    assert out.read_bytes() == before  # a failure leaves the file as it was
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []

    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE flowers AS SELECT * FROM '{flowers}'")
    rows = sh.json("sql", "SELECT iris!predict(*):output_feature_0 AS p FROM flowers "
                   "ORDER BY id", "--duckdb", str(db))
    assert [r["p"] for r in rows] == want.tolist()


def test_a_bad_select_is_one_error_line(reg: Registry, sh: Shell, flowers: Path) -> None:
    assert sh.error("sql", f"SELECT iris!predict(sepal_length) FROM '{flowers}'").startswith(
        "error: at 'predict' (position 13): predict of ML.REGISTRY.IRIS version V1 takes 4 "
        "arguments")
    assert sh.error("sql", "SELECT * FROM WHERE").startswith("error: syntax error at 'WHERE'")
