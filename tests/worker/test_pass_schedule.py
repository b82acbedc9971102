"""When the worker starts passes: the crons, the sweeper's backoff and periodic full passes, and how pass jobs fail."""

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from arq import Retry

from ashby_api.resources import RESOURCES
from core.config import Settings
from core.errors import ConfigError
from core.queue import sync_job_id
from store import mirror, sync_state
from tests.conftest import TEST_REDIS_URL
from tests.helpers import FAST_RETRY, SECRET_KEY, assert_mirror_matches, run_burst
from tests.webhooks.conftest import queued_jobs
from worker.deps import Deps
from worker.jobs import MAX_TRIES, full_resync, schedule_syncs, sweep, sync_pass
from worker.settings import build_worker


def _ctx(deps: Deps, job_try: int = 1, **settings: object) -> dict[str, Any]:
    d = dataclasses.replace(deps, retry=FAST_RETRY, settings=deps.settings.model_copy(update=settings))
    return {"deps": d, "job_try": job_try, "job_id": "test"}


async def _state(db, account_id: uuid.UUID, resource: str) -> sync_state.SyncState:
    async with db.acquire() as conn:
        return await sync_state.get_state(conn, account_id, resource)


async def _shift(db, account_id: uuid.UUID, resource: str, column: str, by: timedelta) -> None:
    """Move a stored time of the resource's sync state into the past, as if `by` had gone by since."""
    assert column in {"pass_started_at", "last_success_at", "last_error_at"}
    async with db.acquire() as conn:
        await conn.execute(
            f"update sync_state set {column} = {column} - $3::interval where account_id = $1 and resource = $2",
            account_id,
            resource,
            by,
        )


@pytest.mark.parametrize("interval", [1, 5, 12, 15, 30, 60])
async def test_the_incremental_cron_starts_passes_every_interval_and_the_sweeper_every_minute(interval) -> None:
    settings = Settings(ashby_sync_secret_key=SECRET_KEY, sync_interval_minutes=interval)
    worker = build_worker(settings, burst=True)
    try:
        crons = {c.name: c for c in worker.cron_jobs}
        assert (crons["cron:sweep"].second, crons["cron:sweep"].run_at_startup) == ({0}, True)
        cron = crons["cron:schedule_syncs"]
        assert cron.minute == set(range(0, 60, interval))
        runs = [datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC)]
        while runs[-1] < datetime(2025, 1, 1, 3, tzinfo=UTC):  # across hour boundaries
            cron.calculate_next(runs[-1])
            assert cron.next_run is not None
            runs.append(cron.next_run)
        assert {b - a for a, b in itertools.pairwise(runs[1:])} == {timedelta(minutes=interval)}
    finally:
        await worker.close()


@pytest.mark.parametrize("interval", ["7", "45", "0", "90"])
def test_an_interval_that_does_not_divide_the_hour_is_refused_naming_the_allowed_ones(interval) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SYNC_INTERVAL_MINUTES": interval})
    message = str(refused.value)
    assert message.startswith("SYNC_INTERVAL_MINUTES: ")
    assert "\n" not in message
    assert "1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60" in message


async def test_a_retryable_error_of_a_pass_becomes_an_arq_retry_and_the_last_try_gives_up_in_one_line(
    db, deps: Deps, fake_ashby, account_id, capsys
) -> None:
    fake_ashby.fail_next("candidate.list", status=503, times=MAX_TRIES)
    ctx = {"deps": deps, "job_id": "test"}  # deps try each Ashby call once: the job is what retries
    for job_try in range(1, MAX_TRIES):
        with pytest.raises(Retry):
            await sync_pass({**ctx, "job_try": job_try}, str(account_id), "candidates")
    capsys.readouterr()
    assert await sync_pass({**ctx, "job_try": MAX_TRIES}, str(account_id), "candidates") == "failed: AshbyServerError"
    assert "Traceback" not in capsys.readouterr().out
    assert (await _state(db, account_id, "candidates")).last_error.startswith("AshbyServerError")


async def test_a_pass_that_loses_postgres_becomes_an_arq_retry(deps: Deps, fake_ashby, account_id) -> None:
    await deps.sync_context(account_id)  # the account's client is loaded; then Postgres goes away
    unreachable = await asyncpg.create_pool("postgresql://127.0.0.1:1/ashby_sync", min_size=0)
    try:
        ctx = {"deps": dataclasses.replace(deps, pool=unreachable), "job_try": 1, "job_id": "test"}
        with pytest.raises(Retry):
            await sync_pass(ctx, str(account_id), "candidates")
        with pytest.raises(Retry):  # Postgres gone before the account's client could be loaded
            await sync_pass(
                {**ctx, "deps": dataclasses.replace(deps, pool=unreachable, _clients={})}, str(account_id), "jobs"
            )
    finally:
        await unreachable.close()


