"""`floe pipeline run` against the ways to score a Parquet table without Floe.

    .venv/bin/python benchmarks/pipelines_batch.py [--rows 5000000] [--features 30] [--trees 200]
    .venv/bin/python benchmarks/pipelines_batch.py --quick          # 500,000 rows

Writes a Hive-partitioned Parquet table (``day=*/shard=*/part-*.parquet``, an ``id`` column
and float64 features), trains a binary:logistic xgboost Booster on 100,000 of its rows, logs
it to a fresh Floe catalog as BENCH with alias CHAMPION and saves it as UBJSON. Then, each in
its own process, times on the same table:

- ceiling: ``Booster.inplace_predict`` on the whole table already in memory as one numpy
  array, all cores (the read is not timed);
- floe: ``pipelines.run(config)``, what ``floe pipeline run config.yaml`` does;
- hand-written Ray: ``read_parquet().map_batches(Predictor, ActorPoolStrategy).write_parquet()``
  with the same compute settings as Floe's config;
- naive: ``pd.read_parquet`` of the whole table, ``inplace_predict``, ``to_parquet``.

Both Ray contenders start Ray (2 CPUs, no dashboard) before their timed region, which runs
from the read to the last written file. The parent samples each contender's process tree
(the process and every descendant: raylet, GCS, workers) every 0.2 s and reports the peak of
the summed PSS. Goals: Floe >= 0.95x the hand-written Ray peer, >= 1.0x the naive peer,
>= 0.6x the ceiling (rows/s), and less peak memory than the naive peer.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

try:
    import psutil
except ModuleNotFoundError:  # Ray vendors it in ray/thirdparty_files, put on sys.path by import ray
    import ray  # noqa: F401

    psutil = importlib.import_module("psutil")

CONTENDERS = ("ceiling", "floe", "hand-written Ray", "naive")
RESULT_MARK = "BENCH-RESULT "
GIB = 1024**3


# ------------------------------------------------------------------------------ the data


def _file_layout(files: int) -> list[str]:
    """``day=2026-11-0D/shard=S/part-P.parquet`` for each file: 5 days, 4 shards, then parts."""
    return [f"day=2026-11-{i % 5 + 1:02d}/shard={i // 5 % 4}/part-{i // 20}.parquet"
            for i in range(files)]


def _features(count: int) -> list[str]:
    return [f"f{i}" for i in range(count)]


def write_table(root: Path, *, rows: int, features: int, files: int) -> tuple[Any, Any]:
    """The input table, file by file; returns the first file's (X, y) for training."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = _features(features)
    first = None
    start = 0
    for rel, count in zip(_file_layout(files), np.array_split(np.arange(rows), files), strict=True):
        n = len(count)
        X = rng.standard_normal((n, features))
        columns = {"id": pa.array(np.arange(start, start + n, dtype=np.int64))}
        columns.update({name: pa.array(X[:, i]) for i, name in enumerate(names)})
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path)
        if first is None:
            y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.standard_normal(n) > 0).astype(int)
            first = (X, y)
        start += n
    assert first is not None
    return first


