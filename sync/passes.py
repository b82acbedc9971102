"""One sync pass of one (account, resource): fetch pages from Ashby, write them to the mirror, checkpoint.

A pass is resumable and exact (DESIGN.md invariant 6): each page's rows and the cursor of the next page are
committed in one transaction; the new syncToken only with the last page. While pages are written (`WRITE_DEPTH` at
once, committed in page order), the next one is being fetched, so a pass takes as long as Ashby takes to serve it, not
longer.
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import structlog

from ashby_api.client import AshbyClient
from ashby_api.errors import AshbyProtocolError, SyncRestartRequired
from ashby_api.models import BodyPage
from ashby_api.resources import Resource, SyncMode
from ashby_api.retry import Retrier
from core.errors import AppError
from store import merges, mirror, sync_state
from store.errors import PassSupersededError
from store.pool import Conn, Pool, commit_without_waiting_for_disk
from sync import metrics

log = structlog.get_logger(__name__)

Progress = Callable[[str, int, int], None]
"""Called after each written page with (resource name, rows so far, pages so far)."""


@dataclass(frozen=True, slots=True)
class SyncContext:
    """What passes of one account need: the pool, the account's client, and how to retry its calls.

    `scopes` are what the account's key may read (`apiKey.info`); None when unknown: every resource is tried.
    """

    pool: Pool
    client: AshbyClient
    account_id: uuid.UUID
    retry: Retrier
    scopes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class PassResult:
    """The outcome of one pass."""

    resource: str
    mode: str  # full | incremental | skipped (see `skipped`)
    rows: int = 0
    pages: int = 0
    written: int = 0
    stale: int = 0
    deleted: int = 0
    rejected: int = 0
    restarted: str | None = None  # the error code that made the pass restart full
    seconds: float = 0.0
    skipped: str | None = None  # why no pass ran: SKIPPED_RUNNING, SKIPPED_SUPERSEDED or SKIPPED_NO_SCOPE


SKIPPED_RUNNING = "another pass is running"
SKIPPED_SUPERSEDED = "another run took the pass over"
SKIPPED_NO_SCOPE = "the API key may not read it"


class SyncProtocolError(AshbyProtocolError):
    """Ashby ended a pass in a way that cannot be checkpointed (rows but no syncToken, a cursor that loops)."""


class ParentNotMirroredError(AppError):
    """A resource listed per parent row (interview stages per plan) cannot pass before its parent has, once."""

    retryable = True


@dataclass(slots=True)
class _Tally:
    rows: int = 0
    pages: int = 0
    written: int = 0
    stale: int = 0
    rejected: int = 0
    deleted: int = 0


async def sync_resource(
    ctx: SyncContext, resource: Resource, *, full: bool = False, progress: Progress | None = None
) -> PassResult:
    """Run (or resume) one pass of `resource`; skipped when another worker is running it right now, or when the
    account's key may not read it (Ashby would answer 403 every time: nothing to record or retry).

    Raises:
        AshbyError: the pass failed; its error is recorded in sync_state and its checkpoint kept.
    """
    if not resource.readable_with(ctx.scopes):
        log.info("sync_pass_skipped", resource=resource.name, reason="no_scope", scope=resource.scope)
        return PassResult(resource.name, "skipped", skipped=f"{SKIPPED_NO_SCOPE} ({resource.scope})")
    async with sync_state.pass_lock(ctx.pool, ctx.account_id, resource.name) as locked:
        if not locked:
            log.info("sync_pass_skipped", resource=resource.name, reason="locked")
            return PassResult(resource.name, "skipped", skipped=SKIPPED_RUNNING)
        try:
            try:
                return await _run(ctx, resource, full=full, progress=progress)
            except SyncRestartRequired as exc:
                log.warning("sync_pass_restarted", resource=resource.name, reason=exc.code, request_id=exc.request_id)
                metrics.RESTARTS.labels(resource.name, exc.code).inc()
                return await _run(ctx, resource, full=True, progress=progress, restarted=exc.code)
        except PassSupersededError:  # its lock was lost and another pass began: that one owns the state now
            log.warning("sync_pass_skipped", resource=resource.name, reason="superseded")
            return PassResult(resource.name, "skipped", skipped=SKIPPED_SUPERSEDED)
        except Exception as exc:  # recorded for `status`, then re-raised unchanged
            async with ctx.pool.acquire() as conn:
                await sync_state.record_error(conn, ctx.account_id, resource.name, f"{type(exc).__name__}: {exc}")
            metrics.PASSES.labels(resource.name, "-", "failed").inc()
            log.warning("sync_pass_failed", resource=resource.name, error=type(exc).__name__, detail=str(exc))
            raise


async def _run(
    ctx: SyncContext, resource: Resource, *, full: bool, progress: Progress | None, restarted: str | None = None
) -> PassResult:
    started = time.monotonic()
    async with ctx.pool.acquire() as conn:
        if resource.parent is not None:  # else it would list nothing and record that as a success
            parent = await sync_state.get_state(conn, ctx.account_id, resource.parent)
            if parent.last_success_at is None:
                raise ParentNotMirroredError(f"{resource.name} passes after {resource.parent}, which has not yet")
        state = await sync_state.get_state(conn, ctx.account_id, resource.name)
        resume = not full and not restarted and state.in_progress and state.cursor is not None
        if resume and resource.mode is SyncMode.INCREMENTAL:
            state = await sync_state.claim_pass(conn, ctx.account_id, resource.name)  # its latest checkpoint
            mode = state.pass_mode or "full"
        else:
            incremental = (
                resource.mode is SyncMode.INCREMENTAL
                and not full
                and not state.full_requested
                and state.sync_token is not None
            )
            mode = "incremental" if incremental else "full"
            state = await sync_state.begin_pass(conn, ctx.account_id, resource.name, mode)
    assert state.pass_started_at is not None
    assert state.pass_claim is not None
    token = state.sync_token if mode == "incremental" else None
    cursor = state.cursor if resume else None
    log.info("sync_pass_started", resource=resource.name, mode=mode, resumed=resume)

    tally = _Tally()
    # A full pass marks deleted what it did not see, in the last page's transaction: a pass recorded as complete
    # has always applied its deletes.
    full_pass = mode == "full"
    if resource.parent is not None:
        await _run_per_parent(ctx, resource, tally, progress, full=full_pass, prior=state)
    else:
        await _pipeline(ctx, resource, tally, progress, cursor=cursor, token=token, prior=state, full=full_pass)
    result = PassResult(
        resource.name,
        mode,
        rows=tally.rows,
        pages=tally.pages,
        written=tally.written,
        stale=tally.stale,
        deleted=tally.deleted,
        rejected=tally.rejected,
        restarted=restarted,
        seconds=time.monotonic() - started,
    )
    metrics.PASSES.labels(resource.name, mode, "ok").inc()
    log.info(
        "sync_pass_completed",
        resource=resource.name,
        mode=mode,
        rows=result.rows,
        pages=result.pages,
        written=result.written,
        stale=result.stale,
        deleted=result.deleted,
        rejected=result.rejected,
        seconds=round(result.seconds, 3),
    )
    return result


WRITE_DEPTH = 2
"""Writes of one resource at once (each of up to `MERGE_PAGES` pages), each in its own transaction; commits stay
in page order.

