"""The ``floe`` command line against a real catalog and artifact root.

Models are logged through the Python API, then every command is driven through
``registry.cli.main`` in process (``sh``, tests/registry/cli/conftest.py); the tour that
touches the catalog the most runs on SQLite and on PostgreSQL, the rest on SQLite. What only a
real process shows runs as one (``python -m registry.cli``, about a second each): the
installed ``floe`` script, the ``floe.cli`` entry points found on ``PYTHONPATH``, ``-v``'s
logging to stderr, a closed stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry import ModelVersion, Registry
from tests.models import iris_classifier
from tests.registry.cli.conftest import Shell, error_line

sqlite_only = pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str


def run(env: dict[str, str], *args: str, program: list[str] | None = None) -> Result:
    done = subprocess.run(
        [*(program or [sys.executable, "-m", "registry.cli"]), *args],
        env=env,
        stdin=subprocess.DEVNULL,  # never a terminal: confirmations must need --yes
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def floe_error(env: dict[str, str], *args: str, status: int = 1) -> str:
    """Run a command that must fail; return its one ``error:`` line."""
    result = run(env, *args)
    return error_line(result.status, result.stdout, result.stderr, status=status)


def log_iris(
    reg: Registry, *versions: str, model_name: str = "iris", **kwargs: Any
) -> list[ModelVersion]:
    clf, X = iris_classifier()
    return [
        reg.log_model(clf, model_name=model_name, version_name=v, sample_input_data=X[:5], **kwargs)
        for v in versions
    ]


# -- on both backends -----------------------------------------------------------------------------


def test_browse_and_curate(reg: Registry, sh: Shell) -> None:
    log_iris(reg, "v1", metrics={"acc": 0.9})
    log_iris(reg, "v2")
    m = reg.get_model("iris")

    [listed] = sh.json("models", "list")
    assert listed["name"] == "IRIS"
    assert (listed["database_name"], listed["schema_name"]) == ("ML", "REGISTRY")
    assert (listed["versions"], listed["default_version_name"]) == (["V1", "V2"], "V1")
    assert listed["aliases"] == {}

    out = sh.ok("alias", "set", "iris", "LAST", "prod")
    assert out == "alias PROD now points at ML.REGISTRY.IRIS version V2\n"
    assert m.version("PROD").version_name == "V2"

    shown = sh.json("versions", "show", "iris", "prod")
    assert (shown["model"], shown["name"]) == ("ML.REGISTRY.IRIS", "V2")
    assert shown["aliases"] == ["LAST", "PROD"]
    predict = next(f for f in shown["functions"] if f["name"] == "predict")
    _, X = iris_classifier()
    assert [c["name"] for c in predict["signature"]["inputs"]] == list(X.columns)

    out = sh.ok("default", "set", "ML.REGISTRY.iris", "prod")
    assert out == "the default version of ML.REGISTRY.IRIS is now V2\n"
    assert m.default.version_name == "V2"

    out = sh.ok("versions", "delete", "iris", "v1", "--yes")
    assert out == "deleted ML.REGISTRY.IRIS version V1\n"
    assert [v.version_name for v in m.versions()] == ["V2"]

    table = sh.ok("models", "list")
    assert "IRIS" in table and "PROD: V2" in table


# -- SQLite only ----------------------------------------------------------------------------------


@sqlite_only
def test_show_rename_and_delete_models(
    reg: Registry, sh: Shell, catalog_url: str, artifact_root: Path
) -> None:
    _, v2 = log_iris(reg, "v1", "v2", comment="iris v1")
    v2.set_alias("prod")
    reg.get_model("iris").set_tag("stage", "dev")

    shown = sh.json("models", "show", "iris")
    assert {k: v for k, v in shown.items() if k != "versions"} == {
        "name": "IRIS",
        "fully_qualified_name": "ML.REGISTRY.IRIS",
        "comment": "iris v1",
        "tags": {"STAGE": "dev"},
        "default_version_name": "V1",
    }
    assert [(v["name"], v["aliases"], v["comment"]) for v in shown["versions"]] == [
        ("V1", ["DEFAULT", "FIRST"], "iris v1"),
        ("V2", ["LAST", "PROD"], "iris v1"),
    ]

    versions = sh.json("versions", "list", "iris")
    assert [(v["name"], v["aliases"], v["is_default_version"]) for v in versions] == [
        ("V1", ["DEFAULT", "FIRST"], True),
        ("V2", ["LAST", "PROD"], False),
    ]
    assert versions[0]["metadata"]["framework"] == "sklearn"

    out = sh.ok("models", "rename", "iris", "ML.ARCHIVE.flowers")
    assert out == "renamed ML.REGISTRY.IRIS to ML.ARCHIVE.FLOWERS\n"
    archive = Registry("ML", "ARCHIVE", catalog_url=catalog_url, artifact_root=str(artifact_root))
    assert archive.get_model("flowers").version("prod") == v2

    assert sh.error("models", "delete", "ML.ARCHIVE.FLOWERS") == (
        "error: refusing to delete model ML.ARCHIVE.FLOWERS and its 2 versions without "
        "confirmation (stdin is not a terminal); pass --yes to confirm"
    )
    out = sh.ok("--schema", "archive", "models", "delete", "flowers", "--yes")
    assert out == "deleted model ML.ARCHIVE.FLOWERS and its 2 versions\n"
    assert archive.show_models().empty
    assert not any((artifact_root / "versions").iterdir())


@sqlite_only
def test_metrics_tags_comments_and_aliases_with_quoted_names(
    sh: Shell, catalog_url: str, artifact_root: Path
) -> None:
    lab = Registry('"Lab"', "exp", catalog_url=catalog_url, artifact_root=str(artifact_root))
    [mv] = log_iris(lab, '"v1"', model_name='"MyModel"', metrics={"acc": 0.9})
    mv.set_alias("prod")
    m = lab.get_model('"MyModel"')
    m.set_tag("stage", "dev")
    model = '"Lab".EXP."MyModel"'
    namespace = ["--database", '"Lab"', "--schema", "exp"]

    out = sh.ok("metrics", "set", model, '"v1"', "note", "not json")
    assert out == """set metric 'note' = "not json" on "Lab".EXP."MyModel" version "v1"\n"""
    assert mv.get_metric("note") == "not json"
    assert sh.ok("metrics", "get", model, "LAST", "acc") == "0.9\n"
    assert sh.json("metrics", "list", model, "prod") == {"acc": 0.9, "note": "not json"}
    sh.ok("metrics", "delete", model, "DEFAULT", "note")
    assert mv.show_metrics() == {"acc": 0.9}

    assert sh.ok(*namespace, "tags", "get", '"MyModel"', "stage") == "dev\n"
    assert sh.json("tags", "list", '"MyModel"', *namespace) == {"STAGE": "dev"}
    sh.ok("tags", "unset", model, "STAGE")
    assert m.show_tags() == {}

    sh.ok("comment", "set", model, "iris, quoted")
    sh.ok("comment", "set", model, "the first one", "--version", "prod")
    assert (m.comment, mv.comment) == ("iris, quoted", "the first one")

    out = sh.ok("alias", "unset", model, "prod")
    assert out == """removed alias PROD from "Lab".EXP."MyModel" version "v1"\n"""
    assert mv.aliases == ["DEFAULT", "FIRST", "LAST"]


@sqlite_only
def test_artifacts_and_export(reg: Registry, sh: Shell, tmp_path: Path) -> None:
    log_iris(reg, "v1")
    url = "floe://model/ML.REGISTRY.IRIS/versions/LAST/"

    listed = sh.json("artifacts", "list", url)
    names = {f["name"] for f in listed}
    assert {"versions/V1/MANIFEST.yml", "versions/V1/model/model.pkl"} <= names
    assert all(len(f["sha256"]) == 64 for f in listed)

    out = sh.ok(
        "artifacts", "get", "floe://model/iris/versions/v1/model", str(tmp_path / "got")
    )
    written = [Path(line) for line in out.splitlines()]
    assert written == [tmp_path / "got" / "model.pkl"]
    assert written[0].stat().st_size == next(
        f["size"] for f in listed if f["name"] == "versions/V1/model/model.pkl"
    )

    # A top-level file goes inside DIR (it replaced DIR itself before), new or existing.
    for target in (tmp_path / "new", tmp_path / "got"):
        out = sh.ok("artifacts", "get", "floe://model/iris/versions/v1/MANIFEST.yml",
                    str(target))
        assert out == f"{target / 'MANIFEST.yml'}\n" and (target / "MANIFEST.yml").is_file()

    out = sh.ok("export", "iris", "DEFAULT", str(tmp_path / "full"), "--full")
    assert out == f"exported ML.REGISTRY.IRIS version V1 to {tmp_path / 'full'} (full)\n"
    assert {"predict.py", "MANIFEST.yml", "model", "env"} <= {
        p.name for p in (tmp_path / "full").iterdir()
    }


@sqlite_only
def test_gc_removes_only_unreferenced_versions(
    reg: Registry, sh: Shell, artifact_root: Path
) -> None:
    [mv] = log_iris(reg, "v1")
    orphan = uuid.uuid4().hex
    (artifact_root / "versions" / orphan / "model").mkdir(parents=True)
    (artifact_root / "versions" / orphan / "model" / "model.pkl").write_bytes(b"left behind")

    assert sh.json("gc", "--grace-period-s", "0", "--yes") == [orphan]
    assert sorted(p.name for p in (artifact_root / "versions").iterdir()) == [mv.id]
    assert mv.load() is not None  # the live version is intact


@sqlite_only
def test_errors_print_one_line(reg: Registry, sh: Shell, tmp_path: Path) -> None:
    log_iris(reg, "v1", "v2")

    assert sh.error("versions", "list", "nope") == (
        "error: ML.REGISTRY has no model NOPE; list them: "
        "floe models list --database ML --schema REGISTRY"
    )
    assert sh.error("versions", "show", "iris", "stable") == (
        "error: ML.REGISTRY.IRIS has no version or alias STABLE; list them: "
        "floe versions list ML.REGISTRY.IRIS"
    )
    assert sh.error("tags", "get", "iris", "stage") == (
        "error: ML.REGISTRY.IRIS has no tag STAGE; list them: floe tags list ML.REGISTRY.IRIS"
    )
    message = sh.error("versions", "delete", "iris", "DEFAULT", "--yes")
    assert message.startswith("error: cannot delete the default version of ML.REGISTRY.IRIS")
    assert message.endswith("set another default first: floe default set ML.REGISTRY.IRIS V2")

    assert sh.error("versions", "show", "iris", status=2) == (
        "error: Missing argument 'VERSION'; see 'floe versions show --help'"
    )
    # An artifact root that is a file: one FloeError naming the root and the fix (a bare
    # NotADirectoryError before).
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    message = sh.error("--artifact-root", str(not_a_dir), "gc", "--yes")
    assert message.startswith("error: cannot use ") and f"artifact root {not_a_dir}" in message
    assert message.endswith("check that the artifact root is a readable directory")


def test_installed_script(plugin_env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("floe")
    result = run(plugin_env, "--version", program=[str(script)])
    assert (result.status, result.stdout) == (0, "floe 0.1.0\n")


# -- the one error edge, shared by every command group ---------------------------------------

_PLUGIN = '''
import sys

import sqlalchemy.exc
import typer

from registry import InvalidInput

app = typer.Typer()


@app.command("sql")
def sql() -> None:
    raise sqlalchemy.exc.DataError(
        "INSERT INTO metric (name, value) VALUES (%(name)s, %(value)s)",
        {"name": "x" * 300, "value": "1"},
        Exception("value too long for type character varying(256)\\nLINE 1: INSERT INTO metric"),
    )


@app.command("floe")
def floe() -> None:
    raise InvalidInput("model code failed; fix it\\nTraceback (most recent call last):\\n"
                       '  File "model.py", line 3, in predict\\n[SQL: SELECT 1]')


@app.command("blank")
def blank() -> None:
    raise RuntimeError("\\n\\n")


@app.command("interrupt")
def interrupt() -> None:
    raise KeyboardInterrupt


@app.command("decline")
def decline() -> None:
    raise typer.Abort()


@app.command("flood")
def flood() -> None:
    for n in range(1_000_000):
        print(f"row {n}")
'''


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """A ``floe`` whose ``floe.cli`` entry points also offer ``floe edge``: a command group
    from outside registry/, found the way ``floe pipeline`` and ``floe serve`` are."""
    (tmp_path / "edge_plugin.py").write_text(_PLUGIN)
    dist = tmp_path / "floe_edge_plugin-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: floe-edge-plugin\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[floe.cli]\nedge = edge_plugin:app\n")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")])),
               FLOE_HOME=str(tmp_path / "home"))
    return env


def test_a_command_group_only_raises_and_the_edge_prints_one_line(
    plugin_env: dict[str, str],
) -> None:
    line = floe_error(plugin_env, "edge", "sql")  # a driver error that is no FloeError
    assert line == "error: DataError: (builtins.Exception) value too long for type character " \
        "varying(256)"
    assert floe_error(plugin_env, "edge", "floe") == "error: model code failed; fix it"
    assert floe_error(plugin_env, "edge", "blank") == "error: RuntimeError"
    interrupted = run(plugin_env, "edge", "interrupt")  # typer: exit 130, the shell shows ^C
    assert (interrupted.status, interrupted.stdout, interrupted.stderr) == (130, "", "")
    assert floe_error(plugin_env, "edge", "decline") == "error: aborted"
    # with -v the whole error is logged, traceback and all, for whoever debugs it
    verbose = run(plugin_env, "-v", "edge", "floe")
    assert verbose.status == 1 and "Traceback" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == "error: model code failed; fix it"


def test_a_closed_stdout_ends_the_command_quietly(plugin_env: dict[str, str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "registry.cli", "edge", "flood"],
                            env=plugin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"row 0\n"
    proc.stdout.close()  # as `floe ... | head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert stderr == ""
