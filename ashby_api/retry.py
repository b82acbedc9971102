"""Retrying Ashby calls: exponential backoff with full jitter, at least `Retry-After`, bounded in tries and time.

This is the one place that sleeps between Ashby calls; the client never does. Only errors whose class says
`retryable` (transport failures, 429, 5xx) are retried.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay

from ashby_api.errors import AshbyError, AshbyHTTPError, AshbyRateLimited
from core.errors import AppError

log = structlog.get_logger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Uniform = Callable[[float, float], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry one call.

    `max_attempts` counts the first try. No retry is started whose wait would end more than `max_total` seconds
    after the first try began, so a long `Retry-After` fails fast and the caller (a job) can defer instead.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_total: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base < 0 or self.cap < 0 or self.max_total < 0:
            raise ValueError("RetryPolicy needs max_attempts >= 1 and non-negative times")


DEFAULT_POLICY = RetryPolicy()


def backoff_delay(
    retry: int, *, base: float, cap: float, retry_after: float | None = None, uniform: Uniform = random.uniform
) -> float:
    """Seconds to wait before retry number `retry` (0 for the first): full jitter, at least `retry_after`.

    `uniform(0, min(cap, base * 2**retry))`, raised to `retry_after` when the server asked for longer.
    """
    ceiling = min(cap, base * 2.0 ** min(retry, 64))  # the min() keeps 2**retry finite
    delay = uniform(0.0, ceiling)
    return max(delay, retry_after) if retry_after is not None else delay


def is_retryable(exc: BaseException) -> bool:
    """True for errors we raise on purpose that say a retry may succeed."""
    return isinstance(exc, AppError) and exc.retryable


@dataclass(frozen=True, slots=True)
class Retrier:
    """Runs a call under `policy`; usable wherever `ashby_api.client.Retrier` is expected (e.g. `iter_pages`).

    `sleep` and `uniform` are injectable so tests can record the waits chosen without waiting.
    """

    policy: RetryPolicy = DEFAULT_POLICY
    sleep: Sleep = field(default=asyncio.sleep)
    uniform: Uniform = field(default=random.uniform)

    async def __call__(self, fn: Callable[[], Awaitable[T]], /) -> T:
        return await with_retries(fn, policy=self.policy, sleep=self.sleep, uniform=self.uniform)


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Sleep = asyncio.sleep,
    uniform: Uniform = random.uniform,
) -> T:
    """`await fn()`, retried on retryable errors under `policy`; the last error is re-raised as it was."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, AshbyRateLimited) else None
        return backoff_delay(
            state.attempt_number - 1, base=policy.base, cap=policy.cap, retry_after=retry_after, uniform=uniform
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=wait,
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total),
        sleep=sleep,
        before_sleep=_log_retry,
        reraise=True,
    )

    async def attempt() -> T:  # tenacity awaits only coroutine functions; `fn` may be a lambda or a partial
        return await fn()

    return await retrying(attempt)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "ashby_call_retried",
        endpoint=exc.endpoint if isinstance(exc, AshbyError) else None,
        attempt=state.attempt_number,
        delay=round(state.upcoming_sleep, 3),
        status=exc.status if isinstance(exc, AshbyHTTPError) else None,
        request_id=exc.request_id if isinstance(exc, AshbyError) else None,
        error=type(exc).__name__ if exc else None,
    )
