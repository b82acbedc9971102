"""Helpers shared by the store, sync, worker and CLI tests."""

import asyncio
import dataclasses
import uuid

import asyncpg
from pydantic import SecretStr

from ashby_api.retry import DEFAULT_POLICY, Retrier, RetryPolicy
from core.config import Settings
from store import accounts, mirror
from store.pool import Pool
from store.secrets import SecretBox, generate_key
from worker.settings import build_worker

SECRET_KEY = generate_key()


async def _no_wait(_: float) -> None:
    return None


# Retries without sleeping: the sandbox's faults are random per request, so a retry is a fresh draw.
FAST_RETRY = Retrier(policy=RetryPolicy(max_attempts=25, base=0.001, cap=0.001, max_total=60), sleep=_no_wait)
# The shipped policy's attempts, without its waits.
DEFAULT_RETRY_NO_WAIT = Retrier(policy=dataclasses.replace(DEFAULT_POLICY, base=0.001, cap=0.001), sleep=_no_wait)


async def assert_mirror_matches(pool: Pool, account_id: uuid.UUID, state, resource: str) -> None:
    """The live rows of the mirror are exactly the sandbox's current records, object for object."""
    async with pool.acquire() as conn:
        mirrored = await mirror.get_raw(conn, resource, account_id)
    expected = {r["id"]: r for r in state.all_records(resource)}
    assert mirrored.keys() == expected.keys(), resource
    assert mirrored == expected, resource


def worker_settings(database_url: str) -> Settings:
    """Settings for a worker on the test database and Redis db."""
    from tests.conftest import TEST_REDIS_URL

    return Settings(
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        ashby_sync_secret_key=SecretStr(SECRET_KEY),
        worker_max_jobs=4,
    )


async def run_burst(settings: Settings) -> int:
    """Run what is queued with a burst worker (no crons); returns how many jobs completed."""
    worker = build_worker(settings, burst=True, crons=False)
    try:
        async with asyncio.timeout(20):
            return await worker.run_check()
    finally:
        await worker.close()


async def lock_waiters(pool: Pool, *, at_least: int = 1) -> list[str]:
    """Wait (at most 10 s) until `at_least` sessions of this database wait on a lock; returns their queries."""
    async with asyncio.timeout(10), pool.acquire() as conn:
        while True:
            rows = await conn.fetch(
                """select query from pg_stat_activity
                   where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()"""
            )
            if len(rows) >= at_least:
                return [r["query"] for r in rows]
            await asyncio.sleep(0.01)


async def row_locked(pool: Pool, table: str, record_id: str) -> None:
    """Wait (at most 10 s) until another transaction holds a lock on the row `record_id` of mirror `table`."""
    async with asyncio.timeout(10), pool.acquire() as conn:
        while True:
            try:
                async with conn.transaction():
                    await conn.execute(f"select 1 from {table} where id = $1 for update nowait", record_id)
            except asyncpg.LockNotAvailableError:
                return
            await asyncio.sleep(0.01)


async def new_account(pool: Pool, name: str = "acme") -> uuid.UUID:
    """An account with a throwaway key, for tests that need a row to hang mirror rows on (no Ashby behind it)."""
    async with pool.acquire() as conn:
        acct = await accounts.add_account(
            conn, SecretBox(SecretStr(generate_key())), name=name, api_key=SecretStr("k"), base_url="http://x"
        )
    return acct.id