Two, not more: with resources passing side by side, a third page at once made Postgres spend 8-10 % more CPU
on the same rows (writers contending for the same index and relation-extension locks), and one left CPUs idle.
"""


MERGE_PAGES = 4
"""Pages the fetcher has queued that one write takes together: one statement, one transaction, one checkpoint.

The typed upsert costs Postgres 2-4 ms a statement whatever its rows; when the writer is behind (a fast vendor),
the pages waiting share it. A page whose objects had to be decoded here is written on its own.
"""


@dataclass(slots=True)
class _PageWrite:
    task: "asyncio.Task[None]"
    ids: frozenset[str]


async def _pipeline(
    ctx: SyncContext,
    resource: Resource,
    tally: _Tally,
    progress: Progress | None,
    *,
    cursor: str | None,
    token: str | None,
    prior: sync_state.SyncState,
    full: bool,
) -> None:
    """Fetch pages in one task and write them from this one: up to `WRITE_DEPTH` writes at once, each of the page
    in line and those queued behind it (`MERGE_PAGES`).

    A write's transaction writes its rows and checkpoint, then commits only once the write before it has
    committed (and rolls back if that one failed), so the checkpoint never gets ahead of the rows. A write that
    shares a record with one still in progress waits for it before writing, so two transactions never wait on
    each other's rows.
    """
    queue: asyncio.Queue[BodyPage | BaseException] = asyncio.Queue(maxsize=MERGE_PAGES)
    fetching = asyncio.create_task(_fetch(ctx, resource, queue, cursor=cursor, token=token))
    tally.rows, tally.pages = prior.pass_rows, prior.pass_pages
    assert prior.pass_started_at is not None
    assert prior.pass_claim is not None
    last_token: str | None = None
    writes: list[_PageWrite] = []
    held: BodyPage | BaseException | None = None  # taken from the queue but not merged: next in line
    try:
        while True:
            # Oldest first (commits are in page order): a failure raises here as the pass's error.
            while writes and (writes[0].task.done() or len(writes) >= WRITE_DEPTH):
                await writes.pop(0).task
            item = held if held is not None else await queue.get()
            held = None
            if isinstance(item, BaseException):
                raise item
            batch, held = _take_queued(item, queue)
            for page in batch:
                last_token = page.sync_token or last_token
            last = not batch[-1].more_data_available
            if last and resource.mode is SyncMode.INCREMENTAL and last_token is None:
                raise SyncProtocolError("the pass ended without a syncToken", endpoint=resource.endpoint)
            ids = frozenset(i for page in batch for i in page.ids if isinstance(i, str))
            while writes and any(not w.ids.isdisjoint(ids) for w in writes):
                await writes.pop(0).task
            after = writes[-1].task if writes else None
            write = _write_page(
                ctx,
                resource,
                batch,
                tally,
                progress,
                last=last,
                sync_token=last_token,
                after=after,
                full=full,
                started_at=prior.pass_started_at,
                claim=prior.pass_claim,
            )
            writes.append(_PageWrite(asyncio.create_task(write), ids))
            if last:
                while writes:
                    await writes.pop(0).task
                return
    finally:  # on success nothing is left; on a failure, pages after it must not commit
        fetching.cancel()
        for w in writes:
            w.task.cancel()
        await asyncio.gather(fetching, *(w.task for w in writes), return_exceptions=True)


def _take_queued(
    first: BodyPage, queue: "asyncio.Queue[BodyPage | BaseException]"
) -> tuple[list[BodyPage], BodyPage | BaseException | None]:
    """`first` and the pages queued behind it that one write can take with it (`MERGE_PAGES` at most, read by
    Postgres, up to the last page); and what was taken from the queue but must go on its own next."""
    batch = [first]
    while batch[-1].objects is None and batch[-1].more_data_available and len(batch) < MERGE_PAGES:
        if queue.empty():
            break
        following = queue.get_nowait()
        if isinstance(following, BaseException) or following.objects is not None:
            return batch, following
        batch.append(following)
    return batch, None


class _EarlierPageFailed(Exception):
    """The page before this one was not committed: this one must not be either (its pass raises that failure)."""


async def _fetch(
    ctx: SyncContext,
    resource: Resource,
    queue: "asyncio.Queue[BodyPage | BaseException]",
    *,
    cursor: str | None,
    token: str | None,
) -> None:
    try:
        while True:
            fetch = partial(ctx.client.list_body_page, resource, cursor=cursor, sync_token=token)
            page = await ctx.retry(fetch)
            if page.more_data_available and (page.next_cursor is None or page.next_cursor == cursor):
                # checked before the page is queued: the writer must never checkpoint a page without its next cursor
                raise SyncProtocolError("moreDataAvailable without a new nextCursor", endpoint=resource.endpoint)
            await queue.put(page)
            if not page.more_data_available:
                return
            cursor = page.next_cursor
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - handed to the writer, which raises it in the pass's own task
        await queue.put(exc)


async def _write_page(
    ctx: SyncContext,
    resource: Resource,
    pages: list[BodyPage],
    tally: _Tally,
    progress: Progress | None,
    *,
    last: bool,
    sync_token: str | None,
    after: "asyncio.Task[None] | None" = None,
    full: bool = False,
    started_at: datetime,
    claim: uuid.UUID,
) -> None:
    """Write consecutive `pages` and their checkpoint in one transaction, committed after `after` (the write before).

    `started_at` is when the pass began: the last page of a `full` pass marks deleted the rows not seen since then.
    `claim` is this run's claim on the pass: its checkpoint commits only while no other run has claimed it since (a
    lost lock).
    """
    started = time.monotonic()
    async with ctx.pool.acquire() as conn:
        write = partial(
            _write_page_once,
            ctx,
            resource,
            pages,
            conn,
            last=last,
            sync_token=sync_token,
            after=after,
            full=full,
            started_at=started_at,
            claim=claim,
        )
        try:
            result, deleted = await write()
        except _GaveWay:  # rolled back: write it again once the page before it has committed (no wait then)
            assert after is not None
            await asyncio.wait([after])
            if after.cancelled() or after.exception() is not None:
                raise _EarlierPageFailed from None
            metrics.PAGE_WRITES_REDONE.labels(resource.name).inc()
            result, deleted = await write()
    metrics.PAGE_WRITE_SECONDS.labels(resource.name).observe(time.monotonic() - started)
    metrics.PAGES_PER_WRITE.labels(resource.name).observe(len(pages))
    metrics.ROWS.labels(resource.name).inc(result.written)
    tally.deleted += deleted
    _count(resource, tally, sum(len(p.ids) for p in pages), result, pages=len(pages))
    if progress is not None:
        progress(resource.name, tally.rows, tally.pages)


EMBEDDING_RESOURCES = frozenset({"candidates", "applications"})
"""Resources whose passes end by refreshing the candidate that applications embed (`store.merges`)."""

PREDECESSOR_WAIT_S = 2.0
"""How long a written page holds its row locks waiting for the page before it to commit; then it rolls back.