async def test_a_failing_pass_fails_in_one_line_and_is_not_started_again_until_the_retry_delay(
    db, deps: Deps, redis_client, fake_ashby, account_id, capsys
) -> None:
    ctx = _ctx(deps, sync_retry_failed_minutes=15)
    fake_ashby.fail_next("offer.list", status=403)  # e.g. a wrong API key: no retry can succeed
    capsys.readouterr()
    assert await sync_pass(ctx, str(account_id), "offers") == "failed: AshbyForbidden"
    logged = capsys.readouterr().out
    assert "Traceback" not in logged
    assert "sync_job_failed" in logged
    assert fake_ashby.api_key not in logged
    failed = await _state(db, account_id, "offers")
    assert failed.last_error is not None
    assert failed.last_error.startswith("AshbyForbidden: offer.list: HTTP 403")

    offers_pass = sync_job_id(account_id, "offers")
    assert await sweep(ctx) == len(RESOURCES) - 1  # every other resource never synced; offers wait
    assert await schedule_syncs(ctx) == 0  # the others are queued already; offers still wait
    assert offers_pass not in await queued_jobs(redis_client)

    await _shift(db, account_id, "offers", "last_error_at", timedelta(minutes=16))
    assert await sweep(ctx) == 1
    assert offers_pass in await queued_jobs(redis_client)
    await redis_client.flushdb()
    assert await schedule_syncs(ctx) == len(RESOURCES)


async def test_the_sweeper_queues_a_periodic_full_pass_that_finds_the_deletes_webhooks_missed(
    db, deps: Deps, redis_client, fake_ashby, account_id
) -> None:
    ctx = _ctx(deps, sync_full_interval_hours=24)
    assert (await sync_pass(ctx, str(account_id), "offers")).startswith("full:")  # the first pass
    fake_ashby.delete_offer(fake_ashby.ids("offers")[0])  # and its webhook never arrives
    assert (await sync_pass(ctx, str(account_id), "offers")).startswith("incremental:")
    await _assert_one_deleted_offer_still_mirrored(db, account_id, fake_ashby)
    await redis_client.flushdb()
    assert sync_job_id(account_id, "offers") not in await _swept(ctx, redis_client)  # fresh, and no full due

    for column in ("pass_started_at", "last_success_at"):  # a day later; the incremental passes were lost
        await _shift(db, account_id, "offers", column, timedelta(hours=25))
    queued = await _swept(ctx, redis_client)
    assert sync_job_id(account_id, "offers", full=True) in queued
    assert sync_job_id(account_id, "offers") not in queued
    assert (await _state(db, account_id, "offers")).full_requested  # durable, should Redis forget the job
    assert await _swept(ctx, redis_client) == queued  # its job id dedupes

    assert await run_burst(ctx["deps"].settings) == len(RESOURCES)
    state = await _state(db, account_id, "offers")
    assert (state.last_mode, state.full_requested) == ("full", False)
    await assert_mirror_matches(db, account_id, fake_ashby, "offers")
    assert await sweep(ctx) == 0


async def test_with_no_full_interval_the_sweeper_queues_no_full_pass(
    db, deps: Deps, redis_client, fake_ashby, account_id
) -> None:
    ctx = _ctx(deps, sync_full_interval_hours=0)
    await sync_pass(ctx, str(account_id), "offers")
    for column in ("pass_started_at", "last_success_at"):
        await _shift(db, account_id, "offers", column, timedelta(days=30))
    queued = await _swept(ctx, redis_client)
    assert sync_job_id(account_id, "offers") in queued  # overdue
    assert sync_job_id(account_id, "offers", full=True) not in queued
    assert not (await _state(db, account_id, "offers")).full_requested


async def test_the_first_pass_after_the_full_interval_is_full_whichever_job_runs_it(
    db, deps: Deps, fake_ashby, account_id
) -> None:
    ctx = _ctx(deps, sync_full_interval_hours=24)
    await sync_pass(ctx, str(account_id), "offers")
    assert (await sync_pass(ctx, str(account_id), "offers")).startswith("incremental:")
    await _shift(db, account_id, "offers", "pass_started_at", timedelta(hours=25))  # no pass began for a day
    assert (await sync_pass(ctx, str(account_id), "offers")).startswith("full:")
    assert (await sync_pass(ctx, str(account_id), "offers")).startswith("incremental:")
    assert (await full_resync(ctx, str(account_id), "offers")).startswith("full:")  # asked for: always full


async def _assert_one_deleted_offer_still_mirrored(db, account_id: uuid.UUID, fake_ashby) -> None:
    """No incremental pass lists a deletion: the mirror still holds the offer Ashby deleted."""
    async with db.acquire() as conn:
        mirrored = await mirror.get_raw(conn, "offers", account_id)
    assert len(mirrored) == len(fake_ashby.ids("offers")) + 1


async def _swept(ctx, redis_client) -> set[str]:
    await sweep(ctx)
    return await queued_jobs(redis_client)


async def test_a_worker_whose_startup_fails_leaves_no_connection_open(db, database_url, redis_client) -> None:
    settings = Settings(database_url=database_url, redis_url=TEST_REDIS_URL)  # no ASHBY_SYNC_SECRET_KEY
    worker = build_worker(settings, burst=True, crons=False)
    assert worker.on_startup is not None

    async def connections() -> int:
        async with db.acquire() as conn:
            return int(await conn.fetchval("select count(*) from pg_stat_activity where datname = current_database()"))

    before = await connections()
    ctx: dict[str, Any] = {"redis": redis_client}
    with pytest.raises(ConfigError):
        await worker.on_startup(ctx)
    assert "deps" not in ctx
    assert await connections() == before
    await worker.close()