def setup(wd: Path, args: argparse.Namespace) -> None:
    """Table, model (catalog and UBJSON) and the Floe pipeline config under ``wd``."""
    import pandas as pd
    import xgboost as xgb
    import yaml

    from registry import Registry

    X, y = write_table(wd / "data", rows=args.rows, features=args.features, files=args.files)
    names = _features(args.features)
    train = min(len(X), 100_000)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1},
        xgb.DMatrix(X[:train], label=y[:train], feature_names=names),
        num_boost_round=args.trees,
    )
    booster.save_model(str(wd / "model.ubj"))
    reg = Registry(catalog_url=f"sqlite:///{wd}/catalog.db", artifact_root=str(wd / "artifacts"))
    mv = reg.log_model(booster, model_name="bench", version_name="v1",
                       sample_input_data=pd.DataFrame(X[:100], columns=names),
                       options={"enable_explainability": False})
    mv.set_alias("champion")
    config = {
        "model": "BENCH@CHAMPION",
        "function": "predict",
        "input": {"path": str(wd / "data"), "format": "parquet"},
        "output": {"path": str(wd / "out" / "floe"), "mode": "overwrite"},
        "compute": _compute(args),
        "catalog_url": f"sqlite:///{wd}/catalog.db",
        "artifact_root": str(wd / "artifacts"),
    }
    (wd / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _compute(args: argparse.Namespace) -> dict[str, Any]:
    """The actor pool both Ray contenders use: registry.ComputeConfig's defaults, or flags."""
    from registry import ComputeConfig

    defaults = ComputeConfig()
    return {
        "min_actors": args.min_actors or defaults.min_actors,
        "max_actors": args.max_actors or max(defaults.max_actors, args.min_actors or 0),
        "batch_size": args.batch_size or defaults.batch_size,
        "num_cpus": args.num_cpus or defaults.num_cpus,
    }


# ------------------------------------------------------------------------ the contenders


def _init_ray() -> None:
    import ray
    import ray.data

    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False


class Predictor:
    """The hand-written peer's actor: load the booster once, score Arrow batches."""

    def __init__(self, model_path: str, features: list[str]) -> None:
        import xgboost as xgb

        self.booster = xgb.Booster(model_file=model_path)
        self.features = features

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        X = np.column_stack([batch.column(f).to_numpy() for f in self.features])
        return batch.append_column("prediction", pa.array(self.booster.inplace_predict(X)))


def run_contender(name: str, wd: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One timed run of a contender; its previous output is deleted first (untimed)."""
    import xgboost as xgb

    out = wd / "out" / name.replace(" ", "-")
    data = str(wd / "data")
    model = str(wd / "model.ubj")
    features = _features(args.features)
    shutil.rmtree(out, ignore_errors=True)
    extra: dict[str, Any] = {}
    if name in ("floe", "hand-written Ray"):
        _init_ray()
    if name == "ceiling":
        import pyarrow.parquet as pq

        table = pq.read_table(data, columns=features)
        X = np.empty((table.num_rows, len(features)))
        for i, f in enumerate(features):
            X[:, i] = table.column(f).to_numpy()
        del table
        booster = xgb.Booster(model_file=model)
        booster.inplace_predict(X[:1000])  # warm-up
    start = time.perf_counter()
    if name == "ceiling":
        rows = len(booster.inplace_predict(X))
    elif name == "floe":
        import pipelines

        result = pipelines.run(str(wd / "pipeline.yaml"))
        rows = result.rows_out
        extra["floe_wall_s"] = result.wall_time_s
    elif name == "hand-written Ray":
        import ray.data

        compute = _compute(args)
        ray.data.read_parquet(data).map_batches(
            Predictor,
            batch_size=compute["batch_size"],
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=compute["min_actors"],
                                               max_size=compute["max_actors"]),
            num_cpus=compute["num_cpus"],
            fn_constructor_kwargs={"model_path": model, "features": features},
        ).write_parquet(str(out))
        rows = -1  # counted once the clock stops
    else:
        import pandas as pd

        frame = pd.read_parquet(data)
        booster = xgb.Booster(model_file=model)
        frame["prediction"] = booster.inplace_predict(frame[features].to_numpy())
        out.mkdir(parents=True)
        frame.to_parquet(out / "part-0.parquet", index=False)
        rows = len(frame)
    seconds = time.perf_counter() - start
    if rows < 0:
        import pyarrow.dataset as pds

        rows = pds.dataset(str(out), format="parquet").count_rows()
    return {"name": name, "rows": rows, "seconds": seconds, **extra}


# ------------------------------------------------------------- processes and their memory


def _process_name(member: psutil.Process) -> str:
    """``raylet``, ``gcs_server``, ``ray::MapBatches(Predictor)``, ``python``..."""
    cmdline = member.cmdline()
    if cmdline and cmdline[0].startswith("ray::"):  # Ray workers retitle themselves
        return cmdline[0].split(" ", 1)[0]
    return Path(cmdline[0]).name if cmdline else member.name()


def _tree_memory(proc: psutil.Process) -> dict[int, tuple[int, str]]:
    """PSS (RSS where PSS cannot be read) and name of ``proc`` and each descendant, by pid."""
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return {}
    found: dict[int, tuple[int, str]] = {}
    for member in members:
        try:
            try:
                size = member.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                size = member.memory_info().rss
            found[member.pid] = (size, _process_name(member))
        except psutil.Error:
            pass  # it exited between listing and reading
    return found


def spawn(name: str, wd: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run a contender in a child process; sample its tree's memory until it exits."""
    command = [sys.executable, __file__, "--contender", name, "--workdir", str(wd),
               *args.forward]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    proc = psutil.Process(child.pid)
    peak: dict[int, tuple[int, str]] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            found = _tree_memory(proc)
            if sum(v[0] for v in found.values()) > sum(v[0] for v in peak.values()):
                peak.clear()
                peak.update(found)
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    done.set()
    sampler.join()
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if child.returncode != 0 or not lines:
        sys.stderr.write(stderr[-6000:])
        raise SystemExit(f"contender {name!r} failed (exit {child.returncode})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_MARK))
    by_name: dict[str, float] = {}
    for size, process in peak.values():
        by_name[process] = by_name.get(process, 0.0) + size / GIB
    result.update(peak_gib=sum(v[0] for v in peak.values()) / GIB,
                  peak_processes=len(peak), peak_by_name=by_name)
    return result


def check_outputs(wd: Path, rows: dict[str, int]) -> str:
    """Same row counts everywhere; Floe's and the peers' predictions agree on a sample of ids."""
    import pyarrow.dataset as pds

    if len(set(rows.values())) != 1:
        raise SystemExit(f"row counts differ: {rows}")
    floe = pds.dataset(str(wd / "out" / "floe"), format="parquet")
    take = floe.to_table(columns=["id", "output_feature_0"]).to_pandas().set_index("id")
    sample = take.sample(min(len(take), 10_000), random_state=0)
    for peer in ("naive", "hand-written-Ray"):
        other = pds.dataset(str(wd / "out" / peer), format="parquet")
        theirs = other.to_table(columns=["id", "prediction"]).to_pandas().set_index("id")
        joined = sample.join(theirs, how="inner")
        if len(joined) != len(sample):
            raise SystemExit(f"{peer}: {len(sample) - len(joined)} sampled ids are missing")
        np.testing.assert_allclose(joined["output_feature_0"], joined["prediction"], rtol=1e-6)
    return (f"outputs checked: {next(iter(rows.values())):,} rows from every contender; Floe's "
            f"predictions equal the naive and hand-written peers' on {len(sample):,} sampled ids")


# ------------------------------------------------------------------------------ report


def _summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A contender's runs: median seconds; the peak memory of its hungriest run."""
    hungriest = max(runs, key=lambda r: r["peak_gib"])
    return {
        "rows": runs[0]["rows"],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_gib": hungriest["peak_gib"],
        "peak_processes": hungriest["peak_processes"],
        "peak_by_name": hungriest["peak_by_name"],
        "floe_wall_s": [r["floe_wall_s"] for r in runs if "floe_wall_s" in r],
    }


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace,
           loads: list[float], checked: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    results = {name: _summarize(r) for name, r in runs.items()}
    rate = {n: r["rows"] / r["seconds"] for n, r in results.items()}
    peak = {n: r["peak_gib"] for n, r in results.items()}
    compute = ", ".join(f"{k} {v}" for k, v in _compute(args).items())
    title = (f"floe pipeline run: {args.rows:,} rows x {args.features} float64 features in "
             f"{args.files} files, {args.trees}-tree xgboost, {os.cpu_count()} CPUs; "
             f"{compute}; median of {args.repeat}; load average {loads[0]:.2f} before, "
             f"{loads[1]:.2f} after")
    out = Table(title=title, caption=(
        "vs X: contender's rows/s / X's (higher is better). peak GiB: the summed PSS of the "
        "contender's process tree at its peak (raylet, GCS and Ray workers included); Ray's "
        "object store is shared memory, which PSS splits among the processes that map it."))
    for column in ("contender", "seconds", "rows/s", "peak GiB", "processes", "vs ceiling",
                   "vs hand-written", "vs naive"):
        out.add_column(column, justify="left" if column == "contender" else "right")
    for name in CONTENDERS:
        out.add_row(
            name, f"{results[name]['seconds']:.2f}", f"{rate[name]:,.0f}", f"{peak[name]:.2f}",
            str(results[name]["peak_processes"]),
            *(f"{rate[name] / rate[peer]:.2f}" for peer in ("ceiling", "hand-written Ray", "naive")),
        )
    console.print(out)
    for name in ("floe", "hand-written Ray"):
        top = sorted(results[name]["peak_by_name"].items(), key=lambda kv: -kv[1])[:6]
        console.print(f"{name} at its peak: " + ", ".join(f"{k} {v:.2f}" for k, v in top)
                      + " GiB")
    walls = results["floe"]["floe_wall_s"]
    if walls:
        console.print(f"floe's own RunResult.wall_time_s (median): {statistics.median(walls):.2f} s")
    console.print(checked)
    goals = [
        ("Floe >= 0.95x hand-written Ray (rows/s)", rate["floe"] / rate["hand-written Ray"], 0.95),
        ("Floe >= 1.0x naive (rows/s)", rate["floe"] / rate["naive"], 1.0),
        ("Floe >= 0.6x ceiling (rows/s)", rate["floe"] / rate["ceiling"], 0.6),
    ]
    for label, ratio, target in goals:
        console.print(f"goal {label}: {'met' if ratio >= target else 'NOT met'}, {ratio:.2f}")
    met = peak["floe"] < peak["naive"]
    console.print(f"goal Floe peak memory < naive: {'met' if met else 'NOT met'}, "
                  f"{peak['floe']:.2f} GiB vs {peak['naive']:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of all contenders, interleaved (median)")
    parser.add_argument("--quick", action="store_true", help="500,000 rows, one round")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    parser.add_argument("--min-actors", type=int)
    parser.add_argument("--max-actors", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--num-cpus", type=float, help="CPUs reserved per actor")
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 500_000, 1
    args.forward = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                    if k in ("rows", "features", "trees", "files", "min_actors", "max_actors",
                             "batch_size", "num_cpus") and v is not None]

    if args.contender:  # the child process: one timed run, a JSON line for the parent
        os.environ["FLOE_HOME"] = str(args.workdir / "floe_home")
        result = run_contender(args.contender, args.workdir, args)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return

    wd = args.workdir or Path(tempfile.mkdtemp(prefix="floe-bench-batch-"))
    wd.mkdir(parents=True, exist_ok=True)
    os.environ["FLOE_HOME"] = str(wd / "floe_home")  # the model cache, not ~/.floe
    try:
        print(f"writing {args.rows:,} rows x {args.features} features in {args.files} files "
              f"and training {args.trees} trees under {wd} ...", flush=True)
        setup(wd, args)
        loads = [os.getloadavg()[0]]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
        for round_ in range(args.repeat):
            for name in CONTENDERS:
                print(f"round {round_ + 1}/{args.repeat}: {name} ...", flush=True)
                runs[name].append(spawn(name, wd, args))
        loads.append(os.getloadavg()[0])
        rows = {f"{name} #{i + 1}": r["rows"] for name, rs in runs.items()
                for i, r in enumerate(rs)}
        report(runs, args, loads, check_outputs(wd, rows))
    finally:
        if args.keep:
            print(f"kept {wd}")
        else:
            shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
