"""Online serving over HTTP: Floe's endpoint against a plain FastAPI app and ``mlflow models serve``.

One small model, an ``XGBClassifier`` (50 trees, depth 4) trained on scikit-learn's breast
cancer data (30 features), answers one-row requests on loopback from three servers in turn:

* floor: the model loaded with xgboost in a FastAPI app under uvicorn, one process, that builds
  a DataFrame from a Snowflake-format body (``{"data": [[0, f1, ..., f30]]}``) and predicts;
* mlflow: ``mlflow models serve --env-manager local -w 1`` on the model saved with
  ``mlflow.xgboost.save_model`` (with a signature), sent ``dataframe_split`` bodies;
* floe: the model logged into a throwaway registry and deployed with ``serve.deploy`` on a
  local Ray (2 CPUs, one replica of 0.5 CPU), sent Snowflake-format bodies, with Serve
  batching on (``max_batch_size`` 64, 2 ms wait) and off (``max_batch_size`` 1).

For each server and concurrency (1, 16, 64), N asyncio workers, each with its own httpx client,
post for a fixed time after a warm-up; the table shows p50/p99 latency, requests/s, failures
(non-200s, printed) and the load generator's CPU, with ``p50 - floor p50`` and the req/s
ratios to the floor and to MLflow. Goals: Floe's p50 at concurrency 1 at most 2 ms over the
floor's; with batching, Floe's req/s at concurrency 64 at least the floor's and MLflow's.
The script reports; it never asserts on timing. Before timing, every server's answers to 20
rows are checked against ``model.predict``.

MLflow lives only in benchmarks/.venv-mlflow-serve, created on first use from
benchmarks/requirements-mlflow-serve.txt. The script re-runs itself there with
--mlflow-save to write the MLflow model, and in Floe's venv with --floor-worker to run the
floor. (Not ``serve.py``: a script of that name would shadow Floe's ``serve`` package.)

Usage, from the repository root with Floe's venv:
    .venv/bin/python benchmarks/serve_http.py            # 8 s per measurement
    .venv/bin/python benchmarks/serve_http.py --quick    # 3 s per measurement
    .venv/bin/python benchmarks/serve_http.py --no-mlflow
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, sys.path[0] is benchmarks/: drop it, so no file here shadows a package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

MLFLOW_VENV = HERE / ".venv-mlflow-serve"
MLFLOW_REQUIREMENTS = HERE / "requirements-mlflow-serve.txt"
CONCURRENCY = (1, 16, 64)
TREES, DEPTH = 50, 4
DISTINCT_BODIES = 256
CHECK_ROWS = 20
GOAL_ADDED_P50_MS = 2.0
# Ray runs its workers (Serve's proxy and every replica) at niceness 15, its
# worker_niceness default; the floor and MLflow get the same, so that other work on the
# machine (and the load generator, at 0) takes CPU from all three servers alike.
SERVER_NICENESS = 15
JSON_HEADERS = {"content-type": "application/json"}


# -- bodies and answers (every server) -------------------------------------------------------------


def snowflake_body(row: Sequence[float]) -> bytes:
    return json.dumps({"data": [[0, *row]]}).encode()


def mlflow_body(columns: Sequence[str], row: Sequence[float]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": list(columns), "data": [list(row)]}}).encode()


def answer_of(doc: Any) -> int:
    """The predicted class in a floor, Floe (Snowflake format) or MLflow answer."""
    if "predictions" in doc:
        return int(doc["predictions"][0])
    value = doc["data"][0][1]
    return int(value["output_feature_0"] if isinstance(value, dict) else value)


# -- the floor: FastAPI + uvicorn in Floe's venv (its own process) ----------------------------------


def run_floor(job: dict[str, Any]) -> None:
    import pandas as pd
    import uvicorn
    import xgboost as xgb
    from fastapi import FastAPI, Request, Response

    model = xgb.XGBClassifier()
    model.load_model(job["model"])
    columns = job["columns"]
    app = FastAPI()  # annotations are evaluated here (no __future__ import): FastAPI reads them

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        rows = json.loads(await request.body())["data"]
        frame = pd.DataFrame([r[1:] for r in rows], columns=columns)
        labels = model.predict(frame).tolist()
        data = [[r[0], {"output_feature_0": y}] for r, y in zip(rows, labels, strict=True)]
        return Response(json.dumps({"data": data}), media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=job["port"], log_level="warning", access_log=False)


# -- MLflow (runs in benchmarks/.venv-mlflow-serve) -----------------------------------------------


def save_mlflow_model(job: dict[str, Any]) -> None:
    import mlflow.xgboost
    import pandas as pd
    import xgboost as xgb
    from mlflow.models import infer_signature

    model = xgb.XGBClassifier()
    model.load_model(job["model"])
    sample = pd.DataFrame(job["sample"], columns=job["columns"])
    signature = infer_signature(sample, model.predict(sample))
    mlflow.xgboost.save_model(model, job["dest"], signature=signature)


def ensure_mlflow_venv() -> Path:
    """benchmarks/.venv-mlflow-serve's python, (re)installed when the requirements changed."""
    python = MLFLOW_VENV / "bin" / "python"
    stamp = MLFLOW_VENV / ".installed"
    wanted = MLFLOW_REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing MLflow into {MLFLOW_VENV.relative_to(ROOT)} (once) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(MLFLOW_REQUIREMENTS),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return python


