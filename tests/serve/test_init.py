"""serve/__init__.py: the package exports nothing yet; each subpackage keeps its own surface."""

from __future__ import annotations

import serve


def test_serve_exports_nothing_of_its_own() -> None:
    assert serve.__all__ == []
    assert serve.__doc__ == "Floe serving on Ray Serve."
