"""``floe``: the command line over the Python API (``registry.Registry``).

    floe models list
    floe versions show churn LAST --json
    floe alias set ML.PROD.CHURN v3 stable

Every listing takes ``--json``. Errors print one line, ``error: <message>``, to stderr and
exit non-zero. The commands live in ``_models`` (models, versions), ``_metadata`` (alias,
default, metrics, tags, comment) and ``_artifacts`` (artifacts, export, gc); ``_app`` wires
them together with the groups other packages offer through ``floe.cli`` entry points
(``floe pipeline``), and ``main`` is the one error edge for all of them: groups only raise.
"""

from registry.cli._app import app, main

__all__ = ["app", "main"]
