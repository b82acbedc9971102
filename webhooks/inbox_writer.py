"""Group commit for the webhook inbox: concurrent deliveries share one INSERT, one commit and one Redis round trip.

At most `max_flushes` batches are written at once. A batch goes as soon as a slot is free, so deliveries batch up
while the batches before them commit (group commit), and one that arrives alone is written at once. With
`max_wait_s`, a batch also waits that long for more (or until `max_batch` deliveries wait) before taking a free
slot: fewer, larger statements for spread arrivals, for a longer wait.

Once a batch is committed, the drain jobs of the accounts of its new pending events are queued together (while the
next batch commits). Each delivery gets its own outcome: new or duplicate (and whether a queued job will apply it),
or an error.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import asyncpg
import structlog

from store.errors import AccountNotFoundError, DatabaseUnavailableError
from store.inbox import PENDING, NewEvent, insert_events
from store.pool import Conn, Pool
from webhooks.dispatch import JobDispatcher
from webhooks.metrics import ReceiverMetrics

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)

# What Postgres being down, restarting, refusing connections or too slow looks like from asyncpg.
POSTGRES_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
# A batch that fails with one of these holds an event Postgres refuses (e.g. its account was just deleted):
# retried one event at a time, so the other events of the batch are not refused with it.
_EVENT_REFUSED = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


@dataclass(frozen=True, slots=True)
class Stored:
    """A committed delivery: `new` unless a retry or replay of a stored event; `enqueued` if a queued job applies it."""

    new: bool
    enqueued: bool = False


@dataclass(slots=True)
class _Waiting:
    event: NewEvent
    outcome: "asyncio.Future[Stored]"


def _unavailable(exc: BaseException) -> DatabaseUnavailableError:
    error = DatabaseUnavailableError(f"the webhook inbox could not be written: {exc.__class__.__name__}")
    error.__cause__ = exc
    return error


class InboxWriter:
    """Writes `NewEvent`s in batches; `start()` and `close()` bracket its life (the app's cleanup_ctx)."""

    def __init__(
        self,
        pool: Pool,
        metrics: ReceiverMetrics,
        dispatcher: JobDispatcher | None = None,
        *,
        max_batch: int = 256,
        max_wait_s: float = 0.0,
        max_flushes: int = 2,
        timeout_s: float = 5.0,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._dispatcher = dispatcher
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._timeout_s = timeout_s
        self._waiting: list[_Waiting] = []
        self._oldest_at = 0.0  # loop time at which the oldest waiting delivery arrived
        self._ready = asyncio.Event()  # at least one delivery waits
        self._full = asyncio.Event()  # a whole batch waits
        self._slots = asyncio.Semaphore(max_flushes)
        self._runner: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._idle: list[asyncpg.pool.PoolConnectionProxy[asyncpg.Record]] = []  # kept between batches
        self._closed = False

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="inbox-writer")

    async def close(self) -> None:
        """Write what still waits, wait for the batches in flight, then refuse new writes."""
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        while self._waiting:
            await self._slots.acquire()
            self._spawn(self._take())
        await asyncio.gather(*self._flushes, return_exceptions=True)
        while self._idle:
            await self._give_back(self._idle.pop(), healthy=True)

    async def write(self, event: NewEvent) -> Stored:
        """Record `event`, committed when this returns; a new pending event's apply job is queued too.

        Raises:
            DatabaseUnavailableError: the batch could not be written; nothing of it is acknowledged.
            AccountNotFoundError: the event's account no longer exists.
        """
        if self._closed:
            raise DatabaseUnavailableError("the receiver is shutting down")
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Stored] = loop.create_future()
        if not self._waiting:
            self._oldest_at = loop.time()
        self._waiting.append(_Waiting(event, outcome))
        self._ready.set()
        if len(self._waiting) >= self._max_batch:
            self._full.set()
        return await outcome

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            if self._max_wait_s > 0 and len(self._waiting) < self._max_batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(self._oldest_at + self._max_wait_s):
                        await self._full.wait()
            await self._slots.acquire()
            self._spawn(self._take())

    def _take(self) -> list[_Waiting]:
        batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
        if self._waiting:
            self._oldest_at = 0.0  # long ago: they waited for a slot already, so the next batch goes without lingering
        else:
            self._ready.clear()
        if len(self._waiting) < self._max_batch:
            self._full.clear()
        return batch

    def _spawn(self, batch: list[_Waiting]) -> None:
        task = asyncio.get_running_loop().create_task(self._flush(batch), name="inbox-flush")
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[_Waiting]) -> None:
        # One key order for every batch: two concurrent batches holding the same keys then wait on each other
        # instead of deadlocking.
        started = time.perf_counter()
        try:
            try:
                batch.sort(key=lambda w: (w.event.key.account_id, w.event.key.webhook_action_id, w.event.key.action))
                self._metrics.batch_size.observe(len(batch))
                async with asyncio.timeout(self._timeout_s):
                    written = await self._insert(batch)
            finally:
                self._slots.release()  # the connection is back: the next batch commits while this one enqueues
            committed = time.perf_counter()
            self._metrics.commit_seconds.observe(committed - started)
            outcomes = await self._dispatch(batch, written)
            if _stdlib_log.isEnabledFor(logging.DEBUG):  # at INFO, a write(2) per batch; /metrics has these figures
                stored = [o for o in outcomes if isinstance(o, Stored)]
                log.debug(
                    "inbox_batch_written",
                    events=len(batch),
                    new=sum(o.new for o in stored),
                    enqueued=sum(o.enqueued for o in stored),
                    refused=len(batch) - len(stored),
                    commit_ms=round((committed - started) * 1000, 2),
                    enqueue_ms=round((time.perf_counter() - committed) * 1000, 2),
                )
        except POSTGRES_UNAVAILABLE as exc:
            log.warning("inbox_batch_failed", events=len(batch), error=exc.__class__.__name__)
            outcomes = [_unavailable(exc) for _ in batch]
        except Exception as exc:  # a background task's top level: every waiting request must get an answer
            log.exception("inbox_batch_crashed", events=len(batch))
            outcomes = [_unavailable(exc) for _ in batch]
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.outcome.done():  # its request went away; the event is stored (or not) all the same
                continue
            if isinstance(outcome, Exception):
                waiting.outcome.set_exception(outcome)
            else:
                waiting.outcome.set_result(outcome)

    async def _insert(self, batch: list[_Waiting]) -> list[bool | Exception]:
        # The writer keeps its connections between batches (at most one per flush slot): checking one out of
        # the pool and back costs a reset round trip per batch.
        conn = self._idle.pop() if self._idle else await self._pool.acquire()
        healthy = False
        try:
            try:
                written: list[bool | Exception] = list(await insert_events(conn, [w.event for w in batch]))
            except _EVENT_REFUSED:
                written = await self._write_one_by_one(conn, batch)
            healthy = True
            return written
        finally:
            if healthy and not self._closed:
                self._idle.append(conn)
            else:
                await self._give_back(conn, healthy=healthy)

    async def _give_back(self, conn: "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]", *, healthy: bool) -> None:
        if not healthy:
            conn.terminate()  # it may be mid-query (a timeout) or broken: the pool opens a fresh one later
        with contextlib.suppress(*POSTGRES_UNAVAILABLE):
            await self._pool.release(conn)

    async def _write_one_by_one(self, conn: Conn, batch: list[_Waiting]) -> list[bool | Exception]:
        written: list[bool | Exception] = []
        for waiting in batch:
            try:
                written.extend(await insert_events(conn, [waiting.event]))
            except asyncpg.ForeignKeyViolationError:
                written.append(AccountNotFoundError(f"no account with id {waiting.event.key.account_id}"))
            except _EVENT_REFUSED as exc:
                log.error("inbox_event_refused", error=exc.__class__.__name__, sqlstate=exc.sqlstate)
                written.append(_unavailable(exc))
        return written

    async def _dispatch(self, batch: list[_Waiting], written: list[bool | Exception]) -> list[Stored | Exception]:
        """Queue the drains of the batch's new pending events (after the commit: a job never precedes its row)."""
        due = [
            i
            for i, (w, new) in enumerate(zip(batch, written, strict=True))
            if new is True and w.event.status == PENDING
        ]
        queued = False
        if due and self._dispatcher is not None:
            queued = await self._dispatcher.enqueue_drains([batch[i].event.key.account_id for i in due])
        due_set = set(due) if queued else set()
        return [new if isinstance(new, Exception) else Stored(new, i in due_set) for i, new in enumerate(written)]
