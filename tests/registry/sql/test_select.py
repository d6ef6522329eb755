"""``Registry.sql`` with a SELECT that calls model methods (``registry.sql.select``): each of
Snowflake's forms gives what ``mv.run`` gives on the same rows; ``:field`` and ``(...).field``
pick an output; ``*`` maps columns by name; a 1M-row hive-partitioned Parquet table scores
like ``mv.run`` and a partition filter opens only its partition's files; the model is loaded
once per query; a role that may not use the model is refused as the API refuses; a query
that does not parse or names something missing is one clear error pointing at the name."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression

from registry import CustomModel, FloeError, InvalidInput, NotFound, Registry, inference_api
from registry.runtime.load import clear_loaded_models, load_counts
from tests.models import iris_classifier
from tests.served import served

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
_classifier = functools.cache(iris_classifier)


@pytest.fixture
def data(reg: Registry, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """IRIS v1 and v2 logged (v2 the LAST, alias CHAMPION on v1), and its rows with an id as
    Parquet, columns in an order of their own and an extra one."""
    clf, X = _classifier()
    for version in ("v1", "v2"):
        reg.log_model(clf, model_name="iris", version_name=version, sample_input_data=X[:5])
    reg.get_model("iris").version("v1").set_alias("champion")
    frame = X[FEATURES[::-1]].assign(id=np.arange(len(X)), note="x")
    path = tmp_path / "iris.parquet"
    frame.to_parquet(path)
    return path, frame


def expected(reg: Registry, frame: pd.DataFrame, function: str, version: str = "v1",
             column: str = "output_feature_0") -> list[float]:
    mv = reg.get_model("iris").version(version)
    return mv.run(frame[FEATURES], function_name=function)[column].tolist()


def test_each_form_gives_what_mv_run_gives(reg: Registry,
                                           data: tuple[Path, pd.DataFrame]) -> None:
    path, frame = data
    src = f"'{path}'"
    cols = ", ".join(FEATURES)
    predict = expected(reg, frame, "predict")
    proba1 = expected(reg, frame, "predict_proba", column="output_feature_1")
    forms = {
        f"SELECT id, iris!predict({cols}):output_feature_0 AS p FROM {src} ORDER BY id": predict,
        f"SELECT id, (MODEL(iris, v1)!predict_proba(*)).output_feature_1 AS p FROM {src} "
        "ORDER BY id": proba1,
        f"SELECT id, MODEL(iris, champion)!predict_proba(*):output_feature_1 AS p FROM {src} "
        "ORDER BY id": proba1,
        f"WITH mv AS MODEL iris VERSION v2 SELECT id, mv!predict_proba(*):output_feature_1 AS p "
        f"FROM {src} ORDER BY id": expected(reg, frame, "predict_proba", "v2",
                                            "output_feature_1"),
        f"WITH mv AS MODEL ml.registry.iris VERSION v1, t AS (SELECT * FROM {src}) "
        "SELECT id, mv!PREDICT(*):output_feature_0 AS p FROM t ORDER BY id": predict,
        f"WITH t AS (SELECT * FROM {src}), mv AS MODEL iris VERSION champion "
        "SELECT id, mv!predict(*):output_feature_0 AS p FROM t ORDER BY id": predict,
    }
    for query, want in forms.items():
        got = reg.sql(query)
        assert got["id"].tolist() == frame["id"].tolist(), query
        assert got["p"].tolist() == pytest.approx(want), query
    whole = reg.sql(f"SELECT id, iris!predict_proba(*) AS p FROM {src} ORDER BY id", arrow=True)
    assert isinstance(whole, pa.Table)  # an object (STRUCT) of the function's outputs
    assert whole.schema.field("p").type == pa.struct(
        [(f"output_feature_{i}", pa.float64()) for i in range(3)])
    assert whole.column("p").combine_chunks().field(1).to_pylist() == pytest.approx(proba1)
    # without a version: the default (v1, the first logged, until another is made default)
    reg.get_model("iris").default = "v2"
    assert reg.sql(f"SELECT iris!predict(*):output_feature_0 AS p FROM {src} ORDER BY id")[
        "p"].tolist() == expected(reg, frame, "predict", "v2")


def test_star_maps_by_name_and_a_list_by_position(reg: Registry,
                                                  data: tuple[Path, pd.DataFrame]) -> None:
    path, frame = data
    want = expected(reg, frame, "predict_proba", column="output_feature_2")
    star = reg.sql(f"SELECT MODEL(iris, v1)!predict_proba(*):output_feature_2 AS p "
                   f"FROM '{path}' ORDER BY id")  # the file's columns are in reverse order
    assert star["p"].tolist() == pytest.approx(want)
    backwards = ", ".join(FEATURES[::-1])  # by position: the signature's order is what counts
    swapped = reg.sql(f"SELECT MODEL(iris, v1)!predict_proba({backwards}):output_feature_2 AS p"
                      f" FROM '{path}' ORDER BY id")
    assert swapped["p"].tolist() != pytest.approx(want)


def test_the_model_is_loaded_once_per_query(reg: Registry, tmp_path: Path) -> None:
    clf, X = _classifier()
    mv = reg.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:5])
    big = pd.concat([X] * 60, ignore_index=True)  # 9,000 rows: several DuckDB batches
    big.to_parquet(tmp_path / "big.parquet")
    clear_loaded_models()
    before = load_counts().get(mv.id, 0)
    got = reg.sql(f"SELECT iris!predict(*):output_feature_0 AS a, "
                  f"iris!predict_proba(*):output_feature_0 AS b FROM '{tmp_path}/big.parquet'")
    assert len(got) == len(big)
    assert load_counts()[mv.id] - before == 1


def test_a_hive_partitioned_million_rows_score_as_mv_run(reg: Registry, tmp_path: Path) -> None:
    n, parts = 1_000_000, 10
    rng = np.random.default_rng(7)
    X = rng.random((n, 4))
    cols = ["a", "b", "c", "d"]
    model = LinearRegression().fit(X[:1000], X[:1000] @ np.array([1.0, -2.0, 3.0, 0.5]))
    mv = reg.log_model(model, model_name="lin", version_name="v1",
                       sample_input_data=pd.DataFrame(X[:5], columns=cols))
    table = pa.table({**{c: X[:, i] for i, c in enumerate(cols)}, "id": np.arange(n),
                      "p": np.repeat(np.arange(parts), n // parts)})
    pq.write_to_dataset(table, tmp_path / "data", partition_cols=["p"])
    glob = f"read_parquet('{tmp_path}/data/**/*.parquet', hive_partitioning=true)"

    got = reg.sql(f"SELECT id, lin!predict(*):output_feature_0 AS y FROM {glob} ORDER BY id",
                  arrow=True)
    want = mv.run(table.select(cols))
    assert got.num_rows == n
    np.testing.assert_array_equal(got.column("id").to_numpy(), np.arange(n))
    np.testing.assert_array_equal(got.column("y").to_numpy(),
                                  want.column("output_feature_0").to_numpy())

    # The other partitions' files made unreadable: a filter on p opens only p=3's (and, to
    # bind the query, the footer of the first file, p=0's, for the schema).
    for other in (tmp_path / "data").iterdir():
        if other.name not in ("p=0", "p=3"):
            for f in other.glob("*.parquet"):
                f.write_bytes(b"not parquet")
    one = reg.sql(f"SELECT id, lin!predict(*):output_feature_0 AS y FROM {glob} WHERE p = 3 "
                  "ORDER BY id")
    rows = np.arange(3 * n // parts, 4 * n // parts)
    np.testing.assert_array_equal(one["id"].to_numpy(), rows)
    np.testing.assert_array_equal(one["y"].to_numpy(),
                                  want.column("output_feature_0").to_numpy()[rows])
    with pytest.raises(InvalidInput, match="the query failed in DuckDB"):  # they would fail
        reg.sql(f"SELECT count(*) AS n FROM {glob} WHERE p IN (3, 4)")


class CountsItsBatch(CustomModel):
    """``y = a + 2b``, and, on each row, how many rows the batch it was scored in had."""

    @inference_api
    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rows": np.full(len(frame), len(frame), dtype=np.int64),
                             "y": frame["a"] + 2 * frame["b"]})


def test_a_per_row_query_scores_large_batches_and_others_each_vector(
        reg: Registry, tmp_path: Path) -> None:
    n = 10_000  # five DuckDB vectors
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "id": np.arange(n)})
    frame.to_parquet(tmp_path / "t.parquet")
    mv = reg.log_model(CountsItsBatch(), model_name="counter", version_name="v1",
                       sample_input_data=frame[["a", "b"]][:5])
    want = mv.run(frame[["a", "b"]], function_name="score")["y"].to_numpy()
    src = f"'{tmp_path}/t.parquet'"
    # The calls only in the SELECT list over one FROM: one batch of every row (materialised).
    eligible = reg.sql(f"SELECT id, counter!score(a, b):rows AS n, (counter!score(*)).y AS y "
                       f"FROM {src} WHERE id >= 0 ORDER BY id")
    assert set(eligible["n"]) == {n}
    np.testing.assert_array_equal(eligible["y"].to_numpy(), want)
    # A call in WHERE, or under an aggregate: DuckDB's vectors, one run each (the fallback).
    filtered = reg.sql(f"SELECT id, counter!score(*):rows AS n, counter!score(*):y AS y "
                       f"FROM {src} WHERE counter!score(*):y > -1 ORDER BY id")
    assert filtered["n"].max() <= 2048
    np.testing.assert_array_equal(filtered["y"].to_numpy(), want)
    grouped = reg.sql(f"SELECT max(counter!score(*):rows) AS n, sum(counter!score(*):y) AS y "
                      f"FROM {src}")
    assert grouped["n"][0] <= 2048
    assert grouped["y"][0] == pytest.approx(want.sum())


def test_queries_in_threads_share_one_duckdb_and_leave_no_function_behind(
        reg: Registry, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from registry.sql import select

    n = 5_000
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "id": np.arange(n)})
    frame.to_parquet(tmp_path / "t.parquet")
    mv = reg.log_model(CountsItsBatch(), model_name="counter", version_name="v1",
                       sample_input_data=frame[["a", "b"]][:5])
    want = mv.run(frame[["a", "b"]], function_name="score")["y"].to_numpy()
    # the call in WHERE: the per-vector functions, registered in DuckDB's shared catalog
    query = (f"SELECT id, counter!score(*):y AS y FROM '{tmp_path}/t.parquet' "
             "WHERE counter!score(*):y > -1 ORDER BY id")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: reg.sql(query), range(8)))
    for got in results:
        np.testing.assert_array_equal(got["y"].to_numpy(), want)
    leftover = select._memory.sql("SELECT function_name FROM duckdb_functions() "
                                  "WHERE function_name LIKE '__floe_%'").fetchall()
    assert leftover == []


def test_csv_and_duckdb_tables(reg: Registry, data: tuple[Path, pd.DataFrame],
                               tmp_path: Path) -> None:
    _, frame = data
    want = expected(reg, frame, "predict")
    frame.to_csv(tmp_path / "iris.csv", index=False)
    csv = reg.sql(f"SELECT iris!predict(*):output_feature_0 AS p FROM '{tmp_path}/iris.csv' "
                  "ORDER BY id")
    assert csv["p"].tolist() == want
    db = tmp_path / "flowers.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("frame", frame)
        con.execute("CREATE TABLE flowers AS SELECT * FROM frame")
    got = reg.sql("SELECT id, iris!predict(*):output_feature_0 AS p FROM flowers ORDER BY id",
                  duckdb_path=db)
    assert got["p"].tolist() == want
    with pytest.raises(NotFound, match="no DuckDB database at"):
        reg.sql("SELECT 1 AS x", duckdb_path=tmp_path / "missing.duckdb")
    with pytest.raises(InvalidInput, match="duckdb_path= applies to a SELECT"):
        reg.sql("SHOW MODELS", duckdb_path=db)


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("SELECT iris!predict(*) FROM WHERE", FloeError, "syntax error at 'WHERE' "
         "(position 29)"),
        ("SELECT nope!predict(*) FROM t", NotFound, "at 'nope' (position 8): ML.REGISTRY has "
         "no model NOPE; list them"),
        ("SELECT MODEL(iris, v9)!predict(*) FROM t", NotFound, "at 'v9' (position 20): "
         "ML.REGISTRY.IRIS has no version or alias V9"),
        ("WITH mv AS MODEL iris VERSION v9 SELECT mv!predict(*) FROM t", NotFound,
         "at 'v9' (position 31): ML.REGISTRY.IRIS has no version or alias V9"),
        ("SELECT iris!score(*) FROM t", NotFound, "at 'score' (position 13): ML.REGISTRY.IRIS "
         "version V1 has no function 'score'; set model!function to one of"),
        ("SELECT iris!predict(sepal_length) FROM t", InvalidInput, "at 'predict' (position "
         "13): predict of ML.REGISTRY.IRIS version V1 takes 4 arguments (sepal_length DOUBLE, "
         "sepal_width DOUBLE, petal_length DOUBLE, petal_width DOUBLE), given 1"),
        ("SELECT iris!predict(*):zzz FROM t", NotFound, "at ':' (position 23): predict of "
         "ML.REGISTRY.IRIS version V1 has no output 'zzz'; its outputs: output_feature_0"),
        ("SELECT 1 AS a; SELECT 2 AS b", InvalidInput, "expected one query"),
        ("SELECT * FROM no_such_table", InvalidInput, "the query failed in DuckDB: Catalog "
         "Error: Table with name no_such_table does not exist"),
    ],
)  # fmt: skip
def test_a_bad_query_is_one_clear_error(reg: Registry, data: tuple[Path, pd.DataFrame],
                                        query: str, error: type[FloeError], message: str) -> None:
    clear_loaded_models()
    loads = load_counts()
    with pytest.raises(error) as raised:
        reg.sql(query)
    assert str(raised.value).split("\n")[0].startswith(message), str(raised.value)
    assert load_counts() == loads  # every name is checked before a model is loaded


def test_a_model_error_in_a_batch_is_the_run_paths_error(
        reg: Registry, data: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    _, frame = data
    frame.assign(sepal_length=np.nan).to_parquet(tmp_path / "nan.parquet")  # sklearn refuses
    with pytest.raises(FloeError) as by_api:
        reg.get_model("iris").default.run(frame.assign(sepal_length=np.nan)[FEATURES],
                                          function_name="predict")
    with pytest.raises(FloeError) as by_sql:
        reg.sql(f"SELECT iris!predict(*) AS p FROM '{tmp_path}/nan.parquet'")
    assert (type(by_sql.value), by_sql.value.message) == (type(by_api.value),
                                                          by_api.value.message)


def test_a_role_that_may_not_use_the_model_is_refused_as_the_api_refuses(
        reg: Registry, data: tuple[Path, pd.DataFrame], catalog_url: str,
        artifact_root: Path) -> None:
    path, frame = data
    reg.sql("CREATE ROLE analyst")
    analyst = Registry(catalog_url=catalog_url, artifact_root=str(artifact_root), role="analyst")
    with pytest.raises(FloeError) as by_api:
        analyst.get_model("iris").default.run(frame[FEATURES], function_name="predict")
    with pytest.raises(FloeError) as by_sql:
        analyst.sql(f"SELECT iris!predict(*) AS p FROM '{path}'")
    assert type(by_sql.value) is type(by_api.value)
    assert str(by_sql.value).split("\n")[0].endswith(by_api.value.message)
    reg.sql("GRANT USAGE ON MODEL iris TO ROLE analyst")
    got = analyst.sql(f"SELECT iris!predict(*):output_feature_0 AS p FROM '{path}' ORDER BY id")
    assert got["p"].tolist() == expected(reg, frame, "predict")


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_a_select_runs_on_the_client_of_a_server(catalog_url: str, artifact_root: Path,
                                                 tmp_path: Path) -> None:
    clf, X = _classifier()
    X.to_parquet(tmp_path / "x.parquet")
    with served(catalog_url, artifact_root) as (url, token):
        client = Registry(url=url, token=token)
        mv = client.log_model(clf, model_name="iris", version_name="v1", sample_input_data=X[:5])
        got = client.sql(f"SELECT iris!predict(*):output_feature_0 AS p FROM '{tmp_path}/x.parquet'")
        assert got["p"].tolist() == mv.run(X, function_name="predict")["output_feature_0"].tolist()
        reply = httpx.post(f"{url}/api/v1/sql", json={"statement": "SELECT 1"},
                           headers={"authorization": f"Bearer {token}"}, timeout=30)
        assert reply.status_code == 400 and reply.json()["type"] == "StatementError"
