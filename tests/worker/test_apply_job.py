"""The apply and drain jobs and the inbox sweeper: real Postgres, real Redis, a burst arq worker, the sandbox."""

import asyncio
import uuid

import pytest
from arq import Retry

from ashby_sync.sync_commands import show_status
from core.queue import JobName, clear_drain_flag, drain_flag_key, drain_job_id, enqueue, webhook_job_id
from store import inbox, mirror
from store.inbox import InboxKey
from sync.webhook_apply import drain_pending
from tests.ashby_events import Recorder, deliver, envelope, store_bodies, subscribe
from tests.helpers import run_burst, worker_settings
from tests.webhooks.conftest import queued_jobs
from webhooks.dispatch import JobDispatcher
from webhooks.metrics import ReceiverMetrics
from worker.deps import Deps
from worker.jobs import MAX_TRIES, STRANDED_AFTER_S, apply_webhook, drain_webhooks, sweep_inbox
from worker.settings import build_worker, open_queue


async def _event(db, key: InboxKey) -> inbox.InboxEvent:
    async with db.acquire() as conn:
        event = await inbox.get_event(conn, key)
    assert event is not None
    return event


async def _run_job(deps: Deps, key: InboxKey, job_try: int) -> str:
    job_id = webhook_job_id(key.account_id, key.webhook_action_id, key.action)
    ctx = {"deps": deps, "job_try": job_try, "job_id": job_id}
    return await apply_webhook(ctx, str(key.account_id), key.webhook_action_id, key.action)


async def test_a_queued_event_is_applied_by_the_worker_once(
    db, database_url, redis_client, fake_ashby, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["applicationUpdate"])
    fake_ashby.faults.webhook_duplicate = 1.0
    app_id = fake_ashby.ids("applications")[0]
    fake_ashby.touch("applications", [app_id])
    (key,) = await deliver(fake_ashby, recorder, db, account_id)
    settings = worker_settings(database_url)
    queue = await open_queue(settings)
    try:
        job_id = webhook_job_id(key.account_id, key.webhook_action_id, key.action)
        args = (str(account_id), key.webhook_action_id, key.action)
        assert await enqueue(queue, JobName.APPLY_WEBHOOK, *args, job_id=job_id)
        assert not await enqueue(queue, JobName.APPLY_WEBHOOK, *args, job_id=job_id)  # a duplicate delivery
        assert await run_burst(settings) == 1
        assert await enqueue(queue, JobName.APPLY_WEBHOOK, *args, job_id=job_id)  # a replay, after the job ended
        assert await run_burst(settings) == 1
    finally:
        await queue.aclose()
    event = await _event(db, key)
    assert (event.status, event.attempts) == ("applied", 1)
    async with db.acquire() as conn:
        mirrored = await mirror.get_raw(conn, "applications", account_id)
    assert mirrored == {app_id: fake_ashby.get("applications", app_id)}


async def test_a_failing_event_is_retried_then_left_failed_with_its_error(
    db, database_url, fake_ashby, account_id, deps: Deps, capsys
) -> None:
    app_id = fake_ashby.ids("applications")[0]
    (key,) = await store_bodies(db, account_id, [envelope("applicationUpdate", {"application": {"id": app_id}})])
    fake_ashby.fail_next("application.info", status=503, times=MAX_TRIES)
    for job_try in range(1, MAX_TRIES):
        with pytest.raises(Retry):
            await _run_job(deps, key, job_try)
        event = await _event(db, key)
        assert (event.status, event.attempts) == ("pending", job_try)
        assert event.last_error is not None
        assert event.last_error.startswith("AshbyServerError: application.info: HTTP 503")
    assert await _run_job(deps, key, MAX_TRIES) == "failed"
    event = await _event(db, key)
    assert (event.status, event.attempts) == ("failed", MAX_TRIES)
    assert event.last_error.startswith("AshbyServerError")
    async with db.acquire() as conn:
        assert await mirror.count_rows(conn, "applications", account_id) == 0

    capsys.readouterr()
    await show_status(deps.settings, None)
    shown = capsys.readouterr().out
    assert "1 failed" in shown
    assert key.webhook_action_id in shown
    assert "AshbyServerError" in shown

    # Ashby is back: applying the failed event again (a replay) succeeds.
    assert await _run_job(deps, key, 1) == "applied"
    assert (await _event(db, key)).status == "applied"


async def test_a_malformed_event_fails_at_once_without_retries(db, account_id, deps: Deps) -> None:
    (key,) = await store_bodies(db, account_id, [envelope("offerUpdate", {"offer": {"name": "no id"}})])
    assert await _run_job(deps, key, 1) == "failed"
    event = await _event(db, key)
    assert (event.status, event.attempts) == ("failed", 1)
    assert event.last_error.startswith("MalformedWebhookError")


