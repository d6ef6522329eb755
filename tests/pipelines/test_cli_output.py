"""What ``floe pipeline run`` shows: Floe's own lines only, Ray's in the run's log file (or on
the terminal with ``--verbose``), and an error as one ``error:`` line.

The runs are the real CLI in a subprocess, each on a private local Ray (``RAY_ADDRESS=local``):
Ray's lines come from the process's own file descriptors, which only a process of its own shows.
Their pipes are not terminals, so no progress bar is drawn: what they print is exact.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from pipelines._output import to_log_file
from tests.pipelines.pipeline_data import log_iris, pipeline_config, write_iris_table
from tests.pipelines.test_runner import run_isolated

#: A line Ray's Python loggers write (``2026-12-02 14:08:22,885\tINFO worker.py:2038 -- ...``)
#: or its C++ core worker (``[2026-12-02 14:08:45,460 E 2725 2725] core_worker.cc:2465: ...``).
RAY_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\s+[A-Z]+ |\[\d{4}-\d\d-\d\d .*\] )",
                      re.MULTILINE)
SUMMARY_LABELS = ("model", "function", "strategy", "rows in", "rows out", "partitions", "files", "rows/s",
                  "wall time", "first rows", "output", "run id")
#: Every line ``floe pipeline run`` prints when it succeeds, and nothing else.
FLOE_LINE = re.compile(
    r"model \S+ resolved to \S+"
    r"|pipeline run"
    r"|[┌┐└┘├┤┬┴┼─]+"  # the summary's borders
    r"|│ (" + "|".join(SUMMARY_LABELS) + r"| +) +│ .* │"  # its rows, or a row's wrapped part
    r"|run record: \S+\.json"
    r"|Ray's log: +\S+\.log"
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("cli_output")
    catalog = log_iris(root / "catalog")
    write_iris_table(root / "data")
    path = root / "p.yaml"
    path.write_text(yaml.safe_dump(pipeline_config(root / "data", root / "out", catalog)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "RAY_"))}
    env.update(FLOE_HOME=str(root / "home"), RAY_ADDRESS="local", COLUMNS="100")
    return path, env


def floe_run(config: Path, env: dict[str, str], *flags: str) -> tuple[str, str, int]:
    return run_isolated([sys.executable, "-m", "registry.cli", "pipeline", "run", str(config),
                         *flags], env=env, timeout_s=240)


@pytest.mark.slow
def test_a_run_prints_floe_lines_only_and_ray_lines_go_to_its_log(
    pipeline: tuple[Path, dict[str, str]],
) -> None:
    config, env = pipeline
    stdout, stderr, status = floe_run(config, env)
    assert status == 0, stderr[-3000:]
    assert stderr == ""
    lines = stdout.splitlines()
    strays = [line for line in lines if not FLOE_LINE.fullmatch(line.rstrip())]
    assert strays == [], "lines that are not Floe's:\n" + "\n".join(strays)
    assert any(line.startswith("│ first rows") for line in lines)

    record = json.loads(Path(lines[-2].removeprefix("run record: ")).read_text())
    log_path = Path(lines[-1].split(":", 1)[1].strip())
    assert record["log_path"] == str(log_path)
    assert 0 < record["ray_ready_s"] < record["first_batch_s"] <= record["wall_time_s"]
    logged = log_path.read_text()
    assert RAY_LINE.search(logged), logged[-2000:]
    assert "Starting execution of Dataset" in logged

    # the same output again: refused in the write, after Ray started, inside the redirection
    stdout, stderr, status = floe_run(config, env)
    assert status == 1
    assert stdout.splitlines() == [lines[0]]
    assert stderr.startswith("error: output ") and "already holds" in stderr
    assert stderr.count("\n") == 1


@pytest.mark.slow
def test_verbose_shows_rays_lines_and_writes_no_log(
    pipeline: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, env = pipeline
    text = yaml.safe_load(config.read_text())
    text["output"]["path"] = str(tmp_path / "out")
    verbose = tmp_path / "p.yaml"
    verbose.write_text(yaml.safe_dump(text))
    stdout, stderr, status = floe_run(verbose, env, "--verbose")
    assert status == 0, stderr[-3000:]
    assert RAY_LINE.search(stderr), stderr[-2000:]
    assert "Starting execution of Dataset" in stderr
    assert "run record: " in stdout and "Ray's log:" not in stdout
    assert not list((tmp_path / "out" / "_floe_runs").glob("*.log"))


def test_to_log_file_takes_python_and_file_descriptor_writes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """What the C++ core worker writes goes to fd 2 directly; Python's loggers to sys.stderr."""
    path = tmp_path / "logs" / "run.log"
    logger = logging.getLogger("tests.ray_like")
    logger.addHandler(_StderrAtEmit())  # as Ray's PlainRayHandler: sys.stderr when it emits
    logger.propagate = False
    try:
        with to_log_file(path):
            os.write(2, b"from C++\n")
            os.write(1, b"to stdout\n")
            print("from print", file=sys.stderr)
            logger.warning("from a logger")
        os.write(2, b"after\n")
    finally:
        logger.handlers.clear()
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "after\n"
    assert path.read_text().splitlines() == ["from C++", "to stdout", "from print",
                                             "from a logger"]


class _StderrAtEmit(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")
