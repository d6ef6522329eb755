"""``floe models list`` on a namespace that does not exist: a note, no rows, nothing written."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.registry.cli.conftest import Shell


def test_listing_a_namespace_that_does_not_exist_notes_it_and_creates_nothing(
    catalog_url: str, sh: Shell
) -> None:
    status, out, err = sh.run("models", "list", "--database", "TYPO", "--json")
    assert (status, json.loads(out), err) == (0, [], "note: TYPO.REGISTRY does not exist\n")
    status, out, err = sh.run("--schema", "x", "models", "list")
    assert (status, err) == (0, "note: ML.X does not exist\n")
    assert "no models" in out
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM floe_namespace")).scalar()
    finally:
        engine.dispose()
    assert count == 0  # TYPO.REGISTRY and ML.X were created by listing them before
