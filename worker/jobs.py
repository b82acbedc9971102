"""arq jobs: thin wrappers that unpack arguments, call `sync`, and map retryable errors to arq retries; and the
crons that decide which passes are due (backing off after failures, a periodic full pass)."""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Self

import asyncpg
import redis.exceptions
import structlog
from arq import Retry
from structlog.contextvars import bound_contextvars

from ashby_api.resources import BY_NAME, RESOURCES, SyncMode
from ashby_api.retry import backoff_delay
from core.config import Settings
from core.errors import AppError
from core.queue import JobName, JobQueue, clear_drain_flag, drain_job_id, enqueue, sync_job_id, webhook_job_id
from store import accounts, inbox, sync_state
from store.errors import AccountNotFoundError, DatabaseUnavailableError
from store.inbox import InboxKey
from store.pool import Pool
from store.sync_state import SyncState
from sync.passes import sync_resource
from sync.webhook_apply import apply_event, drain_pending
from worker.deps import Ctx, Deps, deps, job

log = structlog.get_logger(__name__)

RETRY_BASE_S = 5.0
RETRY_CAP_S = 300.0
MAX_TRIES = 8  # per job; the last try of apply_webhook leaves its event `failed` for `ashby-sync status`
STRANDED_AFTER_S = 30.0  # a pending inbox row this old lost its job (Redis down or flushed): the sweeper re-enqueues
# Postgres itself unreachable: nothing can be recorded, so the job is retried and, failing that, the sweeper
# finds the row still pending once Postgres is back.
POSTGRES_DOWN = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, DatabaseUnavailableError)
REDIS_DOWN = (redis.exceptions.RedisError, OSError, TimeoutError)
# A pass that hit these may well succeed when tried again: Postgres was unreachable, shut down or cancelled the
# session, or rolled the transaction back (deadlock, serialization failure). Its checkpoint is kept either way.
PASS_POSTGRES_TRANSIENT = (*POSTGRES_DOWN, asyncpg.TransactionRollbackError, asyncpg.OperatorInterventionError)


def _retry_later(exc: BaseException, job_try: int) -> Retry:
    defer = backoff_delay(job_try, base=RETRY_BASE_S, cap=RETRY_CAP_S, retry_after=getattr(exc, "retry_after", None))
    log.warning("job_retry_scheduled", error=type(exc).__name__, defer_s=round(defer, 1))
    return Retry(defer=defer)


@dataclass(frozen=True, slots=True)
class PassPolicy:
    """When the crons start a pass of a resource: from SYNC_INTERVAL_MINUTES, SYNC_RETRY_FAILED_MINUTES and
    SYNC_FULL_INTERVAL_HOURS."""

    overdue: timedelta  # no pass succeeded for this long: the cron's were lost, the sweeper queues one
    retry_failed: timedelta  # a resource whose last pass failed gets no new pass for this long
    full_every: timedelta | None  # a full pass (it finds the deletes webhooks missed) this often; None: never

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        hours = settings.sync_full_interval_hours
        return cls(
            overdue=timedelta(minutes=2 * settings.sync_interval_minutes),
            retry_failed=timedelta(minutes=settings.sync_retry_failed_minutes),
            full_every=timedelta(hours=hours) if hours else None,
        )


def backing_off(state: SyncState, *, now: datetime, policy: PassPolicy) -> bool:
    """True while a resource whose last pass failed waits before the next (a success clears `last_error_at`)."""
    if state.last_error_at is None:
        return False
    failed_last = state.last_success_at is None or state.last_error_at > state.last_success_at
    return failed_last and now - state.last_error_at < policy.retry_failed


