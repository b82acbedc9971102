"""The secret cache: one read per TTL, concurrent misses share a read, rotations seen within the TTL."""

import asyncio
import uuid

from pydantic import SecretStr

from store import accounts
from tests.webhooks.conftest import BOX, WEBHOOK_SECRET
from webhooks.secret_cache import SecretCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain(entry) -> list[str]:
    return [s.get_secret_value() for s in entry.secrets]


async def test_a_rotation_is_seen_once_the_ttl_passes(db, account_id, secret):
    clock = Clock()
    cache = SecretCache(db, BOX, ttl_s=5, clock=clock)
    assert plain(await cache.get(account_id)) == [WEBHOOK_SECRET]
    async with db.acquire() as conn:
        await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr("new"))

    clock.now += 4.9
    assert plain(await cache.get(account_id)) == [WEBHOOK_SECRET]
    clock.now += 0.2
    assert plain(await cache.get(account_id)) == ["new", WEBHOOK_SECRET]


async def test_get_since_reads_again_only_for_entries_older_than_asked(db, account_id, secret):
    clock = Clock()
    cache = SecretCache(db, BOX, ttl_s=5, clock=clock)
    first = await cache.get(account_id)
    async with db.acquire() as conn:
        await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr("new"))

    assert await cache.get_since(account_id, clock.now) is first  # read at that instant: fresh enough
    clock.now += 0.001
    assert plain(await cache.get_since(account_id, clock.now)) == ["new", WEBHOOK_SECRET]


async def test_concurrent_misses_share_one_read(db, account_id, secret):
    cache = SecretCache(db, BOX, ttl_s=5)
    entries = await asyncio.gather(*(cache.get(account_id) for _ in range(50)))
    assert all(e is entries[0] for e in entries)


async def test_an_unknown_account_is_remembered_briefly(db, account_id):
    clock = Clock()
    cache = SecretCache(db, BOX, ttl_s=5, clock=clock)
    unknown = uuid.uuid4()
    entry = await cache.get(unknown)
    assert not entry.exists
    assert await cache.get(unknown) is entry
    clock.now += 1.01
    assert await cache.get(unknown) is not entry
