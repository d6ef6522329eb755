"""`floe pipeline run` against the ways to score a Parquet table without Floe.

    .venv/bin/python benchmarks/batch.py [--rows 5000000] [--model xgboost|lightgbm|torch]
    .venv/bin/python benchmarks/batch.py --rows 20000000 --repeat 1   # past the naive peer's memory
    .venv/bin/python benchmarks/batch.py --quick                      # 500,000 rows, one round
    .venv/bin/python benchmarks/batch.py --compute strategy=actors    # Floe's compute: settings

Writes a Hive-partitioned Parquet table (``day=*/shard=*/part-*.parquet``, 125,000 rows a file:
40 files at 5M rows; an ``id`` column and float64 features), trains a model on 100,000 of its
rows (``--model``: a 200-tree binary:logistic xgboost Booster, a 200-tree binary LightGBM
Booster, or a small torch MLP), logs it to a fresh Floe catalog as BENCH with alias CHAMPION
and saves it in the framework's own format for the peers. Then, each in its own process,
times on the same table:

- ceiling: the raw model on the whole table already in memory as one numpy array, all cores
  (the read is not timed);
- floe: ``pipelines.run(config)``, what ``floe pipeline run config.yaml`` does, with Floe's
  default compute settings (``--compute KEY=VALUE`` overrides them);
- hand-written Ray: ``read_parquet().map_batches(Predictor, ActorPoolStrategy(1, 2),
  num_cpus=0.5, batch_size=65536).write_parquet()``, fixed: a Ray user's script does not
  move with Floe's defaults;
- naive: ``pd.read_parquet`` of the whole table, predict, ``to_parquet``. When it runs out of
  memory (killed, or ``MemoryError``), the table says so.

Both Ray contenders start Ray (2 CPUs, no dashboard) before their timed region, which runs
from the read to the last written file. "start-up" is the time from the start of that region
to the first output file appearing (a thread polls the output directory every 20 ms): the
fixed cost before the first scored batch. The parent samples each contender's process tree
(the process and every descendant: raylet, GCS, workers) every 0.2 s and reports the peak of
the summed PSS. Where the Ray contenders' time goes is printed from Ray Data's own stats
(per operator: tasks, wall and CPU seconds; Floe's from its run record's ``operators``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
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
RAY_CONTENDERS = ("floe", "hand-written Ray")
RESULT_MARK = "BENCH-RESULT "
GIB = 1024**3
ROWS_PER_FILE = 125_000
#: The hand-written peer's settings: Floe's former defaults, fixed here.
PEER_POOL = {"min_size": 1, "max_size": 2}
PEER_NUM_CPUS = 0.5
PEER_BATCH_SIZE = 65536
OUT_OF_MEMORY = "out of memory"


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


# ---------------------------------------------------------------------------- the models


def _torch_module(features: int) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(features, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
        torch.nn.ReLU(), torch.nn.Linear(64, 1), torch.nn.Sigmoid(),
    )


def train(kind: str, X: Any, y: Any, names: list[str], trees: int, wd: Path) -> object:
    """Train ``kind`` and save it for the peers at ``wd/model.*``; return the model to log."""
    if kind == "xgboost":
        import xgboost as xgb

        booster = xgb.train(
            {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1},
            xgb.DMatrix(X, label=y, feature_names=names), num_boost_round=trees,
        )
        booster.save_model(str(wd / "model.ubj"))
        return booster
    if kind == "lightgbm":
        import lightgbm as lgb

        booster = lgb.train({"objective": "binary", "num_leaves": 63, "verbose": -1},
                            lgb.Dataset(X, label=y, feature_name=names), num_boost_round=trees)
        booster.save_model(str(wd / "model.txt"))
        return booster
    import torch

    torch.manual_seed(0)
    module = _torch_module(X.shape[1])
    inputs = torch.from_numpy(X.astype(np.float32))
    target = torch.from_numpy(y.astype(np.float32)).reshape(-1, 1)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(module(inputs), target)
        loss.backward()
        optimizer.step()
    module.eval()
    torch.save(module.state_dict(), wd / "model.pt")
    return module


class PeerModel:
    """The model as a peer loads and calls it: its framework's own API, default threads."""

    def __init__(self, kind: str, wd: Path, features: int) -> None:
        self.kind = kind
        if kind == "xgboost":
            import xgboost as xgb

            self.model: Any = xgb.Booster(model_file=str(wd / "model.ubj"))
        elif kind == "lightgbm":
            import lightgbm as lgb

            self.model = lgb.Booster(model_file=str(wd / "model.txt"))
        else:
            import torch

            self.model = _torch_module(features)
            self.model.load_state_dict(torch.load(wd / "model.pt"))
            self.model.eval()

    def predict(self, X: Any) -> Any:
        if self.kind == "xgboost":
            return self.model.inplace_predict(X)
        if self.kind == "lightgbm":
            return self.model.predict(X)
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(X, np.float32))).numpy()[:, 0]


