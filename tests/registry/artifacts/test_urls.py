"""floe:// artifact URLs: a URL that could leave its version, or is not one, is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import InvalidInput

_DOTDOT = r"leaves its version \('\.\.'\); remove the '\.\.' parts"
_ENCODED = r"holds a percent-encoded separator, dot or NUL; write the path plainly"
_WRITE_AS = r"; write it as floe://model/<model>/versions/<version or alias>/\[path\]"


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("floe://model/m/versions/v1/../v2/model/model.pkl", _DOTDOT),
        ("floe://model/m/versions/v1/model/../../x", _DOTDOT),
        ("floe://model/m/versions/v1//etc/passwd",
         r"is absolute; give a path relative to the version"),
        ("floe://model/m/versions/v1/%2e%2e/x", _ENCODED),
        ("floe://model/m/versions/v1/model%2Fmodel.pkl", _ENCODED),
        ("floe://model/m/versions/v1/..%2f..%2fetc", _ENCODED),
        ("floe://model/m/versions/v1/model\\..\\x",
         r"holds a backslash or NUL; use '/'-separated names"),
        ("floe://model/m/versions/v1/a%00b", _ENCODED),
        ("snow://model/m/versions/v1/", r"is not a Floe artifact URL" + _WRITE_AS),
        ("floe://model/m/v1/", r"is malformed" + _WRITE_AS),
    ],
)
def test_urls_that_leave_their_version_are_refused(
    logged, url: str, fix: str, tmp_path: Path
) -> None:
    reg = logged[0]
    with pytest.raises(InvalidInput, match=fix):
        reg.list_artifacts(url)
    with pytest.raises(InvalidInput, match=fix):
        reg.get_artifact(url, tmp_path / "out")
    assert not (tmp_path / "out").exists()
