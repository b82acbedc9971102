import random

import pytest
from structlog.testing import capture_logs

from ashby_api.errors import (
    AshbyForbidden,
    AshbyRateLimited,
    AshbyServerError,
    AshbyTransportError,
    SyncTokenExpired,
)
from ashby_api.retry import Retrier, RetryPolicy, backoff_delay, with_retries


def top(_low: float, high: float) -> float:
    return high


def bottom(low: float, _high: float) -> float:
    return low


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base=0.5, cap=10.0, uniform=top) for n in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_backoff_is_full_jitter_between_zero_and_the_ceiling() -> None:
    rng = random.Random(7)
    for n in range(12):
        ceiling = min(30.0, 0.5 * 2**n)
        samples = [backoff_delay(n, base=0.5, cap=30.0, uniform=rng.uniform) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: the whole range is used, not just its top half.
        assert min(samples) < ceiling * 0.1
        assert max(samples) > ceiling * 0.9


def test_backoff_waits_at_least_retry_after() -> None:
    assert backoff_delay(0, base=0.5, cap=30.0, retry_after=7.0, uniform=top) == 7.0
    assert backoff_delay(0, base=0.5, cap=30.0, retry_after=0.0, uniform=bottom) == 0.0
    # A jittered wait longer than Retry-After is kept.
    assert backoff_delay(6, base=0.5, cap=30.0, retry_after=1.0, uniform=top) == 30.0


def test_backoff_survives_huge_retry_numbers() -> None:
    assert backoff_delay(10_000, base=0.5, cap=30.0, uniform=top) == 30.0


class Flaky:
    """Fails with the given errors, in order, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_retryable_errors_are_retried_until_success() -> None:
    fn = Flaky(
        AshbyTransportError("timed out", endpoint="candidate.list"),
        AshbyServerError(endpoint="candidate.list", status=502),
        AshbyRateLimited(endpoint="candidate.list", retry_after=None),
    )
    sleep = SleepRecorder()
    result = await with_retries(fn, policy=RetryPolicy(base=1.0, cap=10.0), sleep=sleep, uniform=top)
    assert result == "ok"
    assert fn.calls == 4
    assert sleep.waits == [1.0, 2.0, 4.0]


async def test_retry_after_sets_the_floor_of_the_wait() -> None:
    fn = Flaky(AshbyRateLimited(endpoint="job.list", retry_after=5.0), AshbyRateLimited(endpoint="job.list"))
    sleep = SleepRecorder()
    assert await with_retries(fn, policy=RetryPolicy(base=1.0), sleep=sleep, uniform=bottom) == "ok"
    assert sleep.waits == [5.0, 0.0]


@pytest.mark.parametrize(
    "error",
    [
        AshbyForbidden(endpoint="offer.list", status=403, code="missing_endpoint_permission"),
        SyncTokenExpired(endpoint="candidate.list", code="sync_token_expired"),
        ValueError("a bug, not Ashby"),
    ],
)
async def test_non_retryable_errors_are_raised_at_once(error: Exception) -> None:
    fn = Flaky(error)
    sleep = SleepRecorder()
    with pytest.raises(type(error)) as info:
        await with_retries(fn, sleep=sleep)
    assert info.value is error
    assert (fn.calls, sleep.waits) == (1, [])


async def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    errors = [AshbyServerError(endpoint="user.list", status=503) for _ in range(10)]
    fn = Flaky(*errors)
    sleep = SleepRecorder()
    with pytest.raises(AshbyServerError) as info:
        await with_retries(fn, policy=RetryPolicy(max_attempts=3), sleep=sleep, uniform=top)
    assert info.value is errors[2]
    assert (fn.calls, len(sleep.waits)) == (3, 2)


async def test_a_wait_past_the_time_budget_is_not_started() -> None:
    fn = Flaky(AshbyRateLimited(endpoint="candidate.list", retry_after=600.0))
    sleep = SleepRecorder()
    with pytest.raises(AshbyRateLimited):
        await with_retries(fn, policy=RetryPolicy(max_total=60.0), sleep=sleep)
    assert (fn.calls, sleep.waits) == (1, [])


async def test_each_retry_is_logged_without_the_body() -> None:
    fn = Flaky(AshbyRateLimited(endpoint="candidate.list", request_id="01JREQ", retry_after=2.0))
    with capture_logs() as logs:
        await Retrier(RetryPolicy(), sleep=SleepRecorder(), uniform=bottom)(fn)
    assert logs == [
        {
            "event": "ashby_call_retried",
            "log_level": "warning",
            "endpoint": "candidate.list",
            "attempt": 1,
            "delay": 2.0,
            "status": 429,
            "request_id": "01JREQ",
            "error": "AshbyRateLimited",
        }
    ]


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


async def test_a_plain_callable_returning_an_awaitable_is_awaited() -> None:
    fn = Flaky(AshbyServerError(endpoint="job.list", status=502))
    sleep = SleepRecorder()
    assert await with_retries(lambda: fn(), sleep=sleep) == "ok"
    assert fn.calls == 2
