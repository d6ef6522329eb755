"""Alembic migrations of the catalog; applied by ``registry.catalog.store.open_catalog``."""
