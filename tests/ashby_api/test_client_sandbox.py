"""The client against the Ashby sandbox over real HTTP: passes, tokens, errors, retries, the in-flight cap."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ashby_api.client import AshbyClient
from ashby_api.errors import (
    AshbyForbidden,
    AshbyRateLimited,
    AshbyRequestFailed,
    AshbyServerError,
    AshbyUnauthorized,
    IncrementalSyncTooLarge,
    InvalidNextCursor,
    NextCursorExpired,
    NotFound,
    SyncRestartRequired,
    SyncTokenExpired,
    SyncTokenInvalid,
)
from ashby_api.models import Candidate, Page
from ashby_api.retry import Retrier, RetryPolicy
from ashby_sim.app import create_app
from ashby_sim.state import SimState

# The sandbox stores a plain-string key on its requests; aiohttp 3.14 warns about that once per process, and
# `filterwarnings = error` would turn it into a 500 for whichever test reaches the sandbox first.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@pytest.fixture
async def client(fake_ashby: SimState, session: aiohttp.ClientSession) -> AshbyClient:
    return AshbyClient(session, base_url=fake_ashby.base_url, api_key=fake_ashby.api_key, timeout=5)


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def retrier(sleep: SleepRecorder, *, jitter: str = "top", **policy: Any) -> Retrier:
    def uniform(low: float, high: float) -> float:
        return high if jitter == "top" else low

    return Retrier(RetryPolicy(**policy), sleep=sleep, uniform=uniform)


async def full_pass(client: AshbyClient, **kwargs: Any) -> list[Page[Candidate]]:
    async with asyncio.timeout(5):
        return [page async for page in client.iter_pages(Candidate, **kwargs)]


def last_request_id(state: SimState, endpoint: str) -> str:
    return [r for r in state.requests if r.endpoint == endpoint][-1].request_id


async def test_a_full_pass_reads_every_candidate_once(fake_ashby: SimState, client: AshbyClient) -> None:
    pages = await full_pass(client, limit=20)
    ids = [c.id for page in pages for c in page.results]
    assert sorted(ids) == sorted(fake_ashby.ids("candidates"))
    assert len(ids) == len(set(ids)) == 50
    assert [len(p.results) for p in pages] == [20, 20, 10]
    assert [p.sync_token is not None for p in pages] == [False, False, True]
    assert fake_ashby.request_count("candidate.list") == 3
    # `raw` is what Ashby sent, in order, and parses to the typed records.
    assert [Candidate.model_validate(obj) for p in pages for obj in p.raw] == [c for p in pages for c in p.results]
    assert pages[0].raw[0] == fake_ashby.get("candidates", ids[0])


async def test_an_incremental_pass_returns_only_changed_records(fake_ashby: SimState, client: AshbyClient) -> None:
    first = await full_pass(client)
    token = first[-1].sync_token
    assert token is not None
    fake_ashby.touch("candidates", 3)
    changed = await full_pass(client, sync_token=token)
    assert len([c for p in changed for c in p.results]) == 3
    assert changed[-1].sync_token not in (None, token)
    unchanged = await full_pass(client, sync_token=changed[-1].sync_token)
    assert [c for p in unchanged for c in p.results] == []
    bodies = [r.body for r in fake_ashby.requests if r.endpoint == "candidate.list"]
    assert bodies[-1].get("syncToken") == changed[-1].sync_token


async def test_typed_list_and_info_agree(fake_ashby: SimState, client: AshbyClient) -> None:
    page = await client.list_candidates(limit=1)
    (listed,) = page.results
    assert await client.info_candidate(listed.id) == listed
    jobs = await client.list_jobs()
    assert jobs.results
    assert await client.info_job(jobs.results[0].id) == jobs.results[0]


async def test_an_expired_token_asks_for_a_full_pass(fake_ashby: SimState, client: AshbyClient) -> None:
    token = (await full_pass(client))[-1].sync_token
    fake_ashby.expire_sync_tokens()
    with pytest.raises(SyncTokenExpired) as info:
        await full_pass(client, sync_token=token)
    assert info.value.request_id == last_request_id(fake_ashby, "candidate.list")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("sync_token_expired", SyncTokenExpired),
        ("sync_token_invalid", SyncTokenInvalid),
        ("incremental_sync_too_large", IncrementalSyncTooLarge),
        ("next_cursor_expired", NextCursorExpired),
        ("invalid_next_cursor", InvalidNextCursor),
        ("candidate_not_found", NotFound),
        ("invalid_input", AshbyRequestFailed),
    ],
)
async def test_every_error_code_maps_to_its_class_with_the_request_id(
    fake_ashby: SimState, client: AshbyClient, code: str, cls: type[AshbyRequestFailed]
) -> None:
    fake_ashby.fail_next("candidate.list", code=code)
    with pytest.raises(AshbyRequestFailed) as info:
        await client.list_page("candidates")
    assert type(info.value) is cls
    assert (info.value.code, info.value.endpoint) == (code, "candidate.list")
    assert info.value.request_id == last_request_id(fake_ashby, "candidate.list")
    assert isinstance(info.value, SyncRestartRequired) == code.startswith(
        ("sync_", "incremental_", "next_", "invalid_n")
    )


async def test_info_of_a_missing_record_is_not_found(client: AshbyClient) -> None:
    with pytest.raises(NotFound) as info:
        await client.info_candidate("00000000-0000-4000-8000-000000000000")
    assert info.value.code.endswith("_not_found")


async def test_no_key_is_unauthorized_and_a_wrong_key_forbidden(
    fake_ashby: SimState, session: aiohttp.ClientSession
) -> None:
    for key, cls, status in (("", AshbyUnauthorized, 401), ("wrong-key", AshbyForbidden, 403)):
        client = AshbyClient(session, base_url=fake_ashby.base_url, api_key=key)
        with pytest.raises(cls) as info:
            await client.api_key_info()
        assert info.value.status == status
        assert info.value.request_id  # the sandbox's request log skips refused requests, so no comparison


async def test_api_key_info_lists_read_scopes(client: AshbyClient) -> None:
    info = await client.api_key_info()
    assert "candidates:read" in info.scopes


async def test_429_with_retry_after_waits_that_long_then_succeeds(fake_ashby: SimState, client: AshbyClient) -> None:
    fake_ashby.fail_next("candidate.list", status=429, retry_after=3, times=2)
    sleep = SleepRecorder()
    page = await retrier(sleep, jitter="bottom")(lambda: client.list_page("candidates"))
    assert len(page.raw) == 50
    assert sleep.waits == [3.0, 3.0]
    assert fake_ashby.request_count("candidate.list") == 3


async def test_429_without_retry_after_backs_off_exponentially(fake_ashby: SimState, client: AshbyClient) -> None:
    fake_ashby.fail_next("candidate.list", status=429, times=3)
    sleep = SleepRecorder()
    page = await retrier(sleep, base=0.5)(lambda: client.list_page("candidates"))
    assert page.raw
    assert sleep.waits == [0.5, 1.0, 2.0]


async def test_the_last_429_is_raised_when_attempts_run_out(fake_ashby: SimState, client: AshbyClient) -> None:
    fake_ashby.fail_next("candidate.list", status=429, retry_after=1, times=5)
    sleep = SleepRecorder()
    with pytest.raises(AshbyRateLimited) as info:
        await retrier(sleep, max_attempts=3)(lambda: client.list_page("candidates"))
    assert info.value.retry_after == 1.0
    assert (fake_ashby.request_count("candidate.list"), len(sleep.waits)) == (3, 2)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retried(fake_ashby: SimState, client: AshbyClient, status: int) -> None:
    fake_ashby.fail_next("job.list", status=status)
    sleep = SleepRecorder()
    page = await retrier(sleep)(lambda: client.list_page("jobs"))
    assert page.raw
    assert len(sleep.waits) == 1
    assert fake_ashby.request_count("job.list") == 2


async def test_5xx_without_a_retrier_is_raised(fake_ashby: SimState, client: AshbyClient) -> None:
    fake_ashby.fail_next("job.list", status=503)
    with pytest.raises(AshbyServerError) as info:
        await client.list_page("jobs")
    assert info.value.request_id == last_request_id(fake_ashby, "job.list")


@pytest.mark.parametrize(
    "make",
    [
        lambda state, session: AshbyClient(session, base_url=state.base_url, api_key="wrong-key"),
        lambda state, session: AshbyClient(session, base_url=state.base_url, api_key=state.api_key),
    ],
)
async def test_non_retryable_errors_are_not_retried(
    fake_ashby: SimState, session: aiohttp.ClientSession, make: Callable[..., AshbyClient]
) -> None:
    fake_ashby.fail_next("user.list", code="invalid_input")
    client = make(fake_ashby, session)
    sleep = SleepRecorder()
    with pytest.raises((AshbyForbidden, AshbyRequestFailed)):
        await retrier(sleep)(lambda: client.list_page("users"))
    assert sleep.waits == []  # a retry always sleeps first
    assert fake_ashby.request_count("user.list") <= 1  # refused (403) requests are not in the sandbox's log


async def test_a_pass_with_random_faults_still_reads_everything(fake_ashby: SimState, client: AshbyClient) -> None:
    fake_ashby.faults.rate_429 = 0.3
    fake_ashby.faults.rate_5xx = 0.2
    sleep = SleepRecorder()
    pages = await full_pass(client, limit=10, retry=retrier(sleep, max_attempts=20))
    assert sorted(c.id for p in pages for c in p.results) == sorted(fake_ashby.ids("candidates"))
    assert sleep.waits  # some faults were hit and retried


@pytest.fixture
async def measured_sandbox() -> AsyncIterator[tuple[SimState, list[int]]]:
    """A sandbox with 25 ms latency whose outermost middleware records how many requests are in progress."""
    state = SimState(seed=1, candidates=50)
    state.faults.latency_ms = 25
    in_flight: list[int] = [0]
    peaks: list[int] = []

    @web.middleware
    async def measure(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        in_flight[0] += 1
        peaks.append(in_flight[0])
        try:
            return await handler(request)
        finally:
            in_flight[0] -= 1

    app = create_app(state)
    app.middlewares.insert(0, measure)
    async with TestServer(app, host="127.0.0.1") as server:
        state.base_url = str(server.make_url("")).rstrip("/")
        yield state, peaks


async def test_no_more_than_max_in_flight_requests_reach_ashby(
    measured_sandbox: tuple[SimState, list[int]], session: aiohttp.ClientSession
) -> None:
    state, peaks = measured_sandbox
    client = AshbyClient(session, base_url=state.base_url, api_key=state.api_key, max_in_flight=3)
    async with asyncio.timeout(10):
        pages = await asyncio.gather(*(client.list_page("departments") for _ in range(20)))
    assert len(pages) == 20
    assert len(peaks) == 20
    assert max(peaks) == 3  # never more, and the cap is actually used


async def test_write_calls_round_trip(fake_ashby: SimState, client: AshbyClient) -> None:
    created = await client.candidate_create("Ada Lovelace", email="ada@example.com")
    assert created.name == "Ada Lovelace"
    assert created.primary_email_address is not None
    assert created.primary_email_address.value == "ada@example.com"
    updated = await client.candidate_update(created.id, name="Ada King")
    assert (updated.id, updated.name) == (created.id, "Ada King")
    tag = (await client.list_candidate_tags()).results[0]
    tagged = await client.candidate_add_tag(created.id, tag.id)
    assert tag.id in [t.id for t in tagged.tags]
    note = await client.candidate_create_note(created.id, "Strong on maths")
    assert note.id
    found = await client.candidate_search(email="ada@example.com")
    assert [c.id for c in found] == [created.id]
    assert (await client.info_candidate(created.id)).tags == tagged.tags


async def test_application_and_offer_writes_round_trip(fake_ashby: SimState, client: AshbyClient) -> None:
    application = (await client.list_applications()).results[0]
    assert application.job_id is not None
    job = await client.info_job(application.job_id)
    assert job.default_interview_plan_id is not None
    stages = await client.list_interview_stages(params={"interviewPlanId": job.default_interview_plan_id})
    target = next(s for s in stages.results if s.id != application.stage_id)
    moved = await client.application_change_stage(application.id, target.id)
    assert moved.stage_id == target.id
    source = (await client.list_sources()).results[0]
    assert (await client.application_change_source(application.id, source.id)).source is not None
    offer = (await client.list_offers()).results[0]
    accepted = await client.offer_set_status(offer.id, "Accepted")
    assert accepted.acceptance_status == "Accepted"


async def test_webhook_settings_round_trip(fake_ashby: SimState, client: AshbyClient) -> None:
    # Nobody listens at this URL, so Ashby's ping fails and the webhook is saved disabled.
    hook = await client.webhook_create("offerUpdate", "http://127.0.0.1:9/hook", "s3cret-token")
    assert (hook.enabled, hook.webhook_type) == (False, "offerUpdate")
    assert await client.webhook_info(hook.id) == hook
    moved = await client.webhook_update(hook.id, request_url="http://127.0.0.1:9/other")
    assert moved.request_url == "http://127.0.0.1:9/other"
    assert await client.webhook_delete(hook.id) == hook.id
    with pytest.raises(AshbyRequestFailed):
        await client.webhook_info(hook.id)
