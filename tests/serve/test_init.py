"""serve/__init__.py: ``__all__`` lists exactly the public names (as registry's does)."""

from __future__ import annotations

import types

import serve


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name for name, value in vars(serve).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(serve.__all__) == sorted(public)
    assert {"start", "deploy", "undeploy", "status", "apply", "shutdown"} <= public