def server_env() -> dict[str, str]:
    """The environment of the floor's and MLflow's processes: one OpenMP thread for xgboost,
    as Ray gives Floe's replica of 0.5 CPU (OMP_NUM_THREADS=1)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def mlflow_env(python: Path) -> dict[str, str]:
    env = server_env()
    # `mlflow models serve` starts `uvicorn` by name: the venv's bin comes first on PATH.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# -- processes and ports ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process(
    cmd: list[str],
    *,
    ready_url: str,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = 120.0,
) -> Iterator[None]:
    """Run ``cmd`` niced as Ray's workers are, in its own process group, until ``ready_url``
    answers 200; kill the group (``mlflow models serve`` runs uvicorn as a child) when the
    block ends, however it ends."""
    import httpx

    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["nice", "-n", str(SERVER_NICENESS), *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd[0]} exited ({proc.returncode}):\n{log.read_text()[-4000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} did not answer in {timeout_s:.0f} s; see {log}")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- the load generator ---------------------------------------------------------------------------


@dataclass
class Result:
    server: str
    batching: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    window_s: float = 0.0
    client_cpu: float = 0.0  # load generator's CPU seconds per second of the window
    load: float = 0.0  # the machine's 1-minute load average at the end of the window

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        if len(self.latencies_ms) < 2:
            return self.p50
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[98]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.window_s if self.window_s else 0.0


async def _load(
    url: str, bodies: Sequence[bytes], result: Result, warmup_s: float, duration_s: float
) -> None:
    """``result.concurrency`` workers, each with a client of its own and one keep-alive
    connection (one shared pool of N connections costs httpx CPU that grows with N)."""
    import httpx

    n = result.concurrency
    state = {"recording": False, "stopping": False}

    async def worker(first: int) -> None:
        i = first
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
            while not state["stopping"]:
                body = bodies[i % len(bodies)]
                i += n
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=JSON_HEADERS)
                    failure = (
                        None
                        if response.status_code == 200
                        else (f"HTTP {response.status_code}: {response.text[:300]}")
                    )
                except httpx.HTTPError as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                elapsed_ms = (time.perf_counter() - started) * 1000
                if not state["recording"]:
                    continue
                if failure is None:
                    result.latencies_ms.append(elapsed_ms)
                else:
                    result.failures[failure] += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(n)]
    await asyncio.sleep(warmup_s)
    state["recording"] = True
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(duration_s)
    state["recording"] = False
    result.window_s = time.perf_counter() - wall
    result.client_cpu = (time.process_time() - cpu) / result.window_s
    result.load = os.getloadavg()[0]
    state["stopping"] = True
    await asyncio.gather(*tasks)


def measure(
    server: str, batching: str, url: str, bodies: Sequence[bytes], args: argparse.Namespace
) -> list[Result]:
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    results = []
    for n in CONCURRENCY:
        result = Result(server, batching, n)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_load(url, bodies, result, args.warmup_s, args.duration_s))
        print(
            f"  {server:<6} {batching:<12} c={n:<3} p50 {result.p50:7.2f} ms  "
            f"p99 {result.p99:7.2f} ms  {result.rps:8.1f} req/s  failed {sum(result.failures.values())}",
            flush=True,
        )
        results.append(result)
    return results


def check_answers(server: str, url: str, bodies: Sequence[bytes], expected: Sequence[int]) -> None:
    import httpx

    picked = range(0, len(bodies), max(1, len(bodies) // CHECK_ROWS))
    got = []
    for body in (bodies[i] for i in picked):
        response = httpx.post(url, content=body, headers=JSON_HEADERS, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"{server} answered {response.status_code}: {response.text[:1000]}")
        got.append(answer_of(response.json()))
    wanted = [expected[i] for i in picked]
    if got != wanted:
        raise RuntimeError(f"{server} predicted {got}, model.predict gives {wanted}")


# -- the three servers ----------------------------------------------------------------------------


def bench_floor(
    job: dict[str, Any],
    bodies: Sequence[bytes],
    expected: Sequence[int],
    tmp: Path,
    args: argparse.Namespace,
) -> list[Result]:
    port = free_port()
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--floor-worker",
        json.dumps({**job, "port": port}),
    ]
    base = f"http://127.0.0.1:{port}"
    print("floor: FastAPI + uvicorn, one process ...", flush=True)
    with server_process(cmd, ready_url=base + "/ping", log=tmp / "floor.log", env=server_env()):
        check_answers("floor", base + "/predict", bodies, expected)
        return measure("floor", "-", base + "/predict", bodies, args)


def bench_mlflow(
    python: Path,
    job: dict[str, Any],
    bodies: Sequence[bytes],
    expected: Sequence[int],
    tmp: Path,
    args: argparse.Namespace,
) -> list[Result]:
    env = mlflow_env(python)
    dest = tmp / "mlflow-model"
    saved = subprocess.run(
        [
            str(python),
            str(Path(__file__).resolve()),
            "--mlflow-save",
            json.dumps({**job, "dest": str(dest)}),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp),
    )
    if saved.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{saved.stderr[-4000:]}")
    port = free_port()
    cmd = [
        str(python.parent / "mlflow"),
        "models",
        "serve",
        "-m",
        str(dest),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--env-manager",
        "local",
        "-w",
        "1",
    ]
    base = f"http://127.0.0.1:{port}"
    print("mlflow: mlflow models serve --env-manager local -w 1 ...", flush=True)
    with server_process(
        cmd, ready_url=base + "/ping", log=tmp / "mlflow.log", env=env, cwd=str(tmp)
    ):
        check_answers("mlflow", base + "/invocations", bodies, expected)
        return measure("mlflow", "-", base + "/invocations", bodies, args)


def bench_floe(
    model: Any,
    sample: Any,
    bodies: Sequence[bytes],
    expected: Sequence[int],
    tmp: Path,
    args: argparse.Namespace,
) -> list[Result]:
    import ray
    from ray import serve as ray_serve

    import serve
    from registry import Registry

    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # no INFO line per deploy
    catalog_url, artifact_root = f"sqlite:///{tmp}/catalog.db", f"{tmp}/artifacts"
    reg = Registry(catalog_url=catalog_url, artifact_root=artifact_root)
    reg.log_model(model, model_name="bench", version_name="v1", sample_input_data=sample)
    results: list[Result] = []
    print("floe: Ray (2 CPUs) + serve.start + serve.deploy ...", flush=True)
    # A Ray of our own (address="local"), never one already running here: ray.init() alone
    # joins the cluster a `ray start` on this machine recorded in /tmp/ray.
    os.environ.pop("RAY_ADDRESS", None)
    logs = "/tmp/ray/session_latest/logs/serve/"
    try:
        context = ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        logs = f"{context.address_info['session_dir']}/logs/serve/"  # type: ignore[attr-defined]
        url = serve.start(port=free_port())
        predict_url = f"{url}/models/bench/versions/v1/predict"
        for label, batch in (("on (64, 2 ms)", 64), ("off", 1)):
            serve.deploy(
                "bench/v1",
                catalog_url=catalog_url,
                artifact_root=artifact_root,
                num_cpus=0.5,
                max_batch_size=batch,
                batch_wait_ms=2.0,
                max_ongoing_requests=64,
                max_queued_requests=256,
            )
            check_answers(f"floe (batching {label})", predict_url, bodies, expected)
            results += measure("floe", label, predict_url, bodies, args)
    except Exception:
        print(f"Floe failed; Serve's logs are under {logs}", file=sys.stderr)
        raise
    finally:
        if ray.is_initialized():
            ray_serve.shutdown()  # type: ignore[no-untyped-call]
            ray.shutdown()
    return results


# -- report ---------------------------------------------------------------------------------------


def _ratio(a: float, b: float | None) -> str:
    return "-" if not b else f"{a / b:.2f}"


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    by = {(r.server, r.batching, r.concurrency): r for r in results}
    header = [
        "server",
        "batching",
        "conc",
        "p50 ms",
        "p99 ms",
        "req/s",
        "ok",
        "failed",
        "client CPU",
        "load",
        "p50 - floor p50",
        "req/s / floor",
        "req/s / mlflow",
    ]
    rows = []
    for r in results:
        floor, mlflow = (
            by.get(("floor", "-", r.concurrency)),
            by.get(("mlflow", "-", r.concurrency)),
        )
        added = "-" if floor is None or r.server == "floor" else f"{r.p50 - floor.p50:+.2f}"
        rows.append(
            [
                r.server,
                r.batching,
                str(r.concurrency),
                f"{r.p50:.2f}",
                f"{r.p99:.2f}",
                f"{r.rps:.1f}",
                str(len(r.latencies_ms)),
                str(sum(r.failures.values())),
                f"{r.client_cpu:.0%}",
                f"{r.load:.1f}",
                added,
                _ratio(r.rps, floor.rps if floor else None),
                _ratio(r.rps, mlflow.rps if mlflow else None) if mlflow else "n/a",
            ]
        )
    title = (
        f"HTTP serving, 1-row requests, {TREES}-tree depth-{DEPTH} XGBClassifier "
        f"({args.duration_s:g} s per row after {args.warmup_s:g} s warm-up; "
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(180, Console().width)).print(table)

    for r in results:
        for why, count in r.failures.most_common(5):
            print(f"failures {r.server} {r.batching} c={r.concurrency}: {count} x {why}")
    print(
        f"The load generator (one asyncio process, httpx) shares the {os.cpu_count()} cores "
        "with the server under test; 'client CPU' is its CPU time per second of the window "
        "(100% = one core). The servers run at niceness 15 (Ray's worker default), the load "
        "generator at 0."
    )
    if args.no_mlflow or not any(r.server == "mlflow" for r in results):
        print("MLflow was not run: its column shows n/a.")
    floor1, mlflow64 = by.get(("floor", "-", 1)), by.get(("mlflow", "-", 64))
    floor64 = by.get(("floor", "-", 64))
    for label in ("on (64, 2 ms)", "off"):
        floe1 = by.get(("floe", label, 1))
        if floe1 is None:
            continue
        goal = f"goal: Floe (batching {label}) p50 at concurrency 1 <= floor's + {GOAL_ADDED_P50_MS:g} ms"
        if floor1 is None:
            print(f"{goal}: n/a")
            continue
        extra_ms = floe1.p50 - floor1.p50
        verdict = "met" if extra_ms <= GOAL_ADDED_P50_MS else "NOT met"
        print(f"{goal}: {verdict} ({extra_ms:+.2f} ms)")
    floe64 = by.get(("floe", "on (64, 2 ms)", 64))
    if floe64:
        for name, peer in (("floor", floor64), ("MLflow", mlflow64)):
            if peer is None:
                print(f"goal: Floe with batching, req/s at concurrency 64 >= {name}'s: n/a")
                continue
            verdict = "met" if floe64.rps >= peer.rps else "NOT met"
            print(
                f"goal: Floe with batching, req/s at concurrency 64 >= {name}'s: {verdict} "
                f"({floe64.rps:.1f} vs {peer.rps:.1f}, {floe64.rps / peer.rps:.2f}x)"
            )


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warm-up")
    p.add_argument("--duration-s", type=float, help="seconds timed per measurement (default 8)")
    p.add_argument("--warmup-s", type=float, help="seconds of warm-up before each (default 2)")
    p.add_argument("--no-mlflow", action="store_true", help="skip the MLflow peer")
    p.add_argument("--servers", default="floor,mlflow,floe", help="comma-separated subset")
    p.add_argument("--floor-worker", metavar="JOB_JSON", help=argparse.SUPPRESS)
    p.add_argument("--mlflow-save", metavar="JOB_JSON", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.duration_s = args.duration_s or (3.0 if args.quick else 8.0)
    args.warmup_s = args.warmup_s if args.warmup_s is not None else (1.0 if args.quick else 2.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.floor_worker:
        run_floor(json.loads(args.floor_worker))
        return 0
    if args.mlflow_save:
        save_mlflow_model(json.loads(args.mlflow_save))
        return 0
    sys.path.insert(0, str(ROOT))  # Floe's packages, in Floe's venv only

    import pandas as pd
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer

    servers = {s.strip() for s in args.servers.split(",") if s.strip()}
    if args.no_mlflow:
        servers.discard("mlflow")
    data = load_breast_cancer()
    columns = [f"f{i}" for i in range(data.data.shape[1])]
    X = pd.DataFrame(data.data, columns=columns)
    model = xgb.XGBClassifier(n_estimators=TREES, max_depth=DEPTH, n_jobs=1).fit(X, data.target)
    rows = X.to_numpy().tolist()[:DISTINCT_BODIES]
    expected = model.predict(X.iloc[:DISTINCT_BODIES]).tolist()
    snowflake = [snowflake_body(r) for r in rows]
    split = [mlflow_body(columns, r) for r in rows]

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="floe-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        model.save_model(str(tmp / "model.ubj"))
        job = {"model": str(tmp / "model.ubj"), "columns": columns, "sample": rows[:10]}
        if "floor" in servers:
            results += bench_floor(job, snowflake, expected, tmp, args)
        if "mlflow" in servers:
            try:
                python = ensure_mlflow_venv()
            except (subprocess.CalledProcessError, OSError) as exc:
                print(
                    f"MLflow could not be installed ({exc}); its column shows n/a", file=sys.stderr
                )
            else:
                try:
                    results += bench_mlflow(python, job, split, expected, tmp, args)
                except RuntimeError as exc:
                    print(f"MLflow failed, its column shows n/a: {exc}", file=sys.stderr)
        if "floe" in servers:
            results += bench_floe(model, X[:10], snowflake, expected, tmp, args)
    if not results:
        print("nothing was measured; pick --servers floor, mlflow and/or floe", file=sys.stderr)
        return 1
    print_report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