Another transaction (a webhook batch) may be waiting for one of this page's rows while holding one that the page
before needs. Postgres sees no deadlock, because this page waits here, not on a lock; giving way breaks the cycle.
"""


class _GaveWay(Exception):
    """The page before took longer than `PREDECESSOR_WAIT_S` to commit: this page's write was rolled back."""


async def _write_page_once(
    ctx: SyncContext,
    resource: Resource,
    pages: list[BodyPage],
    conn: Conn,
    *,
    last: bool,
    sync_token: str | None,
    after: "asyncio.Task[None] | None",
    full: bool,
    started_at: datetime,
    claim: uuid.UUID,
) -> tuple[mirror.UpsertResult, int]:
    """One try at `_write_page`'s transaction: the upsert's outcome and the rows marked deleted."""
    deleted = 0
    rows = sum(len(p.ids) for p in pages)
    async with conn.transaction():
        await commit_without_waiting_for_disk(conn)  # a lost page is refetched from the checkpoint before it
        # Postgres reads the bodies itself; objects were decoded only where it would read them otherwise (and such a
        # page comes alone: `_take_queued`).
        first = pages[0]
        if first.objects is None:
            bodies, read = [p.body for p in pages], [p.requested_at for p in pages]
            result = await mirror.upsert_bodies(conn, resource.name, ctx.account_id, bodies, fetched_at=read)
        else:
            result = await mirror.upsert_page(
                conn, resource.name, ctx.account_id, first.objects, page_body=first.body, fetched_at=first.requested_at
            )
        # Rows that replaced a held version, and inserted ones Ashby changed since the account was added (a candidate
        # first mirrored after its applications were, and changed since they were fetched). An inserted row Ashby
        # has not changed since has no older copies: a first full pass pays nearly nothing for this.
        changed = result.replaced + result.recent_inserts
        await merges.refresh_embedded(conn, resource.name, ctx.account_id, changed)
        if after is not None:
            done, _ = await asyncio.wait([after], timeout=PREDECESSOR_WAIT_S)
            if not done:
                raise _GaveWay
            if after.cancelled() or after.exception() is not None:
                raise _EarlierPageFailed
        if last:
            if full:  # every earlier page has committed: what is still unseen is gone
                deleted = await mirror.soft_delete_unseen(conn, resource.name, ctx.account_id, started_at)
            if resource.name in EMBEDDING_RESOURCES:  # what the pages' own refreshes could not see
                since = started_at - timedelta(seconds=mirror.CLOCK_MARGIN_S)
                await merges.refresh_embedded_of_candidates_changed_since(conn, ctx.account_id, since)
            await sync_state.complete_pass(
                conn,
                ctx.account_id,
                resource.name,
                sync_token=sync_token,
                rows=rows,
                claim=claim,
                pages=len(pages),
            )
        else:
            cursor = pages[-1].next_cursor
            assert cursor is not None
            await sync_state.checkpoint(
                conn, ctx.account_id, resource.name, cursor=cursor, rows=rows, claim=claim, pages=len(pages)
            )
    return result, deleted


