"""Failed sign-ins counted per client address: after ``max_failures`` within ``window_s`` the
address is refused (``TooManyAttempts``, HTTP 429 with ``Retry-After``) before any token is
checked, until its oldest failure leaves the window. Every attempt is refused then, a good
token's too: letting good guesses through would tell a guesser when one is right.
In memory, per process; the servers keep one each."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from registry.errors import TooManyAttempts

__all__ = ["FailureLimiter"]

_MAX_KEYS = 10_000  # bounded: many addresses forget the oldest first


class FailureLimiter:
    def __init__(self, max_failures: int = 10, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self._clock = max_failures, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Refuse ``address`` while it has ``max_failures`` failures in the window."""
        with self._lock:
            times = self._recent(address)
            if times is None or len(times) < self.max_failures:
                if times is not None and not times:
                    del self._failures[address]
                return
            wait = max(1, math.ceil(times[0] + self.window_s - self._clock()))
        raise TooManyAttempts(
            f"too many failed sign-ins from {address} ({self.max_failures} in "
            f"{self.window_s:g} s); retry after {wait} s with a valid token", wait)

    def failed(self, address: str) -> None:
        """Count one failed sign-in from ``address``."""
        with self._lock:
            times = self._recent(address)
            if times is None:
                if len(self._failures) >= _MAX_KEYS:
                    self._failures.pop(next(iter(self._failures)))
                times = self._failures[address] = deque()
            times.append(self._clock())

    def _recent(self, address: str) -> deque[float] | None:
        times = self._failures.get(address)
        if times is not None:
            horizon = self._clock() - self.window_s
            while times and times[0] <= horizon:
                times.popleft()
        return times