def full_pass_boundary(account_id: uuid.UUID, resource: str, *, now: datetime, every: timedelta) -> datetime:
    """The latest time, at or before `now`, at which the resource's periodic full pass fell due.

    They fall due every `every`, at an offset of their own (from the account and resource), so that the accounts'
    full passes do not all start at once.
    """
    period = max(int(every.total_seconds()), 1)
    digest = hashlib.blake2b(f"{account_id}:{resource}".encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") % period
    return now - timedelta(seconds=(now.timestamp() - offset) % period)


def periodic_full_due(state: SyncState, *, now: datetime, every: timedelta | None) -> bool:
    """True when the resource's next pass is to be its periodic full one: no pass began since that fell due.

    `pass_started_at` holds when the latest pass began (completing a pass keeps it), so the first pass to begin
    after each due time is the full one, whichever job runs it. Snapshot resources, and one that never completed
    a pass, are read in full anyway; a full pass already under way or asked for needs no other.
    """
    resource = BY_NAME.get(state.resource)
    if every is None or resource is None or resource.mode is not SyncMode.INCREMENTAL:
        return False
    if state.last_success_at is None or state.pass_mode == "full" or state.full_requested:
        return False
    due_at = full_pass_boundary(state.account_id, state.resource, now=now, every=every)
    return state.pass_started_at is None or state.pass_started_at < due_at


def next_pass(state: SyncState, *, now: datetime, policy: PassPolicy) -> JobName | None:
    """The pass job the sweeper queues for this resource now, if any."""
    if backing_off(state, now=now, policy=policy):
        return None
    if state.full_requested or periodic_full_due(state, now=now, every=policy.full_every):
        return JobName.FULL_RESYNC
    if state.in_progress or state.last_success_at is None or now - state.last_success_at > policy.overdue:
        return JobName.SYNC_PASS  # in progress or abandoned by a dead worker, never completed, or overdue
    return None


async def _all_states(pool: Pool) -> list[SyncState]:
    """The state of every resource of every account (an empty one where it never synced)."""
    async with pool.acquire() as conn:
        ids = [a.id for a in await accounts.list_accounts(conn)]
        stored = {(s.account_id, s.resource): s for s in await sync_state.list_states(conn)}
    return [stored.get((a, r.name)) or SyncState(account_id=a, resource=r.name) for a in ids for r in RESOURCES]


async def _readable(d: Deps, states: list[SyncState]) -> list[SyncState]:
    """The states of resources the account's key may read (its scopes, cached with its client; all when unknown)."""
    scopes: dict[uuid.UUID, frozenset[str] | None] = {}
    for account_id in {s.account_id for s in states}:
        try:
            scopes[account_id] = (await d.sync_context(account_id)).scopes
        except AppError:  # the account's pass jobs meet and record the same error
            scopes[account_id] = None
    return [s for s in states if BY_NAME[s.resource].readable_with(scopes[s.account_id])]


def _retry_or_give_up(exc: BaseException, job_try: int, *, retryable: bool) -> str:
    """Schedule an arq retry of a retryable error with tries left; otherwise one warning line and a short outcome."""
    if retryable and job_try < MAX_TRIES:
        raise _retry_later(exc, job_try) from exc
    # Our own errors' messages are one line and free of secrets and bodies; others are named, not quoted.
    detail = str(exc) if isinstance(exc, AppError) else None
    log.warning("sync_job_failed", error=type(exc).__name__, detail=detail, retryable=retryable, final=True)
    return f"failed: {type(exc).__name__}"


async def _pass(ctx: Ctx, account_id: str, resource: str, *, full: bool) -> str:
    d = deps(ctx)
    if resource not in BY_NAME:
        log.error("job_rejected", reason="unknown_resource", resource=resource)
        return "unknown resource"
    uid = uuid.UUID(account_id)
    job_try: int = ctx["job_try"]
    with bound_contextvars(account_id=account_id, resource=resource):
        try:
            sync_ctx = await d.sync_context(uid)
        except AccountNotFoundError:  # removed since the pass was queued: its sync state went with it
            log.info("sync_job_skipped", reason="unknown_account")
            return "unknown account"
        except PASS_POSTGRES_TRANSIENT as exc:
            return _retry_or_give_up(exc, job_try, retryable=True)
        except AppError as exc:
            if not exc.retryable:  # e.g. a key that cannot decrypt the account's: no pass began to record it
                async with d.pool.acquire() as conn:
                    await sync_state.record_error(conn, uid, resource, f"{type(exc).__name__}: {exc}")
            return _retry_or_give_up(exc, job_try, retryable=exc.retryable)
        try:
            if not full:
                full = await _periodic_full_due(d.pool, uid, resource, PassPolicy.from_settings(d.settings))
            # the pass records its own failure in sync_state (its checkpoint stays), which the crons back off on
            result = await sync_resource(sync_ctx, BY_NAME[resource], full=full)
        except PASS_POSTGRES_TRANSIENT as exc:
            return _retry_or_give_up(exc, job_try, retryable=True)
        except AppError as exc:
            return _retry_or_give_up(exc, job_try, retryable=exc.retryable)
    if result.skipped:
        return f"skipped: {result.skipped}"
    return f"{result.mode}: {result.rows} rows, {result.pages} pages"


async def _periodic_full_due(pool: Pool, account_id: uuid.UUID, resource: str, policy: PassPolicy) -> bool:
    # Checked here too, not only by the sweeper: an incremental pass that began first would hide it until next time.
    if policy.full_every is None:
        return False
    async with pool.acquire() as conn:
        state = await sync_state.get_state(conn, account_id, resource)
    return periodic_full_due(state, now=datetime.now(UTC), every=policy.full_every)


@job
async def sync_pass(ctx: Ctx, account_id: str, resource: str) -> str:
    """An incremental pass (or the resumption of an interrupted one, or the periodic full one) of one resource."""
    return await _pass(ctx, account_id, resource, full=False)


@job
async def full_resync(ctx: Ctx, account_id: str, resource: str) -> str:
    """A full pass of one resource: re-reads everything and soft-deletes what Ashby no longer has.

    A full pass already under way (this job's earlier try, or one a dead worker left) resumes from its checkpoint
    instead of starting over: it is just as full, and a large org would otherwise never finish under throttling.
    """
    async with deps(ctx).pool.acquire() as conn:
        state = await sync_state.get_state(conn, uuid.UUID(account_id), resource)
        resuming = state.in_progress and state.pass_mode == "full" and state.cursor is not None
        if not resuming:
            await sync_state.request_full(conn, uuid.UUID(account_id), resource)  # durable even if Redis forgets
    return await _pass(ctx, account_id, resource, full=not resuming)


async def schedule_syncs(ctx: Ctx) -> int:
    """Cron: enqueue an incremental pass of every resource of every account (but those backing off after a failed
    pass); returns how many were new."""
    d = deps(ctx)
    policy = PassPolicy.from_settings(d.settings)
    now = datetime.now(UTC)
    states = await _readable(d, await _all_states(d.pool))
    queued = waiting = 0
    for state in states:
        if backing_off(state, now=now, policy=policy):
            waiting += 1
            continue
        job_id = sync_job_id(state.account_id, state.resource)
        queued += await enqueue(d.queue, JobName.SYNC_PASS, str(state.account_id), state.resource, job_id=job_id)
    log.info("syncs_scheduled", accounts=len({s.account_id for s in states}), queued=queued, backing_off=waiting)
    return queued


async def sweep(ctx: Ctx) -> int:
    """Cron: rebuild the queue from Postgres: enqueue every pass that is due or was abandoned, and the periodic
    full passes; a resource whose last pass failed waits SYNC_RETRY_FAILED_MINUTES first."""
    d = deps(ctx)
    policy = PassPolicy.from_settings(d.settings)
    now = datetime.now(UTC)
    states = await _readable(d, await _all_states(d.pool))
    due = [(s, name) for s in states if (name := next_pass(s, now=now, policy=policy))]
    newly_full = [s for s, name in due if name is JobName.FULL_RESYNC and not s.full_requested]
    if newly_full:
        async with d.pool.acquire() as conn:
            for s in newly_full:  # durable, so the full pass happens even if Redis forgets its job
                await sync_state.request_full(conn, s.account_id, s.resource)
    queued = 0
    for s, name in due:
        job_id = sync_job_id(s.account_id, s.resource, full=name is JobName.FULL_RESYNC)
        queued += await enqueue(d.queue, name, str(s.account_id), s.resource, job_id=job_id)
    if queued or newly_full:
        log.info("sweep_enqueued", due=len(due), queued=queued, full_requested=len(newly_full))
    return queued


@job
async def apply_webhook(ctx: Ctx, account_id: str, webhook_action_id: str, action: str) -> str:
    """Apply one stored webhook event; retried with backoff, and after the last try left `failed` with its error."""
    with bound_contextvars(account_id=account_id, webhook_action=action, webhook_action_id=webhook_action_id):
        return await _apply_webhook(ctx, InboxKey(uuid.UUID(account_id), webhook_action_id, action))


async def _apply_webhook(ctx: Ctx, key: InboxKey) -> str:
    d = deps(ctx)
    job_try: int = ctx["job_try"]
    try:
        sync_ctx = await d.sync_context(key.account_id)
        outcome = await apply_event(sync_ctx, key)
    except POSTGRES_DOWN as exc:
        if job_try >= MAX_TRIES:
            log.error("webhook_apply_abandoned", reason="postgres_unreachable", error=type(exc).__name__)
            raise  # still pending in Postgres: the inbox sweeper enqueues it again
        raise _retry_later(exc, job_try) from exc
    except (AppError, asyncpg.PostgresError) as exc:
        retryable = isinstance(exc, asyncpg.PostgresError) or exc.retryable  # e.g. deadlock, serialization
        final = not retryable or job_try >= MAX_TRIES
        await _record_failure(d.pool, key, exc, final=final)
        if not final:
            raise _retry_later(exc, job_try) from exc
    except Exception as exc:  # a bug: recorded on the event (visible in `status`) rather than retried forever
        log.exception("webhook_apply_crashed")
        await _record_failure(d.pool, key, exc, final=True)
    else:
        return outcome
    return "failed"


@job
async def drain_webhooks(ctx: Ctx, account_id: str) -> str:
    """Apply the account's pending webhook events in batches (the receiver queues one per account, not per event).

    It clears the account's drain flag once it holds the drain lock (so an event stored from then on queues the
    next drain), applies what is pending, and hands each event it could not apply to an `apply_webhook` job of
    its own, which retries it with backoff and records the failure.
    """
    with bound_contextvars(account_id=account_id):
        d = deps(ctx)
        uid = uuid.UUID(account_id)

        async def clear_flag() -> None:
            try:
                await clear_drain_flag(d.queue, uid)
            except REDIS_DOWN as exc:  # the flag expires by itself; until then the sweeper covers new events
                log.warning("webhook_drain_flag_not_cleared", error=type(exc).__name__)

        try:
            sync_ctx = await d.sync_context(uid)
            drained = await drain_pending(sync_ctx, on_locked=clear_flag)
        except AccountNotFoundError:  # removed since its drain was queued: its inbox went with it
            log.info("webhook_drain_skipped", reason="unknown_account")
            return "unknown account"
        except POSTGRES_DOWN as exc:
            raise _retry_later(exc, ctx["job_try"]) from exc  # the events stay pending: nothing is lost
        if drained is None:  # another drain held the account for the whole wait: this one comes back
            raise _retry_later(TimeoutError("the account's inbox drain lock stayed held"), ctx["job_try"])
        for key in drained.deferred:
            await _enqueue_apply(d.queue, key)
        if drained.more:  # stopped at its limit, events still pending: a fresh drain picks up from here
            await enqueue(d.queue, JobName.DRAIN_WEBHOOKS, account_id, job_id=drain_job_id(uid, uuid.uuid4().hex))
        if drained.applied or drained.deferred:
            log.info("webhook_drained", events=drained.applied, deferred=len(drained.deferred), more=drained.more)
        return f"{drained.applied} applied, {len(drained.deferred)} deferred"


async def _enqueue_apply(queue: JobQueue, key: InboxKey) -> bool:
    job_id = webhook_job_id(key.account_id, key.webhook_action_id, key.action)
    return await enqueue(
        queue, JobName.APPLY_WEBHOOK, str(key.account_id), key.webhook_action_id, key.action, job_id=job_id
    )


async def _record_failure(pool: Pool, key: InboxKey, exc: BaseException, *, final: bool) -> None:
    error = f"{type(exc).__name__}: {exc}"
    async with pool.acquire() as conn:
        await inbox.mark_failed(conn, key, error, final=final)
    # Only our own errors' messages are known to be free of payload values (PII); others are named, not quoted.
    detail = str(exc) if isinstance(exc, AppError) else None
    if final:
        log.error("webhook_apply_failed", error=type(exc).__name__, detail=detail, final=True)
    else:
        log.warning("webhook_apply_failed", error=type(exc).__name__, detail=detail, final=False)


async def sweep_inbox(ctx: Ctx) -> int:
    """Cron: re-enqueue what inbox events still pending after STRANDED_AFTER_S wait for; returns the jobs queued.

    A drain per account with events never tried (however many: after Redis lost its queue the drain applies the
    backlog in batches), and its own job for each event tried before (its retry was lost).
    """
    d = deps(ctx)
    async with d.pool.acquire() as conn:
        accounts_due = await inbox.stranded_accounts(conn, older_than_s=STRANDED_AFTER_S)
        retries_due = await inbox.list_stranded(conn, older_than_s=STRANDED_AFTER_S)
    queued = 0
    for account_id in accounts_due:  # one sweep drain per account at a time: its id dedupes
        job_id = drain_job_id(account_id, "sweep")
        queued += await enqueue(d.queue, JobName.DRAIN_WEBHOOKS, str(account_id), job_id=job_id)
    for key in retries_due:
        queued += await _enqueue_apply(d.queue, key)
    if accounts_due or retries_due:
        log.info("inbox_swept", accounts=len(accounts_due), retries=len(retries_due), queued=queued)
    return queued
