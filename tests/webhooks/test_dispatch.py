"""Batched enqueueing writes what arq's enqueue_job writes: a real arq worker runs the jobs; ids dedupe alike."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq.worker import Worker, func

from core.queue import QUEUE_NAME, JobName, enqueue, webhook_job_id
from store.inbox import InboxKey
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


def keys(n: int) -> list[InboxKey]:
    account_id = uuid.uuid4()
    return [InboxKey(account_id, str(uuid.uuid4()), "applicationUpdate") for _ in range(n)]


async def test_a_real_arq_worker_runs_the_dispatched_jobs_with_their_arguments(redis_client, queue):
    batch = keys(5)
    await redis_client.script_flush()  # as after a Redis restart: the script is loaded again
    async with dispatcher_for(queue) as dispatcher:
        assert await dispatcher.enqueue_apply(batch) == [True] * 5
    ran: list[tuple[str, ...]] = []

    async def apply_webhook(ctx, account_id: str, webhook_action_id: str, action: str) -> None:
        assert ctx["job_id"] == webhook_job_id(account_id, webhook_action_id, action)
        ran.append((account_id, webhook_action_id, action))

    worker = Worker(
        functions=[func(apply_webhook, name=JobName.APPLY_WEBHOOK.value)],
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

    assert sorted(ran) == sorted((str(k.account_id), k.webhook_action_id, k.action) for k in batch)
    assert (worker.jobs_complete, worker.jobs_failed) == (5, 0)


async def arq_enqueue(queue, key: InboxKey) -> bool:
    job_id = webhook_job_id(key.account_id, key.webhook_action_id, key.action)
    return await enqueue(
        queue, JobName.APPLY_WEBHOOK, str(key.account_id), key.webhook_action_id, key.action, job_id=job_id
    )


async def test_job_ids_dedupe_both_ways_with_arqs_enqueue(redis_client, queue):
    first, second = keys(2)
    assert await arq_enqueue(queue, first)

    async with dispatcher_for(queue) as dispatcher:
        assert await dispatcher.enqueue_apply([first, second, second]) == [False, True, False]
    assert not await arq_enqueue(queue, second)
    assert await queued_jobs(redis_client) == {
        webhook_job_id(k.account_id, k.webhook_action_id, k.action) for k in (first, second)
    }


async def test_redis_down_queues_nothing_and_counts_the_failures():
    metrics = ReceiverMetrics()
    down = open_queue(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        async with dispatcher_for(down, metrics) as dispatcher:
            assert await dispatcher.enqueue_apply(keys(3)) == [False] * 3
    finally:
        await down.aclose(close_connection_pool=True)
    assert metrics.registry.get_sample_value("ashby_webhooks_enqueue_failures_total") == 3


async def test_the_dispatcher_reconnects_when_redis_drops_its_connection(redis_client, queue):
    async with dispatcher_for(queue) as dispatcher:
        assert await dispatcher.enqueue_apply(keys(1)) == [True]
        client_id = await dispatcher._redis.client_id()  # its kept connection, as a Redis restart would drop it
        assert await redis_client.client_kill_filter(_id=client_id) == 1

        await dispatcher.enqueue_apply(keys(1))  # may fail (the events stay pending for the sweeper)
        assert await dispatcher.enqueue_apply(keys(2)) == [True, True]
