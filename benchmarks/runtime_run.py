"""Floe's in-process run path against the raw model call it wraps.

    .venv/bin/python benchmarks/runtime_run.py [--rows 1000000] [--features 30] [--trees 200]

Times ``mv.run(X, function_name="predict")`` (signature validation, conversion, the model
call, output assembly) on a pandas DataFrame and on a pyarrow Table, side by side in one
run with ``Booster.inplace_predict`` on the same data as one numpy array, and prints the
median of several repetitions with the ratio floe/baseline. Goal: Floe's overhead < 10%.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import xgboost as xgb
from rich.console import Console
from rich.table import Table

from registry import Registry


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: loads the model, builds caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    console = Console()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.standard_normal(args.rows) > 0).astype(int)
    columns = [f"f{i}" for i in range(args.features)]
    train = min(args.rows, 100_000)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1},
        xgb.DMatrix(X[:train], label=y[:train], feature_names=columns),
        num_boost_round=args.trees,
    )
    frame = pd.DataFrame(X, columns=columns)
    table = pa.Table.from_pandas(frame, preserve_index=False)

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(catalog_url=f"sqlite:///{tmp}/catalog.db", artifact_root=f"{tmp}/artifacts")
        mv = reg.log_model(booster, model_name="bench", version_name="v1",
                           sample_input_data=frame.head(100),
                           options={"enable_explainability": False})
        expected = booster.inplace_predict(X)
        got = mv.run(frame, function_name="predict")["output_feature_0"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6)

        baseline = _median_s(lambda: booster.inplace_predict(X), args.repeat)
        rows = [
            ("mv.run(pandas DataFrame)", _median_s(
                lambda: mv.run(frame, function_name="predict"), args.repeat)),
            ("mv.run(pyarrow Table)", _median_s(
                lambda: mv.run(table, function_name="predict"), args.repeat)),
        ]

    out = Table(title=(f"run path: {args.rows:,} rows x {args.features} features, "
                       f"{args.trees}-tree xgboost (median of {args.repeat})"))
    for name in ("path", "seconds", "rows/s", "floe/baseline"):
        out.add_column(name, justify="right" if name != "path" else "left")
    out.add_row("baseline: Booster.inplace_predict(numpy)", f"{baseline:.3f}",
                f"{args.rows / baseline:,.0f}", "1.00")
    for name, seconds in rows:
        out.add_row(name, f"{seconds:.3f}", f"{args.rows / seconds:,.0f}",
                    f"{seconds / baseline:.2f}")
    console.print(out)
    worst = max(s for _, s in rows) / baseline
    verdict = "met" if worst < 1.10 else "NOT met"
    console.print(f"goal (Floe overhead < 10%): {verdict}, worst ratio {worst:.2f}")


if __name__ == "__main__":
    main()
