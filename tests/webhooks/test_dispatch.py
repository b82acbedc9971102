"""Drain jobs queued in one Lua call, in arq's format: a real arq worker runs them; one waits per account."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq.worker import Worker, func

from core.queue import (
    DRAIN_COVERED_S,
    DRAIN_FLAG_TTL_MS,
    QUEUE_NAME,
    JobName,
    clear_drain_flag,
    drain_flag_key,
    drain_job_id,
)
from tests.webhooks.conftest import closed_port, queued_jobs
from webhooks.app import open_queue
from webhooks.dispatch import JobDispatcher
from webhooks.metrics import ReceiverMetrics


@asynccontextmanager
async def dispatcher_for(queue, metrics: ReceiverMetrics | None = None) -> AsyncIterator[JobDispatcher]:
    dispatcher = JobDispatcher(queue, metrics or ReceiverMetrics())
    try:
        yield dispatcher
    finally:
        await dispatcher.aclose()


def metric(metrics: ReceiverMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


async def test_a_real_arq_worker_runs_one_drain_per_account_with_its_argument(redis_client, queue):
    accounts = [uuid.uuid4(), uuid.uuid4()]
    await redis_client.script_flush()  # as after a Redis restart: the script is loaded again
    async with dispatcher_for(queue) as dispatcher:
        assert await dispatcher.enqueue_drains([accounts[0], accounts[1], accounts[0]])
    ran: list[str] = []

    async def drain_webhooks(ctx, account_id: str) -> None:
        assert ctx["job_id"] == drain_job_id(account_id, 1)
        ran.append(account_id)

    worker = Worker(
        functions=[func(drain_webhooks, name=JobName.DRAIN_WEBHOOKS.value)],
        redis_pool=queue,
        queue_name=QUEUE_NAME,
        burst=True,
        poll_delay=0,
        handle_signals=False,
        keep_result=0,
    )
    try:
        await worker.main()
    finally:
        await worker.close()

    assert sorted(ran) == sorted(str(a) for a in accounts)
    assert (worker.jobs_complete, worker.jobs_failed) == (2, 0)


async def test_one_drain_waits_per_account_until_it_starts(redis_client, queue):
    account_id = uuid.uuid4()
    metrics = ReceiverMetrics()
    async with dispatcher_for(queue, metrics) as dispatcher:
        for _ in range(3):
            assert await dispatcher.enqueue_drains([account_id])
        assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}
        assert metric(metrics, "ashby_webhooks_enqueued_total") == 1

        assert metric(metrics, "ashby_webhooks_enqueue_calls_total") == 1  # the next two came within the cover
        await asyncio.sleep(DRAIN_COVERED_S)
        assert await dispatcher.enqueue_drains([account_id])
        assert metric(metrics, "ashby_webhooks_enqueue_calls_total") == 2
        assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}  # the flag is still set

        await clear_drain_flag(queue, account_id)  # what the job does once it holds the drain lock
        await asyncio.sleep(DRAIN_COVERED_S)
        assert await dispatcher.enqueue_drains([account_id])
        assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1), drain_job_id(account_id, 2)}

    ttl_ms = await redis_client.pttl(drain_flag_key(account_id))
    assert 0 < ttl_ms <= DRAIN_FLAG_TTL_MS  # a flag whose job Redis lost frees itself


async def test_redis_down_queues_nothing_and_counts_the_failures():
    metrics = ReceiverMetrics()
    down = open_queue(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        async with dispatcher_for(down, metrics) as dispatcher:
            assert not await dispatcher.enqueue_drains([uuid.uuid4(), uuid.uuid4()])
    finally:
        await down.aclose(close_connection_pool=True)
    assert metric(metrics, "ashby_webhooks_enqueue_failures_total") == 2


async def test_the_dispatcher_reconnects_when_redis_drops_its_connection(redis_client, queue):
    async with dispatcher_for(queue) as dispatcher:
        assert await dispatcher.enqueue_drains([uuid.uuid4()])
        client_id = await dispatcher._redis.client_id()  # its kept connection, as a Redis restart would drop it
        assert await redis_client.client_kill_filter(_id=client_id) == 1

        await dispatcher.enqueue_drains([uuid.uuid4()])  # may fail (the events stay pending for the sweeper)
        assert await dispatcher.enqueue_drains([uuid.uuid4()])
    assert len(await queued_jobs(redis_client)) >= 2
