import asyncio
import dataclasses

import pytest

from ashby_api.resources import RESOURCES
from ashby_sim.permissions import SCOPES
from core.queue import JobName, enqueue, sync_job_id
from store import sync_state
from store.pool import create_pool
from tests.helpers import FAST_RETRY, assert_mirror_matches, run_burst, worker_settings
from worker.deps import Deps
from worker.jobs import full_resync, sweep
from worker.settings import JOBS, open_queue


def test_every_job_name_has_a_job() -> None:
    assert set(JOBS) == set(JobName)
    for name, fn in JOBS.items():
        assert fn.__name__ == name.value


async def test_a_queued_pass_runs_in_the_worker_and_its_job_id_dedupes(
    db, database_url, redis_client, fake_ashby, account_id
) -> None:
    settings = worker_settings(database_url)
    queue = await open_queue(settings)
    try:
        job_id = sync_job_id(account_id, "candidates")
        assert await enqueue(queue, JobName.SYNC_PASS, str(account_id), "candidates", job_id=job_id)
        assert not await enqueue(queue, JobName.SYNC_PASS, str(account_id), "candidates", job_id=job_id)
        assert await run_burst(settings) == 1
        # keep_result=0: the id is free again as soon as the job ended
        assert await enqueue(queue, JobName.SYNC_PASS, str(account_id), "candidates", job_id=job_id)
    finally:
        await queue.aclose()
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


async def test_the_sweeper_rebuilds_the_queue_from_postgres_after_redis_lost_everything(
    db, deps: Deps, redis_client, fake_ashby, account_id
) -> None:
    settings = deps.settings.model_copy(update={"sync_full_interval_hours": 0})  # none falls due mid-test
    ctx = {"deps": dataclasses.replace(deps, retry=FAST_RETRY, settings=settings)}
    async with db.acquire() as conn:
        await sync_state.begin_pass(conn, account_id, "jobs", "full")  # a pass a dead worker abandoned
    await redis_client.flushdb()  # Redis restarted without persistence
    assert await sweep(ctx) == len(RESOURCES)
    assert await sweep(ctx) == 0  # already queued: deduped
    assert await run_burst(deps.settings) == len(RESOURCES)
    for resource in RESOURCES:
        await assert_mirror_matches(db, account_id, fake_ashby, resource.name)
    assert await sweep(ctx) == 0  # nothing is due any more


async def test_a_reloaded_client_shares_the_accounts_cap_with_the_one_still_in_use(
    deps: Deps, fake_ashby, account_id
) -> None:
    deps = dataclasses.replace(deps, client_ttl_s=0)
    old, new = await deps.sync_context(account_id), await deps.sync_context(account_id)  # reloaded
    assert old.client is not new.client
    cap = new.client.max_in_flight
    fake_ashby.faults.latency_ms = 50
    fake_ashby.reset_request_log()
    try:  # a pass still on the old client, and jobs on the new one
        calls = [c.client.list_page("candidates") for c in (old, new) for _ in range(cap)]
        await asyncio.gather(*calls)
    finally:
        fake_ashby.faults.latency_ms = 0
    assert fake_ashby.request_count("candidate.list") == 2 * cap
    assert fake_ashby.peak_in_flight == cap


async def test_two_worker_processes_keep_the_account_to_its_cap_together(
    deps: Deps, database_url, fake_ashby, account_id
) -> None:
    other_pool = await create_pool(database_url, max_size=2)  # to Postgres, another process
    other = Deps(settings=deps.settings, pool=other_pool, session=deps.session, box=deps.box, queue=deps.queue)
    try:
        one, two = await deps.sync_context(account_id), await other.sync_context(account_id)
        cap = one.client.max_in_flight
        fake_ashby.faults.latency_ms = 50
        fake_ashby.reset_request_log()
        try:
            await asyncio.gather(*(c.client.list_page("candidates") for c in (one, two) for _ in range(cap)))
        finally:
            fake_ashby.faults.latency_ms = 0
    finally:
        await other.aclose()
        await other_pool.close()
    assert fake_ashby.request_count("candidate.list") == 2 * cap
    assert fake_ashby.peak_in_flight == cap


@pytest.mark.sandbox(candidates=2000)
async def test_a_full_resync_tried_again_resumes_its_pass_from_the_checkpoint(
    db, deps: Deps, fake_ashby, account_id
) -> None:
    ctx = {"deps": dataclasses.replace(deps, retry=FAST_RETRY)}
    fake_ashby.faults.latency_ms = 50  # the pass still has 17 pages to go, 0.85 s, when it dies
    first = asyncio.create_task(full_resync({**ctx, "job_try": 1}, str(account_id), "candidates"))
    async with asyncio.timeout(10):
        while True:  # until the pass has committed a few pages
            if (await _candidates_state(db, account_id)).pass_pages >= 2:
                break
            await asyncio.sleep(0.01)
    fake_ashby.fail_next("candidate.list", status=403)  # the first try dies mid-pass
    assert await first == "failed: AshbyForbidden"
    fake_ashby.faults.latency_ms = 0
    interrupted = await _candidates_state(db, account_id)
    fake_ashby.reset_request_log()
    outcome = await full_resync({**ctx, "job_try": 2}, str(account_id), "candidates")
    assert outcome.startswith("full:")
    pages = len(fake_ashby.ids("candidates")) // 100
    assert fake_ashby.request_count("candidate.list") == pages - interrupted.pass_pages  # none read twice
    state = await _candidates_state(db, account_id)
    assert (state.in_progress, state.last_mode, state.full_requested) == (False, "full", False)
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


async def _candidates_state(db, account_id) -> sync_state.SyncState:
    async with db.acquire() as conn:
        return await sync_state.get_state(conn, account_id, "candidates")


@pytest.mark.sandbox(scopes=[s for s in SCOPES if s != "offers:read"])
async def test_the_worker_leaves_alone_what_the_key_may_not_read(db, deps: Deps, redis_client, fake_ashby, account_id):
    ctx = {"deps": dataclasses.replace(deps, retry=FAST_RETRY), "job_try": 1}
    await redis_client.flushdb()
    assert await sweep(ctx) == len(RESOURCES) - 1  # every resource but offers is due
    assert await full_resync(ctx, str(account_id), "offers") == "skipped: the API key may not read it (offers:read)"
    assert not [r for r in fake_ashby.requests if r.endpoint == "offer.list"]
