"""Request slots: an account's cap on requests in flight, held in Postgres, so it holds across processes.

Each `RequestSlots` here has a pool of its own: to Postgres, a separate process.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from store.errors import DatabaseUnavailableError
from store.pool import Pool, create_pool
from store.request_slots import RequestSlots, account_key

ACCOUNT = uuid.UUID("6f1c2d4e-0000-4000-8000-00000000a11c")


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[tuple[Pool, Pool]]:
    first, second = await create_pool(database_url, max_size=2), await create_pool(database_url, max_size=2)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _locks_held(pool: Pool) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "select count(*) from pg_locks where locktype = 'advisory' and objsubid = 2 and classid::bigint = $1",
                account_key(ACCOUNT) & 0xFFFFFFFF,
            )
        )


async def test_a_process_waits_while_others_hold_every_slot_and_gets_one_when_it_is_given_back(pools) -> None:
    a, b = RequestSlots(pools[0]), RequestSlots(pools[1])
    try:
        first, second = await a.acquire(ACCOUNT, 2), await a.acquire(ACCOUNT, 2)
        assert {first, second} == {0, 1}
        assert await _locks_held(pools[0]) == 2
        waiting = asyncio.create_task(b.acquire(ACCOUNT, 2))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        a.release(ACCOUNT, first)
        assert await asyncio.wait_for(waiting, 2) == first
        assert (a.held(ACCOUNT), b.held(ACCOUNT)) == (1, 1)
    finally:
        await a.aclose()
        await b.aclose()
    assert await _locks_held(pools[0]) == 0


async def test_the_slots_of_a_process_that_died_are_free_at_once(pools, database_url) -> None:
    dead_pool = await create_pool(database_url, max_size=1)
    dead = RequestSlots(dead_pool)
    await dead.acquire(ACCOUNT, 1)
    live = RequestSlots(pools[1])
    try:
        waiting = asyncio.create_task(live.acquire(ACCOUNT, 1))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        dead_pool.terminate()  # its connections drop, as a SIGKILLed process's do
        assert await asyncio.wait_for(waiting, 2) == 0
    finally:
        await live.aclose()


async def test_gates_in_two_processes_keep_the_account_to_its_cap(pools) -> None:
    a, b = RequestSlots(pools[0]), RequestSlots(pools[1])
    out, peak = 0, 0

    async def request(gate) -> None:
        nonlocal out, peak
        async with gate:
            out += 1
            peak = max(peak, out)
            await asyncio.sleep(0.02)
            out -= 1

    try:
        gates = [a.gate(ACCOUNT, 3), b.gate(ACCOUNT, 3)]
        await asyncio.gather(*(request(gates[i % 2]) for i in range(24)))
    finally:
        await a.aclose()
        await b.aclose()
    assert peak == 3
    assert await _locks_held(pools[0]) == 0


async def test_a_request_cancelled_while_it_waits_leaves_no_slot_taken(pools) -> None:
    a, b = RequestSlots(pools[0]), RequestSlots(pools[1])
    try:
        held = await a.acquire(ACCOUNT, 1)
        gate = b.gate(ACCOUNT, 1)

        async def request() -> None:
            async with gate:
                await asyncio.sleep(10)

        waiting = asyncio.create_task(request())
        await asyncio.sleep(0.1)
        a.release(ACCOUNT, held)
        waiting.cancel()  # maybe before its poll took the slot, maybe after
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.2)  # past the linger of a slot it may have taken
        assert b.held(ACCOUNT) == 0
        assert await asyncio.wait_for(a.acquire(ACCOUNT, 1), 2) == 0  # nobody holds it
    finally:
        await a.aclose()
        await b.aclose()


async def test_the_connection_goes_back_to_the_pool_once_no_slot_is_held(database_url) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    slots = RequestSlots(pool, idle_s=0.05)
    try:
        slots.release(ACCOUNT, await slots.acquire(ACCOUNT, 2))
        await asyncio.sleep(0.2)
        async with asyncio.timeout(1), pool.acquire() as conn:  # the pool's only connection is free again
            assert await conn.fetchval("select 1") == 1
    finally:
        await slots.aclose()
        await pool.close()


async def test_postgres_gone_is_a_clear_error(database_url) -> None:
    pool = await create_pool(database_url, max_size=1)
    await pool.close()
    with pytest.raises(DatabaseUnavailableError, match="request slot"):
        await RequestSlots(pool).acquire(ACCOUNT, 1)


async def test_a_slot_given_back_serves_the_next_request_of_its_process_first(pools) -> None:
    a, b = RequestSlots(pools[0], linger_s=10), RequestSlots(pools[1])
    try:
        slot = await a.acquire(ACCOUNT, 1)
        a.release(ACCOUNT, slot)
        assert await asyncio.wait_for(a.acquire(ACCOUNT, 1), 0.05) == slot  # taken again, no statement waited for
        a.release(ACCOUNT, slot)
        waiting = asyncio.create_task(b.acquire(ACCOUNT, 1))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # still locked by a while it lingers
        await a.aclose()
        assert await asyncio.wait_for(waiting, 2) == slot
    finally:
        await a.aclose()
        await b.aclose()
