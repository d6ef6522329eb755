"""``sh``: ``floe`` run in process through ``registry.cli.main`` (the function the ``floe``
script calls), on the test's catalog and artifact root. A real process costs about a second
(Python, pandas, SQLAlchemy and the catalog, each time); the behaviours only a process shows
(the installed script, entry-point plugins, ``-v``'s logging, a closed stdout) are run as
real processes in test_app.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry.cli import main


@dataclass
class Shell:
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = main(list(args))
        out = self.capsys.readouterr()
        return status, out.out, out.err

    def ok(self, *args: str) -> str:
        """The stdout of a command that must succeed."""
        status, out, err = self.run(*args)
        assert status == 0, f"floe {' '.join(args)} failed: {err}"
        assert "Traceback" not in err
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))  # stdout is JSON and nothing else

    def error(self, *args: str, status: int = 1) -> str:
        """The one ``error:`` line of a command that must fail."""
        return error_line(*self.run(*args), status=status)


def error_line(got: int, out: str, err: str, *, status: int = 1) -> str:
    """The one ``error:`` line on stderr of a command that exited with ``status`` and
    printed nothing on stdout, in process or as a process."""
    assert (got, out) == (status, ""), (got, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def sh(catalog_url: str, artifact_root: Path, monkeypatch: pytest.MonkeyPatch,
       capsys: pytest.CaptureFixture[str]) -> Shell:
    monkeypatch.setenv("FLOE_CATALOG_URL", catalog_url)
    monkeypatch.setenv("FLOE_ARTIFACT_ROOT", str(artifact_root))
    monkeypatch.setenv("COLUMNS", "200")
    return Shell(capsys)
