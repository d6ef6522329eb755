"""The store's foundation: driver errors translated by kind, values checked before the
database sees them, so SQLite and PostgreSQL give the same answer."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import delete

from registry import AlreadyExists, Conflict, InvalidInput, ModelVersion, NotFound, Registry
from registry.catalog.store import CatalogStore
from registry.catalog.tables import MetricRow, ModelTagRow, NamespaceRow
from tests.models import iris_classifier


def _log(reg: Registry, name: str, version: str) -> ModelVersion:
    clf, X = iris_classifier()
    return reg.log_model(clf, model_name=name, version_name=version, sample_input_data=X[:5])


def test_a_reference_to_a_deleted_version_is_not_found_not_already_exists(
    reg: Registry,
) -> None:
    _log(reg, "m", "v1")
    stale = _log(reg, "m", "v2")
    reg.get_model("m").delete_version("v2")
    # The alias row refers to a version that is gone: a foreign-key failure, not a name clash.
    with pytest.raises(NotFound, match="model version it refers to no longer exists.*retry"):
        stale.set_alias("champion")
    assert reg.get_model("m").version("v1").aliases == ["DEFAULT", "FIRST", "LAST"]


def test_deleting_a_row_others_refer_to_is_a_conflict(reg: Registry, catalog_url: str) -> None:
    _log(reg, "m", "v1")
    store = CatalogStore(catalog_url)
    try:
        with pytest.raises(Conflict, match=r"delete the namespace: other rows \(grant or model\)"), \
                store.write() as s:
            s.exec(delete(NamespaceRow))
    finally:
        store.dispose()
    assert reg.get_model("m").name == "M"  # nothing half-done


def test_a_database_not_null_violation_is_invalid_input(reg: Registry, catalog_url: str) -> None:
    _log(reg, "m", "v1")
    store = CatalogStore(catalog_url)
    try:
        with store.read() as s:
            model_id = s.execute(sa.text("SELECT id FROM floe_model")).scalar_one()
        # Core bypasses the flush-time checks: the database itself refuses the NULL.
        statement = sa.insert(ModelTagRow.__table__).values(  # type: ignore[attr-defined]
            model_id=model_id, name="T", value=None
        )
        with pytest.raises(InvalidInput, match="tag value is required; pass a value"), \
                store.write() as s:
            s.execute(statement)
        # The same row through the ORM is refused before the database sees it, alike.
        with pytest.raises(InvalidInput, match="tag value is required; pass a value"), \
                store.write() as s:
            s.add(ModelTagRow(model_id=model_id, name="T", value=None))  # type: ignore[arg-type]
    finally:
        store.dispose()


def test_unique_violations_stay_already_exists(reg: Registry, catalog_url: str) -> None:
    mv = _log(reg, "m", "v1")
    store = CatalogStore(catalog_url)
    try:
        with pytest.raises(AlreadyExists, match="name is already taken"), store.write() as s:
            s.execute(sa.insert(MetricRow.__table__), [  # type: ignore[attr-defined]
                {"version_id": mv.id, "name": "acc", "value": 1},
                {"version_id": mv.id, "name": "acc", "value": 2},
            ])
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (MetricRow(version_id="v", name="x" * 256, value=1),
         "metric name is 256 characters long, at most 255 are allowed; shorten it"),
        (ModelTagRow(model_id="m", name="T", value="a\x00b"),
         r"tag value holds a NUL character \(U\+0000\), which the catalog cannot store; remove"),
    ],
)
def test_rows_are_checked_before_the_database_sees_them(
    catalog_url: str, row: object, message: str
) -> None:
    # SQLite would store both; PostgreSQL refuses both with a raw DataError. Both refuse
    # them alike now, before any statement runs (the version and model do not even exist).
    store = CatalogStore(catalog_url)
    try:
        with pytest.raises(InvalidInput, match=message), store.write() as s:
            s.add(row)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_a_data_error_is_invalid_input_without_the_statement(postgres_url: str) -> None:
    # Core statements skip the flush-time checks: PostgreSQL's DataError is still translated.
    store = CatalogStore(postgres_url)
    try:
        statement = sa.insert(NamespaceRow.__table__).values(  # type: ignore[attr-defined]
            database_name="D" * 300, schema_name="S", created_on=sa.func.now()
        )
        with pytest.raises(InvalidInput, match="the catalog refused a value: value too long") as e, \
                store.write() as s:
            s.execute(statement)
        assert "INSERT" not in str(e.value) and "SQL" not in str(e.value)
    finally:
        store.dispose()


def test_reads_in_one_connection_share_it_and_still_see_each_write(
    reg: Registry, catalog_url: str,
) -> None:
    from registry.catalog.base import one_connection

    mv = _log(reg, "m", "v1")
    store = CatalogStore(catalog_url)
    checkouts: list[object] = []
    sa.event.listen(store.engine.pool, "checkout", lambda *args: checkouts.append(args))
    try:
        with one_connection():
            assert store.aliases_of(mv.id) == ["DEFAULT", "FIRST", "LAST"]
            assert store.find_user("nobody") is None
            assert len(checkouts) == 1  # both reads on the block's one connection
            store.set_alias(reg.get_model("m").id, mv.id, "CHAMPION")  # a write: its own
            assert len(checkouts) == 2
            # each read is its own transaction: no snapshot from before the write (SQLite)
            assert store.aliases_of(mv.id) == ["DEFAULT", "FIRST", "LAST", "CHAMPION"]
        assert store.engine.pool.checkedout() == 0  # returned at the block's end
        store.aliases_of(mv.id)
        assert len(checkouts) == 3  # outside the block, each read checks one out
    finally:
        store.dispose()
