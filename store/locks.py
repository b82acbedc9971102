"""Postgres session advisory locks: one holder at a time across every process, released if the holder dies."""

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from store.pool import Conn, Pool


def lock_key(name: str) -> int:
    """A stable 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@asynccontextmanager
async def try_advisory_lock(pool: Pool, name: str, *, wait_s: float = 0.0, poll_s: float = 0.01) -> AsyncIterator[bool]:
    """Hold the lock named `name` on a connection of its own; yields False when another session holds it.

    With `wait_s`, tries again every `poll_s` until then (never blocking inside Postgres, so a waiter holds no
    statement open and gives up on time).

    Postgres releases a session lock when its connection ends, so a process killed while holding it
    (SIGKILL) leaves nothing stale behind.
    """
    key = lock_key(name)
    async with pool.acquire() as conn:
        got = bool(await conn.fetchval("select pg_try_advisory_lock($1)", key))
        if not got and wait_s > 0:
            deadline = asyncio.get_running_loop().time() + wait_s
            while not got and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(poll_s)
                got = bool(await conn.fetchval("select pg_try_advisory_lock($1)", key))
        try:
            yield got
        finally:
            if got:
                # a connection that is gone took the lock with it: nothing is left to release
                with contextlib.suppress(asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                    await conn.execute("select pg_advisory_unlock($1)", key)


async def lock_holder(conn: Conn, name: str) -> int | None:
    """The backend pid of the session holding the lock named `name` in this database, if one does; read from
    `pg_locks`, never taken (taking it even for a moment could make a pass starting then skip)."""
    key = lock_key(name) & 0xFFFF_FFFF_FFFF_FFFF  # pg_locks shows the 64-bit key as two unsigned 32-bit halves
    pid = await conn.fetchval(
        """select pid from pg_locks
           where locktype = 'advisory' and granted and objsubid = 1
             and database = (select oid from pg_database where datname = current_database())
             and classid::bigint = $1 and objid::bigint = $2""",
        key >> 32,
        key & 0xFFFF_FFFF,
    )
    return int(pid) if pid is not None else None


async def lock_held(conn: Conn, name: str) -> bool:
    """Whether a session holds the lock named `name` in this database (`lock_holder`)."""
    return await lock_holder(conn, name) is not None
