"""Floe's in-process run path against the raw model call it wraps.

    .venv/bin/python benchmarks/run.py [--rows 1000000] [--features 30] [--trees 200]
                                       [--repeat 5] [--batch-rows 65536] [--quick]

Times ``mv.run(X, function_name="predict")`` (signature validation, conversion, the model
call, output assembly) on a pandas DataFrame and on a pyarrow Table against
``Booster.inplace_predict`` on the same data as one C-contiguous numpy array, and one Ray
Data batch (a ``--batch-rows`` pyarrow Table through ``PreparedModel.run``, the path every
batch of ``floe pipeline run`` takes) against ``inplace_predict`` on that batch's rows. The
contenders take turns within each repetition, so a machine shared with other work slows
them alike; the table shows medians and the ratio floe/baseline. The booster's call inside
Floe's is timed too, so each row also shows Floe's own time (the call less the model's) and
the ratio it makes against the baseline, which a shared machine disturbs much less than the
whole calls. Goal: Floe's overhead <= 10% for both inputs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import xgboost as xgb
from rich.console import Console
from rich.table import Table

from registry import Registry


class _ModelClock:
    """Times the booster's own ``inplace_predict`` inside Floe's call, so Floe's own share of
    a call (the call less the model's) is measured in the same call: on a shared machine it
    varies far less than the difference of two medians of whole calls."""

    def __init__(self, booster: xgb.Booster) -> None:
        self.seconds = 0.0
        predict = booster.inplace_predict

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return predict(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        booster.inplace_predict = timed  # type: ignore[method-assign]


def _take_turns(
    contenders: dict[str, Callable[[], object]], repeat: int, clock: _ModelClock
) -> dict[str, tuple[float, float]]:
    """Each contender's median seconds and median seconds outside the model (0 for the
    baseline, which is the model), run in turn ``repeat`` times after a warm-up."""
    for fn in contenders.values():
        fn()  # warm-up: loads the model, builds caches
    times: dict[str, list[float]] = {name: [] for name in contenders}
    own: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            clock.seconds = 0.0
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            own[name].append(elapsed - clock.seconds if clock.seconds else 0.0)
    return {name: (statistics.median(times[name]), statistics.median(own[name]))
            for name in contenders}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--quick", action="store_true", help="200,000 rows, 3 repetitions")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = min(args.rows, 200_000), 3
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
    batch_rows = min(args.batch_rows, args.rows)
    batch = table.slice(0, batch_rows)  # what a Ray Data batch is: a slice of a block
    batch_X = X[:batch_rows]

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(catalog_url=f"sqlite:///{tmp}/catalog.db", artifact_root=f"{tmp}/artifacts")
        mv = reg.log_model(booster, model_name="bench", version_name="v1",
                           sample_input_data=frame.head(100),
                           options={"enable_explainability": False})
        prepared = mv.prepare()
        # the booster Floe loaded and runs (shared by mv.run and prepared.run in a process)
        clock = _ModelClock(prepared._loaded.predictor.model)  # type: ignore[arg-type]
        expected = booster.inplace_predict(X)
        for data in (frame, table):
            got = np.asarray(mv.run(data, function_name="predict")["output_feature_0"])
            np.testing.assert_allclose(got, expected, rtol=1e-6)

        whole = _take_turns({
            "baseline": lambda: booster.inplace_predict(X),
            "mv.run(pandas DataFrame)": lambda: mv.run(frame, function_name="predict"),
            "mv.run(pyarrow Table)": lambda: mv.run(table, function_name="predict"),
        }, args.repeat, clock)
        per_batch = _take_turns({
            "baseline": lambda: booster.inplace_predict(batch_X),
            "floe": lambda: prepared.run(batch, function_name="predict"),
        }, max(args.repeat, 5) * 4, clock)

    baseline = whole.pop("baseline")[0]
    out = Table(title=(f"run path: {args.rows:,} rows x {args.features} features, "
                       f"{args.trees}-tree xgboost (median of {args.repeat}, taking turns)"))
    for name in ("path", "seconds", "rows/s", "floe/baseline", "Floe's own ms",
                 "1 + own/baseline"):
        out.add_column(name, justify="right" if name != "path" else "left")
    out.add_row("baseline: Booster.inplace_predict(numpy)", f"{baseline:.3f}",
                f"{args.rows / baseline:,.0f}", "1.00", "", "")
    for name, (seconds, own_s) in whole.items():
        out.add_row(name, f"{seconds:.3f}", f"{args.rows / seconds:,.0f}",
                    f"{seconds / baseline:.2f}", f"{own_s * 1e3:.1f}",
                    f"{1 + own_s / baseline:.2f}")
    console.print(out)
    raw_s, (floe_s, floe_own_s) = per_batch["baseline"][0], per_batch["floe"]
    console.print(f"one Ray batch ({batch_rows:,}-row pyarrow Table, PreparedModel.run): "
                  f"{floe_s * 1e3:.1f} ms against {raw_s * 1e3:.1f} ms raw "
                  f"({floe_s / raw_s:.2f}x); Floe's own share {floe_own_s * 1e3:.1f} ms/batch")
    worst = max(seconds for seconds, _ in whole.values()) / baseline
    worst_own = 1 + max(own_s for _, own_s in whole.values()) / baseline
    verdict = "met" if worst <= 1.10 else "NOT met"
    console.print(f"goal (Floe overhead <= 10%): {verdict}, worst ratio {worst:.2f} "
                  f"(from Floe's own time in the call: {worst_own:.2f})")

if __name__ == "__main__":
    main()
