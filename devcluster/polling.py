"""The one polling loop of the tooling, the demo and the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold in time; the message names it and what was last seen."""


class WaitAborted(RuntimeError):
    """``abort`` gave a reason to stop waiting (a process the condition needs has died)."""


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.1,
    describe: str = "condition",
    abort: Callable[[], str | None] | None = None,
    retry_on: tuple[type[Exception], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    Raises WaitTimeout after ``timeout`` seconds and WaitAborted as soon as ``abort`` returns
    a reason. An exception from ``predicate`` propagates at once (a failed assertion inside
    it fails the test), unless it is one of ``retry_on``: then it counts as "not yet" and the
    last one is reported on timeout (for endpoints that refuse connections while starting).
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    last_error: Exception | None = None
    while True:
        try:
            last = predicate()
        except retry_on as e:
            last_error, last = e, None
        if last:
            return last
        if abort is not None:
            reason = abort()
            if reason:
                raise WaitAborted(f"gave up waiting for {describe}: {reason}")
        if time.monotonic() >= deadline:
            seen = f" (last error: {last_error!r})" if last_error else f"; last={last!r}"
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {describe}{seen}")
        time.sleep(interval)
