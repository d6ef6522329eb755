"""Staging a version: how code paths are recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import InvalidInput, NotFound, Registry
from tests.models import iris_classifier


def test_two_code_paths_with_one_name_are_refused(reg: Registry, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder / "utils").mkdir(parents=True)
        (tmp_path / folder / "utils" / "__init__.py").write_text(f"WHERE = {folder!r}\n")
    clf, X = iris_classifier()
    with pytest.raises(InvalidInput, match=r"two code paths are named 'utils'.*rename one"):
        reg.log_model(clf, model_name="m", version_name="v1", sample_input_data=X[:5],
                      code_paths=[tmp_path / "a" / "utils", tmp_path / "b" / "utils"])
    with pytest.raises(NotFound):
        reg.get_model("m")