async def test_the_sweeper_queues_a_drain_for_a_lost_backlog_and_its_own_job_for_a_lost_retry(
    db, redis_client, fake_ashby, account_id, deps: Deps
) -> None:
    apps = fake_ashby.ids("applications")[:5]
    keys = await store_bodies(
        db,
        account_id,
        [envelope("applicationUpdate", {"application": fake_ashby.get("applications", a)}) for a in apps],
    )
    *_backlog, retried, fresh = keys
    async with db.acquire() as conn:  # stored a while ago; Redis lost their jobs (restart without persistence)
        await inbox.mark_failed(conn, retried, "AshbyServerError: ...", final=False)  # its retry was queued
        await conn.execute(
            "update webhook_inbox set received_at = now() - make_interval(secs => $1) where webhook_action_id <> $2",
            STRANDED_AFTER_S + 1,
            fresh.webhook_action_id,
        )

    assert await sweep_inbox({"deps": deps}) == 2  # the account's drain, and the lost retry's own job
    assert await queued_jobs(redis_client) == {
        drain_job_id(account_id, "sweep"),
        webhook_job_id(retried.account_id, retried.webhook_action_id, retried.action),
    }
    assert await sweep_inbox({"deps": deps}) == 0  # queued already: deduped by their job ids
    assert await run_burst(deps.settings) == 2
    assert [(await _event(db, k)).status for k in keys] == ["applied"] * len(keys)  # the fresh one too
    async with db.acquire() as conn:
        mirrored = await mirror.get_raw(conn, "applications", account_id)
    assert mirrored == {a: fake_ashby.get("applications", a) for a in apps}


# async: arq's Worker takes the running event loop (a sync test would leave a new, unclosed one behind)
async def test_the_worker_runs_the_inbox_sweeper_every_minute_and_at_startup(database_url) -> None:
    worker = build_worker(worker_settings(database_url), burst=True)
    crons = {c.name: c for c in worker.cron_jobs}
    assert crons["cron:sweep_inbox"].run_at_startup
    assert crons["cron:sweep_inbox"].second == {30}
    assert JobName.APPLY_WEBHOOK.value in worker.functions


async def _drain_job(deps: Deps, account_id) -> str:
    return await drain_webhooks({"deps": deps, "job_try": 1, "job_id": "d"}, str(account_id))


async def test_a_drain_applies_a_burst_and_hands_what_it_cannot_apply_to_jobs_of_their_own(
    db, redis_client, fake_ashby, account_id, deps: Deps
) -> None:
    ids = fake_ashby.ids("applications")[:40]
    bodies = [envelope("applicationUpdate", {"application": fake_ashby.get("applications", i)}) for i in ids]
    bodies.append(envelope("offerUpdate", {"offer": {"name": "no id"}}))  # malformed
    bodies.append(envelope("applicationUpdate", {"application": {"id": ids[0]}}))  # partial: re-read, which fails
    keys = await store_bodies(db, account_id, bodies)
    fake_ashby.fail_next("application.info", status=503, times=1)
    await redis_client.set(drain_flag_key(account_id), "1")  # as the receiver left it when it queued this drain

    assert await _drain_job(deps, account_id) == "40 applied, 2 deferred"

    assert not await redis_client.exists(drain_flag_key(account_id))  # events stored from now on queue a drain
    assert [(await _event(db, k)).status for k in keys] == ["applied"] * 40 + ["pending"] * 2
    assert await queued_jobs(redis_client) == {
        webhook_job_id(k.account_id, k.webhook_action_id, k.action) for k in keys[40:]
    }
    assert await run_burst(deps.settings) == 2  # their own jobs: one fails for good, one succeeds now
    assert [(await _event(db, k)).status for k in keys[40:]] == ["failed", "applied"]
    async with db.acquire() as conn:
        assert await mirror.get_raw(conn, "applications", account_id) == {
            i: fake_ashby.get("applications", i) for i in ids
        }


async def test_a_drain_waits_for_the_running_one_and_clears_the_flag_only_once_it_holds_the_lock(
    db, redis_client, fake_ashby, account_id, deps: Deps
) -> None:
    app_id = fake_ashby.ids("applications")[0]
    await redis_client.set(drain_flag_key(account_id), "1")
    async with inbox.drain_lock(db, account_id) as locked:  # a drain is running elsewhere
        assert locked
        waiting = asyncio.create_task(_drain_job(deps, account_id))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        # the flag stays set while it waits: a receiver storing an event now queues no other drain
        assert await redis_client.exists(drain_flag_key(account_id))
        (key,) = await store_bodies(
            db, account_id, [envelope("applicationUpdate", {"application": fake_ashby.get("applications", app_id)})]
        )
    assert await waiting == "1 applied, 0 deferred"
    assert (await _event(db, key)).status == "applied"
    assert not await redis_client.exists(drain_flag_key(account_id))


