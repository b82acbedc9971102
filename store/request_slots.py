"""At most N Ashby requests in flight per account, counted across every process (DESIGN.md invariant 10).

An account has N slots: Postgres session advisory locks keyed (account, slot number). A request holds one while it
is out. A process holds its slots on one connection of its own, taken from the pool while it holds any and given
back once it has held none for `idle_s` (the pool's reset releases every advisory lock). Postgres releases the
locks of a process that dies, so a crash leaves no slot taken.

Taking a slot is one statement on that connection, giving it back another. A slot given back stays with the
process for `linger_s` first: a pass's next request, which follows at once, takes it without either statement
(both on every request put 2 % on the wall time of a pass at 100 ms per request). When every slot is taken
elsewhere, a request polls with a growing, jittered delay rather than waiting inside Postgres, so it never holds a
statement open. Processes are not served in turn: one that keeps every slot busy keeps the others waiting; the
cap, not fairness, is what this guarantees.
"""

import asyncio
import contextlib
import hashlib
import random
import uuid
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

import asyncpg
import structlog

from store.errors import DatabaseUnavailableError
from store.pool import Pool

log = structlog.get_logger(__name__)

_CONNECTION_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

# The first slot not held by this process that no other session holds, locked; at most one (the scan stops at
# the first row the filter lets through).
_TAKE = "select s from unnest($2::int[]) as s where pg_try_advisory_lock($1, s) limit 1"
_GIVE_BACK = "select pg_advisory_unlock($1, $2)"


def account_key(account_id: uuid.UUID) -> int:
    """The first half of an account's slot keys: 32 bits of a hash of its id (two-key locks never meet the
    single-key locks of `store.locks`)."""
    return int.from_bytes(hashlib.blake2b(account_id.bytes, digest_size=4).digest(), "big", signed=True)


