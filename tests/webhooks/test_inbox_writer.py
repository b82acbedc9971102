"""Group commit: concurrent writes share statements, each gets its own outcome, a failed batch fails all of it."""

import asyncio
import uuid

import pytest

from store.errors import AccountNotFoundError, DatabaseUnavailableError
from store.inbox import InboxKey, NewEvent
from store.pool import create_pool
from tests.webhooks.conftest import inbox_rows
from webhooks.inbox_writer import InboxWriter, Stored
from webhooks.metrics import ReceiverMetrics


def event(account_id: uuid.UUID, action_id: str | None = None) -> NewEvent:
    return NewEvent(InboxKey(account_id, action_id or str(uuid.uuid4()), "applicationUpdate"), b"{}")


def batches(metrics: ReceiverMetrics) -> tuple[float, float]:
    """(statements, events written) so far."""
    count = metrics.registry.get_sample_value("ashby_webhook_inbox_batch_size_count")
    total = metrics.registry.get_sample_value("ashby_webhook_inbox_batch_size_sum")
    return count or 0.0, total or 0.0


async def test_concurrent_writes_share_statements_and_each_gets_its_outcome(db, account_id):
    metrics = ReceiverMetrics()
    writer = InboxWriter(db, metrics, max_batch=64, max_wait_s=0.002)
    writer.start()
    events = [event(account_id) for _ in range(300)]
    try:
        outcomes = await asyncio.gather(*(writer.write(e) for e in [*events, *events[:50]]))
    finally:
        await writer.close()

    assert [o.new for o in outcomes[:300]] == [True] * 300
    assert [o.new for o in outcomes[300:]] == [
        False
    ] * 50  # the same events again, some in the same batch as the first time
    statements, written = batches(metrics)
    assert written == 350
    assert statements <= 350 / 8  # batched: the exact split depends on timing
    assert len(await inbox_rows(db)) == 300


async def test_a_batch_holding_an_event_of_a_missing_account_fails_only_that_event(db, account_id):
    writer = InboxWriter(db, ReceiverMetrics(), max_batch=10, max_wait_s=0.05)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.write(event(account_id)),
            writer.write(event(uuid.uuid4())),
            writer.write(event(account_id)),
            return_exceptions=True,
        )
    finally:
        await writer.close()

    assert outcomes[0] == Stored(new=True, enqueued=False)  # no dispatcher
    assert isinstance(outcomes[1], AccountNotFoundError)
    assert outcomes[2] == Stored(new=True, enqueued=False)


async def test_a_failed_batch_fails_every_write_in_it(database_url, db, account_id):
    closed = await create_pool(database_url, min_size=0, max_size=1)
    await closed.close()
    writer = InboxWriter(closed, ReceiverMetrics(), max_batch=10, max_wait_s=0.01)
    writer.start()
    try:
        outcomes = await asyncio.gather(*(writer.write(event(account_id)) for _ in range(5)), return_exceptions=True)
    finally:
        await writer.close()

    assert all(isinstance(o, DatabaseUnavailableError) for o in outcomes), outcomes
    assert await inbox_rows(db) == []


async def test_close_writes_what_waits_and_refuses_what_comes_after(db, account_id):
    writer = InboxWriter(db, ReceiverMetrics(), max_batch=1000, max_wait_s=10)  # would linger 10 s
    writer.start()
    waiting = [asyncio.ensure_future(writer.write(event(account_id))) for _ in range(20)]
    await asyncio.sleep(0)  # let them queue

    async with asyncio.timeout(5):
        await writer.close()
        assert await asyncio.gather(*waiting) == [Stored(new=True)] * 20
    with pytest.raises(DatabaseUnavailableError):
        await writer.write(event(account_id))
    assert len(await inbox_rows(db)) == 20