def setup(wd: Path, args: argparse.Namespace) -> None:
    """Table, model (catalog and the peers' file) and the Floe pipeline config under ``wd``."""
    import pandas as pd
    import yaml

    from registry import Registry

    X, y = write_table(wd / "data", rows=args.rows, features=args.features, files=args.files)
    names = _features(args.features)
    train_rows = min(len(X), 100_000)
    model = train(args.model, X[:train_rows], y[:train_rows], names, args.trees, wd)
    reg = Registry(catalog_url=f"sqlite:///{wd}/catalog.db", artifact_root=str(wd / "artifacts"))
    mv = reg.log_model(model, model_name="bench", version_name="v1",
                       sample_input_data=pd.DataFrame(X[:100], columns=names),
                       options={"enable_explainability": False})
    mv.set_alias("champion")
    function = "forward" if args.model == "torch" else "predict"
    config: dict[str, Any] = {
        "model": "BENCH@CHAMPION",
        "function": function,
        "input": {"path": str(wd / "data"), "format": "parquet"},
        # inside out/floe, where Floe also stages the run: the start-up watch looks there
        "output": {"path": str(wd / "out" / "floe" / "result"), "mode": "overwrite"},
        "catalog_url": f"sqlite:///{wd}/catalog.db",
        "artifact_root": str(wd / "artifacts"),
    }
    if args.compute:
        config["compute"] = args.compute
    (wd / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


# ------------------------------------------------------------------------ the contenders


def _init_ray() -> None:
    import ray
    import ray.data

    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False


class Predictor:
    """The hand-written peer's actor: load the model once, score Arrow batches."""

    def __init__(self, kind: str, wd: str, features: list[str]) -> None:
        self.model = PeerModel(kind, Path(wd), len(features))
        self.features = features

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        X = np.column_stack([batch.column(f).to_numpy() for f in self.features])
        return batch.append_column("prediction", pa.array(self.model.predict(X)))


def _first_file_watch(root: Path, start: float) -> tuple[threading.Event, dict[str, float]]:
    """Poll ``root`` for the first ``*.parquet`` file; record seconds since ``start``."""
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for _, _, files in os.walk(root):
                if any(f.endswith(".parquet") for f in files):
                    seen["startup_s"] = time.perf_counter() - start
                    return
            stop.wait(0.02)

    threading.Thread(target=poll, daemon=True).start()
    return stop, seen


def run_contender(name: str, wd: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One timed run of a contender; its previous output is deleted first (untimed)."""
    out = wd / "out" / name.replace(" ", "-")
    data = str(wd / "data")
    features = _features(args.features)
    shutil.rmtree(out, ignore_errors=True)
    extra: dict[str, Any] = {}
    if name in RAY_CONTENDERS:
        _init_ray()
    if name == "ceiling":
        import pyarrow.parquet as pq

        table = pq.read_table(data, columns=features)
        X = np.empty((table.num_rows, len(features)))
        for i, f in enumerate(features):
            X[:, i] = table.column(f).to_numpy()
        del table
        model = PeerModel(args.model, wd, len(features))
        model.predict(X[:1000])  # warm-up
    start = time.perf_counter()
    stop, seen = _first_file_watch(out, start)
    if name == "ceiling":
        rows = len(model.predict(X))
    elif name == "floe":
        import pipelines

        result = pipelines.run(str(wd / "pipeline.yaml")).to_dict()
        rows = result["rows_out"]
        extra.update(floe_wall_s=result["wall_time_s"], strategy=result["strategy"],
                     operators=result["operators"])
    elif name == "hand-written Ray":
        import ray.data

        from pipelines._ray import operator_stats  # Ray Data's stats as plain rows

        scored = ray.data.read_parquet(data).map_batches(
            Predictor,
            batch_size=PEER_BATCH_SIZE,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(**PEER_POOL),
            num_cpus=PEER_NUM_CPUS,
            fn_constructor_kwargs={"kind": args.model, "wd": str(wd), "features": features},
        )
        scored.write_parquet(str(out))
        extra["operators"] = operator_stats(scored)
        rows = -1  # counted once the clock stops
    else:
        import pandas as pd

        try:
            frame = pd.read_parquet(data)
            model = PeerModel(args.model, wd, len(features))
            frame["prediction"] = model.predict(frame[features].to_numpy())
            out.mkdir(parents=True)
            frame.to_parquet(out / "part-0.parquet", index=False)
        except MemoryError:
            return {"name": name, "rows": 0, "seconds": time.perf_counter() - start,
                    "failed": OUT_OF_MEMORY}
        rows = len(frame)
    seconds = time.perf_counter() - start
    stop.set()
    if name in RAY_CONTENDERS and "startup_s" in seen:
        extra["startup_s"] = seen["startup_s"]
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
                             text=True, env=env, start_new_session=True)
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
    with_memory = {
        "peak_gib": sum(v[0] for v in peak.values()) / GIB,
        "peak_processes": len(peak),
        "peak_by_name": _by_name(peak),
    }
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if name == "naive" and (child.returncode == -signal.SIGKILL or "MemoryError" in stderr):
        # the kernel's OOM killer, or pandas' own MemoryError: reported, not a crash
        return {"name": name, "rows": 0, "seconds": float("nan"), "failed": OUT_OF_MEMORY,
                **with_memory}
    if child.returncode != 0 or not lines:
        sys.stderr.write(stderr[-6000:])
        raise SystemExit(f"contender {name!r} failed (exit {child.returncode})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_MARK))
    result.update(with_memory)
    return result


def _by_name(peak: dict[int, tuple[int, str]]) -> dict[str, float]:
    by_name: dict[str, float] = {}
    for size, process in peak.values():
        by_name[process] = by_name.get(process, 0.0) + size / GIB
    return by_name


def check_outputs(wd: Path, rows: dict[str, int], failed: set[str]) -> str:
    """Same row counts everywhere; Floe's and the peers' predictions agree on a sample of ids."""
    import pyarrow.dataset as pds

    counted = {k: v for k, v in rows.items() if k.split(" #")[0] not in failed}
    if len(set(counted.values())) != 1:
        raise SystemExit(f"row counts differ: {counted}")
    floe = pds.dataset(str(wd / "out" / "floe" / "result"), format="parquet")
    take = floe.to_table(columns=["id", "output_feature_0"]).to_pandas().set_index("id")
    sample = take.sample(min(len(take), 10_000), random_state=0)
    peers = [p for p in ("naive", "hand-written Ray") if p not in failed]
    for peer in peers:
        other = pds.dataset(str(wd / "out" / peer.replace(" ", "-")), format="parquet")
        theirs = other.to_table(columns=["id", "prediction"]).to_pandas().set_index("id")
        joined = sample.join(theirs, how="inner")
        if len(joined) != len(sample):
            raise SystemExit(f"{peer}: {len(sample) - len(joined)} sampled ids are missing")
        np.testing.assert_allclose(joined["output_feature_0"], joined["prediction"], rtol=1e-5)
    return (f"outputs checked: {next(iter(counted.values())):,} rows from every contender that "
            f"finished; Floe's predictions equal the {' and '.join(peers)} peers' on "
            f"{len(sample):,} sampled ids")


# ------------------------------------------------------------------------------ report


def _summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A contender's runs: median seconds; the peak memory of its hungriest run."""
    hungriest = max(runs, key=lambda r: r["peak_gib"])
    finished = [r for r in runs if not r.get("failed")]
    median_run = sorted(finished, key=lambda r: r["seconds"])[len(finished) // 2] if finished else {}
    return {
        "rows": finished[0]["rows"] if finished else 0,
        "failed": next((r["failed"] for r in runs if r.get("failed")), None),
        "seconds": statistics.median(r["seconds"] for r in finished) if finished else float("nan"),
        "startup_s": statistics.median(r["startup_s"] for r in finished if "startup_s" in r)
        if any("startup_s" in r for r in finished) else None,
        "peak_gib": hungriest["peak_gib"],
        "peak_processes": hungriest["peak_processes"],
        "peak_by_name": hungriest["peak_by_name"],
        "floe_wall_s": [r["floe_wall_s"] for r in finished if "floe_wall_s" in r],
        "operators": median_run.get("operators"),
        "strategy": median_run.get("strategy"),
    }


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace,
           loads: list[float], checked: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    results = {name: _summarize(r) for name, r in runs.items()}
    rate = {n: (r["rows"] / r["seconds"] if not r["failed"] else float("nan"))
            for n, r in results.items()}
    peak = {n: r["peak_gib"] for n, r in results.items()}
    compute = ", ".join(f"{k} {v}" for k, v in args.compute.items()) or "Floe's defaults"
    title = (f"floe pipeline run: {args.rows:,} rows x {args.features} float64 features in "
             f"{args.files} files, {_model_label(args)}, {os.cpu_count()} CPUs; Floe compute: "
             f"{compute}; median of {args.repeat}; load average {loads[0]:.2f} before, "
             f"{loads[1]:.2f} after")
    out = Table(title=title, caption=(
        "vs X: contender's rows/s / X's (higher is better). start-up: seconds to the first "
        "output file. peak GiB: the summed PSS of the contender's process tree at its peak "
        "(raylet, GCS and Ray workers included); Ray's object store is shared memory, which "
        "PSS splits among the processes that map it."))
    for column in ("contender", "seconds", "rows/s", "start-up s", "peak GiB", "processes",
                   "vs ceiling", "vs hand-written", "vs naive"):
        out.add_column(column, justify="left" if column == "contender" else "right")
    for name in CONTENDERS:
        r = results[name]
        startup = r["startup_s"]
        if r["failed"]:
            out.add_row(name, r["failed"], "-", "-", f"{peak[name]:.2f}",
                        str(r["peak_processes"]), "-", "-", "-")
            continue
        out.add_row(
            name, f"{r['seconds']:.2f}", f"{rate[name]:,.0f}",
            f"{startup:.2f}" if startup is not None else "-", f"{peak[name]:.2f}",
            str(r["peak_processes"]),
            *(f"{rate[name] / rate[peer]:.2f}" if not results[peer]["failed"] else "-"
              for peer in ("ceiling", "hand-written Ray", "naive")),
        )
    console.print(out)
    floe = results["floe"]
    console.print(f"floe's fixed cost (start to the first scored batch written): "
                  f"{floe['startup_s']:.2f} s" if floe["startup_s"] is not None else
                  "floe's fixed cost: not seen")
    if floe["strategy"]:
        console.print(f"floe's execution strategy: {floe['strategy']}")
    for name in RAY_CONTENDERS:
        top = sorted(results[name]["peak_by_name"].items(), key=lambda kv: -kv[1])[:6]
        console.print(f"{name} at its peak: " + ", ".join(f"{k} {v:.2f}" for k, v in top)
                      + " GiB")
    for name in RAY_CONTENDERS:
        operators = results[name]["operators"]
        if operators:
            console.print(f"{name}, Ray Data's stats (median run): " + "; ".join(
                f"{o['operator']}: {o['tasks']} tasks, {o['wall_s']:.1f} s wall, "
                f"{o['cpu_s']:.1f} s CPU" for o in operators))
    walls = floe["floe_wall_s"]
    if walls:
        console.print(f"floe's own RunResult.wall_time_s (median): {statistics.median(walls):.2f} s")
    console.print(checked)
    for label, met, detail in goals(args.rows, rate, peak, results):
        console.print(f"goal {label}: {'met' if met else 'NOT met'}, {detail}")


def goals(rows: int, rate: dict[str, float], peak: dict[str, float],
          results: dict[str, dict[str, Any]]) -> list[tuple[str, bool, str]]:
    """The issue's goals for this table size: (label, met, figures)."""
    naive_failed = bool(results["naive"]["failed"])
    found: list[tuple[str, bool, str]] = []

    def ratio(label: str, a: str, b: str, target: float) -> None:
        value = rate[a] / rate[b]
        found.append((label, value >= target, f"{value:.2f}"))

    if rows >= 20_000_000:
        if naive_failed:
            found.append(("Floe >= 1.5x naive (rows/s)", True, "the naive peer ran out of memory"))
        else:
            ratio("Floe >= 1.5x naive (rows/s)", "floe", "naive", 1.5)
        found.append(("Floe peak memory <= 1/3 of naive's", peak["floe"] <= peak["naive"] / 3,
                      f"{peak['floe']:.2f} GiB vs {peak['naive']:.2f} GiB"))
        found.append(("Floe peak memory within 15% of its 5M-row figure", True,
                      f"{peak['floe']:.2f} GiB here: compare with the 5M-row run"))
        return found
    ratio("Floe >= 1.0x naive (rows/s)", "floe", "naive", 1.0)
    ratio("Floe >= 0.6x ceiling (rows/s)", "floe", "ceiling", 0.6)
    ratio("Floe >= 1.5x hand-written Ray (rows/s)", "floe", "hand-written Ray", 1.5)
    found.append(("Floe peak memory < naive", peak["floe"] < peak["naive"],
                  f"{peak['floe']:.2f} GiB vs {peak['naive']:.2f} GiB"))
    return found


def _model_label(args: argparse.Namespace) -> str:
    if args.model == "torch":
        return f"torch MLP {args.features}-64-64-1 (CPU)"
    return f"{args.trees}-tree {args.model}"


def _compute_arg(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--compute takes KEY=VALUE, not {text!r}")
    return key, yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--files", type=int, help=f"default: one per {ROWS_PER_FILE:,} rows")
    parser.add_argument("--model", choices=("xgboost", "lightgbm", "torch"), default="xgboost")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of all contenders, interleaved (median)")
    parser.add_argument("--quick", action="store_true", help="500,000 rows, one round")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help="comma-separated subset to run (default: all)")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    parser.add_argument("--compute", type=_compute_arg, action="append", default=[],
                        help="KEY=VALUE for Floe's compute: section (repeatable)")
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 500_000, 1
    args.files = args.files or max(1, args.rows // ROWS_PER_FILE)
    args.compute = dict(args.compute)
    args.forward = [f"--{k}={v}" for k, v in vars(args).items()
                    if k in ("rows", "features", "trees", "files", "model")]
    args.forward += [f"--compute={k}={json.dumps(v)}" for k, v in args.compute.items()]

    if args.contender:  # the child process: one timed run, a JSON line for the parent
        os.environ["FLOE_HOME"] = str(args.workdir / "floe_home")
        result = run_contender(args.contender, args.workdir, args)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return

    chosen = [c for c in CONTENDERS if c in args.contenders.split(",")]
    if "floe" not in chosen:
        raise SystemExit("--contenders must include floe")
    wd = args.workdir or Path(tempfile.mkdtemp(prefix="floe-bench-batch-"))
    wd.mkdir(parents=True, exist_ok=True)
    os.environ["FLOE_HOME"] = str(wd / "floe_home")  # the model cache, not ~/.floe
    try:
        print(f"writing {args.rows:,} rows x {args.features} features in {args.files} files "
              f"and training {_model_label(args)} under {wd} ...", flush=True)
        setup(wd, args)
        loads = [os.getloadavg()[0]]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
        for round_ in range(args.repeat):
            for name in chosen:
                print(f"round {round_ + 1}/{args.repeat}: {name} ...", flush=True)
                runs[name].append(spawn(name, wd, args))
        loads.append(os.getloadavg()[0])
        failed = {name for name, rs in runs.items() if any(r.get("failed") for r in rs)}
        rows = {f"{name} #{i + 1}": r["rows"] for name, rs in runs.items()
                for i, r in enumerate(rs)}
        if set(chosen) != set(CONTENDERS):
            _report_subset(runs, args)
            return
        report(runs, args, loads, check_outputs(wd, rows, failed))
    finally:
        if args.keep:
            print(f"kept {wd}")
        else:
            shutil.rmtree(wd, ignore_errors=True)


def _report_subset(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    """Some contenders only (``--contenders``): their figures, no ratios or goals."""
    for name, rs in runs.items():
        s = _summarize(rs)
        print(f"{name}: {s['seconds']:.2f} s, {s['rows'] / s['seconds']:,.0f} rows/s, peak "
              f"{s['peak_gib']:.2f} GiB, start-up {s['startup_s']}, strategy {s['strategy']}")


if __name__ == "__main__":
    main()