class RequestSlots:
    """One process's slots, for every account; `gate(account_id, cap)` is what an account's client holds."""

    def __init__(
        self,
        pool: Pool,
        *,
        linger_s: float = 0.05,
        poll_s: float = 0.01,
        max_poll_s: float = 0.25,
        idle_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._poll_s = poll_s
        self._max_poll_s = max_poll_s
        self._idle_s = idle_s
        self._linger_s = linger_s
        self._conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record] | None = None
        self._statement = asyncio.Lock()  # one statement at a time on the connection
        self._held: dict[uuid.UUID, set[int]] = {}  # locked by this process: in use or spare
        self._spare: dict[uuid.UUID, dict[int, asyncio.TimerHandle]] = {}  # given back, unlocked when the timer fires
        self._count = 0
        self._idle_release: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # give-backs and idle closes running on their own

    def gate(self, account_id: uuid.UUID, cap: int) -> "AccountGate":
        """An async context manager that holds one of the account's `cap` slots (and of this process's `cap`
        requests for it) around a request."""
        return AccountGate(self, account_id, cap)

    def held(self, account_id: uuid.UUID) -> int:
        """How many of the account's slots this process holds now."""
        return len(self._held.get(account_id, ()))

    async def acquire(self, account_id: uuid.UUID, cap: int) -> int:
        """Take a free slot of the account's `cap`, waiting while other processes hold them all.

        Raises:
            DatabaseUnavailableError: Postgres could not be asked.
        """
        spare = self._spare.get(account_id, {})
        for kept in list(spare):
            if kept < cap:  # (a lowered cap lets the others expire)
                spare.pop(kept).cancel()
                return kept
        delay = self._poll_s
        while True:
            attempt = asyncio.ensure_future(self._try(account_id, cap))
            try:
                taken = await asyncio.shield(attempt)  # a slot taken is recorded even if the caller is cancelled
            except asyncio.CancelledError:
                attempt.add_done_callback(lambda done: self._give_back_unused(account_id, done))
                raise
            if taken is not None:
                return taken
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_poll_s)

    def release(self, account_id: uuid.UUID, slot: int) -> None:
        """Give `slot` back: kept `linger_s` for this process's next request, then unlocked (nothing to do when it
        went with a lost connection)."""
        if slot not in self._held.get(account_id, ()):
            return
        expire = asyncio.get_running_loop().call_later(self._linger_s, self._spawn_unlock, account_id, slot)
        self._spare.setdefault(account_id, {})[slot] = expire

    async def aclose(self) -> None:
        """Give the connection back to the pool (with it, any slot still held)."""
        async with self._statement:
            await self._drop_connection(terminate=False)
        await asyncio.gather(*self._tasks, return_exceptions=True)  # give-backs queued behind it: now no-ops

    # ----------------------------------------------------------------------------------------------------------

    async def _try(self, account_id: uuid.UUID, cap: int) -> int | None:
        async with self._statement:
            held = self._held.setdefault(account_id, set())
            free = [s for s in range(cap) if s not in held]
            if not free:  # only when a lowered cap meets requests still out under the old one
                return None
            if self._idle_release is not None:
                self._idle_release.cancel()
                self._idle_release = None
            try:
                if self._conn is None:
                    self._conn = await self._pool.acquire()
                slot = await self._conn.fetchval(_TAKE, account_key(account_id), free)
            except _CONNECTION_LOST as exc:
                await self._lose_connection(exc)
                raise DatabaseUnavailableError(
                    f"could not take a request slot in Postgres: {exc.__class__.__name__}"
                ) from exc
            if slot is not None:
                held.add(slot)
                self._count += 1
            elif self._count == 0:
                self._idle_release = asyncio.get_running_loop().call_later(self._idle_s, self._release_if_idle)
            return None if slot is None else int(slot)

    def _spawn_unlock(self, account_id: uuid.UUID, slot: int) -> None:
        self._spawn(self._unlock(account_id, slot))

    async def _unlock(self, account_id: uuid.UUID, slot: int) -> None:
        async with self._statement:
            spare = self._spare.get(account_id, {})
            if slot not in spare or self._conn is None:  # taken again meanwhile, or gone with the connection
                return
            del spare[slot]
            self._held[account_id].discard(slot)
            self._count -= 1
            try:
                await self._conn.fetchval(_GIVE_BACK, account_key(account_id), slot)
            except _CONNECTION_LOST as exc:
                await self._lose_connection(exc)
                return
            if self._count == 0:
                self._idle_release = asyncio.get_running_loop().call_later(self._idle_s, self._release_if_idle)

    def _give_back_unused(self, account_id: uuid.UUID, attempt: "asyncio.Future[int | None]") -> None:
        if attempt.cancelled() or attempt.exception() is not None or attempt.result() is None:
            return
        slot = attempt.result()
        assert slot is not None
        self.release(account_id, slot)

    def _release_if_idle(self) -> None:
        self._idle_release = None
        self._spawn(self._close_if_idle())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_if_idle(self) -> None:
        async with self._statement:
            if self._count == 0:  # a request may have taken a slot since the timer was set
                await self._drop_connection(terminate=False)

    async def _lose_connection(self, exc: BaseException) -> None:
        # With the session gone, so are its locks: what this process held is free for the others now.
        if self._count:
            log.warning("request_slots_lost", error=exc.__class__.__name__, slots=self._count)
        await self._drop_connection(terminate=True)

    async def _drop_connection(self, *, terminate: bool) -> None:
        conn, self._conn = self._conn, None
        for spare in self._spare.values():
            for expire in spare.values():
                expire.cancel()
        self._spare.clear()
        self._held.clear()
        self._count = 0
        if self._idle_release is not None:
            self._idle_release.cancel()
            self._idle_release = None
        if conn is None:
            return
        if terminate:
            conn.terminate()
        with contextlib.suppress(*_CONNECTION_LOST):
            await self._pool.release(conn)


class AccountGate:
    """Holds one of the account's slots, and one of this process's `cap` requests for it, per `async with`."""

    def __init__(self, slots: RequestSlots, account_id: uuid.UUID, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self._slots = slots
        self._account_id = account_id
        self.cap = cap
        self._local = asyncio.Semaphore(cap)  # never more than `cap` of this process's requests asking at once
        self._in_use: list[int] = []

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            self._in_use.append(await self._slots.acquire(self._account_id, self.cap))
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._slots.release(self._account_id, self._in_use.pop())  # slots are alike: which one does not matter
        self._local.release()