async def test_a_drain_leaves_events_that_failed_before_to_their_own_job_and_stops_at_its_limit(
    db, fake_ashby, account_id, sync_ctx
) -> None:
    ids = fake_ashby.ids("applications")[:12]
    keys = await store_bodies(
        db, account_id, [envelope("applicationUpdate", {"application": fake_ashby.get("applications", i)}) for i in ids]
    )
    async with db.acquire() as conn:  # its own job failed once and retries it with backoff
        await inbox.mark_failed(conn, keys[0], "AshbyServerError: ...", final=False)

    drained = await drain_pending(sync_ctx, batch=5, limit=5)
    assert drained is not None
    assert (drained.applied, drained.deferred, drained.more) == (5, [], True)
    drained = await drain_pending(sync_ctx, batch=5, limit=100, linger_s=0)
    assert drained is not None
    assert (drained.applied, drained.more) == (6, False)
    assert (await _event(db, keys[0])).status == "pending"


async def test_events_a_drain_handed_to_their_own_jobs_never_hide_the_events_behind_them(
    db, fake_ashby, account_id, sync_ctx
) -> None:
    ids = fake_ashby.ids("applications")[:6]
    malformed = [envelope("applicationUpdate", {"application": "not an object"}) for _ in range(10)]
    good = [envelope("applicationUpdate", {"application": fake_ashby.get("applications", i)}) for i in ids]
    keys = await store_bodies(db, account_id, malformed + good)  # two batches' worth of bad events come first

    drained = await drain_pending(sync_ctx, batch=5, linger_s=0)

    assert drained is not None
    assert (drained.applied, set(drained.deferred)) == (len(good), set(keys[: len(malformed)]))
    assert [(await _event(db, k)).status for k in keys[len(malformed) :]] == ["applied"] * len(good)


async def test_an_event_stored_while_a_receiver_skips_redis_is_read_by_the_lingering_drain(
    db, database_url, redis_client, fake_ashby, account_id, sync_ctx
) -> None:
    """The receiver makes no Redis call for an account within `covered_s` of one; the drain that clears the flag
    reads the inbox for `linger_s` after it did, so an event committed in that window is still applied."""
    app_id = fake_ashby.ids("applications")[0]
    metrics = ReceiverMetrics()
    queue = await open_queue(worker_settings(database_url))
    dispatcher = JobDispatcher(queue, metrics, covered_s=1.0)
    try:
        assert await dispatcher.enqueue_drains([account_id])  # a drain queued, the flag set

        cleared = asyncio.Event()

        async def clear() -> None:
            await clear_drain_flag(queue, account_id)
            cleared.set()

        drain = asyncio.create_task(drain_pending(sync_ctx, on_locked=clear, linger_s=2.0))
        await cleared.wait()  # the drain started, cleared the flag and reads the inbox
        assert not await redis_client.exists(drain_flag_key(account_id))
        body = envelope("applicationUpdate", {"application": fake_ashby.get("applications", app_id)})
        (key,) = await store_bodies(db, account_id, [body])
        assert await dispatcher.enqueue_drains([account_id])  # within the cover: no call, no new job
        assert metrics.registry.get_sample_value("ashby_webhooks_enqueue_calls_total") == 1
        assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}
        drained = await drain
    finally:
        await dispatcher.aclose()
        await queue.aclose()
    assert drained is not None
    assert drained.applied == 1
    assert (await _event(db, key)).status == "applied"


async def test_a_drain_reads_what_its_events_lack_from_ashby_side_by_side_within_the_accounts_cap(
    db, fake_ashby, account_id, sync_ctx
) -> None:
    offers = fake_ashby.ids("offers")[:12]
    keys = await store_bodies(db, account_id, [envelope("offerUpdate", {"offer": {"id": o}}) for o in offers])
    fake_ashby.faults.latency_ms = 50  # each offer.info answers in 50 ms
    fake_ashby.reset_request_log()

    drained = await drain_pending(sync_ctx, linger_s=0)

    assert drained is not None
    assert drained.applied == len(keys)
    assert fake_ashby.request_count("offer.info") == len(offers)
    assert 1 < fake_ashby.peak_in_flight <= sync_ctx.client.max_in_flight
    async with db.acquire() as conn:
        assert await mirror.get_raw(conn, "offers", account_id) == {o: fake_ashby.get("offers", o) for o in offers}


async def test_a_drain_queued_for_an_account_removed_since_does_nothing(db, redis_client, deps: Deps) -> None:
    gone = uuid.uuid4()
    assert await drain_webhooks({"deps": deps, "job_try": 1, "job_id": "d"}, str(gone)) == "unknown account"
    assert await queued_jobs(redis_client) == set()
