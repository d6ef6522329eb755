"""Failed sign-ins per client address: the limiter refuses an address at its limit, before
any check, and forgives each failure once it leaves the window."""

from __future__ import annotations

import pytest

from registry import FailureLimiter, TooManyAttempts, Unauthenticated


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_at_its_limit_is_refused_until_its_failures_age_out() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
        clock.now += 10  # failures at 1000, 1010, 1020
    with pytest.raises(TooManyAttempts, match=r"too many failed sign-ins from 10\.0\.0\.1 "
                       r"\(3 in 60 s\); retry after 30 s") as info:
        limiter.check("10.0.0.1")  # at 1030: the first failure leaves the window at 1060
    assert info.value.retry_after_s == 30 and info.value.http_status == 429
    assert isinstance(info.value, Unauthenticated)
    limiter.check("10.0.0.2")  # other addresses are not affected
    clock.now = 1060.0
    limiter.check("10.0.0.1")  # one failure aged out: below the limit again
    limiter.failed("10.0.0.1")
    with pytest.raises(TooManyAttempts):
        limiter.check("10.0.0.1")
    clock.now = 1200.0
    limiter.check("10.0.0.1")
    assert limiter._failures == {}  # an address with no recent failure is forgotten
