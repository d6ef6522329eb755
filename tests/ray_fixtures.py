"""One local Ray for the whole test session: starting Ray costs seconds.

``num_cpus=2`` like this machine, no dashboard, shut down cleanly at the end. Tests that need
a cluster of their own (several nodes, a head for job submission) start it in a subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    import ray

    ray.init(
        # "local": always a private instance; without it ray.init() joins a cluster that a
        # `ray start` left running on this machine, and refuses num_cpus there.
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        ignore_reinit_error=True,
        configure_logging=False,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()
