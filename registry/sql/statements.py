"""``parse_sql``: every statement ``Registry.sql`` runs, in Snowflake's grammar.

The access-control statements (``registry.access.statements``: roles, users, grants) and
the model statements (``registry.sql.models``: SHOW MODELS, ALTER MODEL, LIST, GET, ...)
share their verbs SHOW and DROP; ``parse_with`` tells them apart by the word after the verb
(``SHOW GRANTS`` and ``SHOW MODELS``, ``DROP ROLE`` and ``DROP MODEL``), and an error there
lists the words of both.
"""

from __future__ import annotations

from typing import TypeAlias, TypeGuard

from registry.access import statements as access
from registry.sql import models
from registry.sql.cursor import parse_with

__all__ = ["SqlStatement", "is_model_statement", "parse_sql"]

SqlStatement: TypeAlias = access.Statement | models.ModelStatement


def parse_sql(text: str) -> SqlStatement:
    """Parse one statement of either grammar; ``StatementError`` points at the word."""
    return parse_with(text, access.GRAMMAR, models.GRAMMAR)


def is_model_statement(statement: SqlStatement) -> TypeGuard[models.ModelStatement]:
    """Whether ``statement`` is a model statement (run through the Python API) rather than
    an access-control one (run by the registry's backend, as ``floe sql`` always has)."""
    return isinstance(statement, models.MODEL_STATEMENTS)
