"""Floe's SQL: Snowflake's statements parsed with one tokenizer and recursive descent.

* ``registry.sql.cursor``: the words of a statement, the cursor every grammar reads them with,
  ``StatementError`` (its message points at the word) and ``parse_with``, which picks the
  grammar by the statement's first words.
* ``registry.access.statements``: the access-control statements (roles, users, grants).
* ``registry.sql.models``: the model statements (SHOW MODELS, ALTER MODEL, LIST, GET, ...).
* ``registry.sql.statements``: ``parse_sql``, every statement ``Registry.sql`` runs.

Parsing reads no database and does no I/O; ``registry.api.sql`` runs a parsed model statement
through the Python API. This package's ``__init__`` imports nothing, so that
``registry.access.statements`` can import the cursor while ``parse_sql`` imports it.
"""