def _count(resource: Resource, tally: _Tally, n: int, result: mirror.UpsertResult, *, pages: int = 1) -> None:
    tally.rows += n
    tally.pages += pages
    tally.written += result.written
    tally.stale += result.stale
    if result.rejected:
        tally.rejected += len(result.rejected)
        metrics.REJECTED_FIELDS.labels(resource.name).inc(len(result.rejected))
        for r in result.rejected[:10]:  # ids and field names only: never values, which may be PII
            log.warning("sync_field_rejected", resource=resource.name, record_id=r.id, field=r.field)


async def _run_per_parent(
    ctx: SyncContext,
    resource: Resource,
    tally: _Tally,
    progress: Progress | None,
    *,
    full: bool,
    prior: sync_state.SyncState,
) -> None:
    """A snapshot listed per parent (interview stages per plan): one call per live parent row."""
    assert resource.parent is not None
    assert resource.parent_param is not None
    assert prior.pass_started_at is not None
    assert prior.pass_claim is not None
    async with ctx.pool.acquire() as conn:
        parents = await mirror.list_ids(conn, resource.parent, ctx.account_id)
    for parent_id in parents:
        fetch = partial(ctx.client.list_page, resource, params={resource.parent_param: parent_id})
        read = datetime.now(UTC)  # before the first try: never later than the read the page holds
        page = await ctx.retry(fetch)
        async with ctx.pool.acquire() as conn, conn.transaction():
            result = await mirror.upsert_page(
                conn, resource.name, ctx.account_id, page.raw, page_body=page.body, fetched_at=read
            )
        _count(resource, tally, len(page.raw), result)
        if progress is not None:
            progress(resource.name, tally.rows, tally.pages)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if full:
            tally.deleted += await mirror.soft_delete_unseen(conn, resource.name, ctx.account_id, prior.pass_started_at)
        await sync_state.complete_pass(
            conn,
            ctx.account_id,
            resource.name,
            sync_token=None,
            rows=tally.rows,
            claim=prior.pass_claim,
            pages=tally.pages,
        )
