"""The public API: ``Registry`` (a namespace's models), ``Model`` and ``ModelVersion``."""
