"""Applying stored Ashby webhook events to the mirror: one event (its job), or an account's pending ones (a drain).

The changes are planned first (`sync.webhook_plan`: Ashby reads included); the transaction then locks the inbox
row, writes newer-wins upserts, deletes and merges, and marks the event done, so an event is applied at most
once however often it is delivered or enqueued (DESIGN.md invariants 4, 5 and 7).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from structlog.contextvars import bound_contextvars

from core.queue import DRAIN_LINGER_S
from store import inbox, merges, mirror
from store.inbox import APPLIED, SKIPPED, InboxKey
from store.mirror_tables import Obj
from store.pool import Conn, commit_without_waiting_for_disk
from sync.passes import SyncContext
from sync.webhook_plan import Changes, parse_event, plan_changes

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Tally:
    written: int = 0
    stale: int = 0
    deleted: int = 0
    moved: int = 0


async def apply_event(ctx: SyncContext, key: InboxKey) -> str:
    """Apply one stored event to the mirror, at most once; returns its outcome for the job's log.

    Raises:
        MalformedWebhookError: the stored body cannot be applied (retrying will not help).
        AshbyError: an `.info` read failed (`retryable` says whether a retry may succeed).
    """
    with bound_contextvars(
        account_id=str(key.account_id), webhook_action=key.action, webhook_action_id=key.webhook_action_id
    ):
        return await _apply(ctx, key)


PLAN_CONCURRENCY = 8  # events of a drain batch planned at once (Ashby reads, and the pool reads of merges)


@dataclass(slots=True)
class Drained:
    """What one drain did: events applied, events left to their own job, and whether it stopped with more due."""

    applied: int = 0
    deferred: list[InboxKey] = field(default_factory=list)
    more: bool = False


async def drain_pending(
    ctx: SyncContext,
    *,
    on_locked: Callable[[], Awaitable[None]] | None = None,
    lock_wait_s: float = 60.0,
    batch: int = 200,
    limit: int = 2000,
    linger_s: float = DRAIN_LINGER_S,
    poll_s: float = 0.01,
) -> Drained | None:
    """Apply the account's pending events in batches, one transaction each; None when the lock never came free.

    One drain runs per account at a time (a Postgres advisory lock, waited for up to `lock_wait_s`); `on_locked`
    runs once it is held, before the first read of the inbox. The drain then reads the inbox every `poll_s`
    until a read begun `linger_s` after `on_locked` returned, and after the last event it saw, finds nothing
    (the receiver relies on this: see `core.queue`). An event it cannot plan (malformed, its `.info` read
    failed, or a bug) or whose batch fails to write is returned in `deferred`, for a job of its own that
    retries it with backoff and records the failure. Once `limit` events are applied it stops as soon as more
    are pending, with `more` set: the caller queues the next drain.
    """
    drained = Drained()
    unresolved: set[InboxKey] = set()  # read once and still pending: deferred, or held by a concurrent job
    planning = asyncio.Semaphore(PLAN_CONCURRENCY)
    loop = asyncio.get_running_loop()
    async with inbox.drain_lock(ctx.pool, ctx.account_id, wait_s=lock_wait_s) as locked:
        if not locked:
            return None
        if on_locked is not None:
            await on_locked()
        idle_since = loop.time()
        while True:
            read_at = loop.time()  # what is committed by now, this read sees
            async with ctx.pool.acquire() as conn:
                events = await inbox.list_pending_events(conn, ctx.account_id, limit=batch, skip=unresolved)
            if not events:
                if read_at - idle_since >= linger_s:
                    break
                await asyncio.sleep(poll_s)
                continue
            if drained.applied >= limit:
                drained.more = True
                break
            idle_since = read_at
            # Planned side by side: the `.info` reads some events need overlap (the client caps them per account).
            plans = await asyncio.gather(*(_plan_event(ctx, e, planning) for e in events))
            planned = [(e.key, changes) for e, changes in zip(events, plans, strict=True) if changes is not None]
            drained.deferred += [e.key for e, changes in zip(events, plans, strict=True) if changes is None]
            try:
                applied = await _write_batch(ctx, planned)
            except asyncpg.PostgresError as exc:  # one event Postgres refuses fails its batch: each goes alone
                log.warning("webhook_drain_batch_failed", events=len(planned), error=type(exc).__name__)
                drained.deferred += [key for key, _ in planned]
                applied = set()
            drained.applied += len(applied)
            unresolved.update(e.key for e in events if e.key not in applied)
    return drained


async def _plan_event(ctx: SyncContext, event: inbox.InboxEvent, planning: asyncio.Semaphore) -> Changes | None:
    """The event's changes, or None (logged) when it must go to a job of its own."""
    try:
        envelope = parse_event(event.body, event.key)
        async with planning:
            return await plan_changes(ctx, event.key.action, envelope.data)
    except Exception as exc:  # noqa: BLE001 - its own job retries it, or records the crash on it
        log.info("webhook_drain_deferred", webhook_action_id=event.key.webhook_action_id, error=type(exc).__name__)
        return None


async def _write_batch(ctx: SyncContext, planned: list[tuple[InboxKey, Changes]]) -> set[InboxKey]:
    """Write planned events in one transaction; those a concurrent job holds are left to it. Returns those done."""
    done: set[InboxKey] = set()
    async with ctx.pool.acquire() as conn, conn.transaction():
        await commit_without_waiting_for_disk(conn)  # if lost, the rows are still pending: applied again
        mine = await inbox.lock_pending_batch(conn, [k for k, _ in planned])
        for key, changes in planned:
            if key in mine:
                await write_changes(conn, ctx, changes)
                await inbox.mark_done(conn, key, SKIPPED if changes.skip_reason else APPLIED)
                done.add(key)
    return done


async def _apply(ctx: SyncContext, key: InboxKey) -> str:
    started = time.monotonic()
    async with ctx.pool.acquire() as conn:
        event = await inbox.get_event(conn, key)
    if event is None:
        log.warning("webhook_apply_skipped", reason="not_in_inbox")
        return "not in the inbox"
    if event.status not in (inbox.PENDING, inbox.FAILED):
        log.info("webhook_apply_skipped", reason="already_done", status=event.status)
        return f"already {event.status}"
    envelope = parse_event(event.body, key)
    changes = await plan_changes(ctx, key.action, envelope.data)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await commit_without_waiting_for_disk(conn)  # if lost, the inbox row is still pending: applied again
        if await inbox.lock_pending(conn, key) is None:  # a concurrent apply of the same event won
            log.info("webhook_apply_skipped", reason="applied_concurrently")
            return "already applied"
        tally = await write_changes(conn, ctx, changes)
        await inbox.mark_done(conn, key, SKIPPED if changes.skip_reason else APPLIED)
    outcome = f"skipped: {changes.skip_reason}" if changes.skip_reason else "applied"
    log.info(
        "webhook_applied",
        outcome=SKIPPED if changes.skip_reason else APPLIED,
        reason=changes.skip_reason,
        record_ids=[oid for _, oid in _touched(changes)][:20],
        written=tally.written,
        stale=tally.stale,
        deleted=tally.deleted,
        moved=tally.moved,
        fetched=changes.fetched,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return outcome


def _touched(changes: Changes) -> list[tuple[str, str]]:
    ids = [(t, str(o.get("id"))) for t, o in changes.upserts] + list(changes.deletes)
    ids += [("candidates", c) for c in changes.deleted_candidates]
    if changes.merge is not None:
        ids += [("candidates", changes.merge.deleted_id), ("candidates", changes.merge.kept_id)]
    return ids


# Writing: one transaction, the inbox row locked by the caller --------------------------------------------------


def candidate_summary(candidate: Obj) -> dict[str, Any]:
    """The candidate as an application embeds it: id, name and primary contacts."""
    out = {"id": candidate["id"]}
    for key in merges.EMBEDDED_CANDIDATE_PII:
        if candidate.get(key) is not None:
            out[key] = candidate[key]
    return out


async def write_changes(conn: Conn, ctx: SyncContext, changes: Changes) -> _Tally:
    """Write `changes` on `conn` (inside the caller's transaction); webhooks never revive deleted rows."""
    tally = _Tally()
    account_id = ctx.account_id
    current: set[tuple[str, Any]] = set()  # what this event stored as the newest version
    for table, obj in changes.upserts:
        read_at = changes.read_time(table, obj.get("id"))
        result = await mirror.upsert_page(conn, table, account_id, [obj], revive_deleted=False, fetched_at=read_at)
        tally.written += result.written
        tally.stale += result.stale
        if result.written:
            current.add((table, obj.get("id")))
            await merges.refresh_embedded(conn, table, account_id, [obj.get("id")])
        for r in result.rejected:  # ids and field names only: values may be PII
            log.warning("webhook_field_rejected", table=table, record_id=r.id, field=r.field)
    for schedule_id, listed in changes.schedule_events:
        if ("interview_schedules", schedule_id) in current:  # a late, older version lists older events
            tally.deleted += await mirror.delete_detached(
                conn,
                "interview_events",
                account_id,
                parent_column="interview_schedule_id",
                parent_id=schedule_id,
                keep=listed,
            )
    for table, record_id in changes.deletes:
        tally.deleted += await mirror.mark_deleted(conn, table, account_id, [record_id])
    for candidate_id in changes.deleted_candidates:
        tally.deleted += await merges.delete_candidate(conn, account_id, candidate_id)
    for job_id, mapping in changes.stage_moves:
        tally.moved += len(await merges.move_to_stages(conn, account_id, job_id, mapping))
    if changes.merge is not None:
        m = changes.merge
        summary = candidate_summary(m.kept) if m.kept is not None else {"id": m.kept_id}
        tally.moved += len(await merges.move_applications(conn, account_id, m.deleted_id, summary))
        if m.kept is not None:
            read_at = changes.read_time("candidates", m.kept_id)
            result = await mirror.upsert_page(
                conn, "candidates", account_id, [m.kept], revive_deleted=False, fetched_at=read_at
            )
            tally.written += result.written
            tally.stale += result.stale
        tally.deleted += await mirror.mark_deleted(conn, "candidates", account_id, [m.deleted_id])
    return tally
