"""arq jobs: thin wrappers that unpack arguments, call `sync`, and map retryable errors to arq retries."""

import uuid

import asyncpg
import redis.exceptions
import structlog
from arq import Retry
from structlog.contextvars import bound_contextvars

from ashby_api.resources import BY_NAME, RESOURCES
from ashby_api.retry import backoff_delay
from core.errors import AppError
from core.queue import JobName, JobQueue, clear_drain_flag, drain_job_id, enqueue, sync_job_id, webhook_job_id
from store import accounts, inbox, sync_state
from store.errors import AccountNotFoundError, DatabaseUnavailableError
from store.inbox import InboxKey
from store.pool import Pool
from sync.passes import sync_resource
from sync.webhook_apply import apply_event, drain_pending
from worker.deps import Ctx, deps, job

log = structlog.get_logger(__name__)

RETRY_BASE_S = 5.0
RETRY_CAP_S = 300.0
MAX_TRIES = 8  # per job; the last try of apply_webhook leaves its event `failed` for `ashby-sync status`
STRANDED_AFTER_S = 30.0  # a pending inbox row this old lost its job (Redis down or flushed): the sweeper re-enqueues
# Postgres itself unreachable: nothing can be recorded, so the job is retried and, failing that, the sweeper
# finds the row still pending once Postgres is back.
POSTGRES_DOWN = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, DatabaseUnavailableError)
REDIS_DOWN = (redis.exceptions.RedisError, OSError, TimeoutError)


def _retry_later(exc: BaseException, job_try: int) -> Retry:
    defer = backoff_delay(job_try, base=RETRY_BASE_S, cap=RETRY_CAP_S, retry_after=getattr(exc, "retry_after", None))
    log.warning("job_retry_scheduled", error=type(exc).__name__, defer_s=round(defer, 1))
    return Retry(defer=defer)


async def _pass(ctx: Ctx, account_id: str, resource: str, *, full: bool) -> str:
    d = deps(ctx)
    if resource not in BY_NAME:
        log.error("job_rejected", reason="unknown_resource", resource=resource)
        return "unknown resource"
    try:
        sync_ctx = await d.sync_context(uuid.UUID(account_id))
        result = await sync_resource(sync_ctx, BY_NAME[resource], full=full)
    except AppError as exc:
        if exc.retryable:
            raise _retry_later(exc, ctx["job_try"]) from exc
        raise
    return f"{result.mode}: {result.rows} rows, {result.pages} pages"


@job
async def sync_pass(ctx: Ctx, account_id: str, resource: str) -> str:
    """An incremental pass (or the resumption of an interrupted one) of one resource."""
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
    """Cron: enqueue an incremental pass of every resource of every account; returns how many were new."""
    d = deps(ctx)
    async with d.pool.acquire() as conn:
        ids = [a.id for a in await accounts.list_accounts(conn)]
    queued = 0
    for account_id in ids:
        for r in RESOURCES:
            queued += await enqueue(
                d.queue, JobName.SYNC_PASS, str(account_id), r.name, job_id=sync_job_id(account_id, r.name)
            )
    log.info("syncs_scheduled", accounts=len(ids), queued=queued)
    return queued


_DUE_SQL = """
select a.id as account_id, r.resource, coalesce(s.full_requested, false) as full_requested
from accounts a
cross join unnest($1::text[]) as r(resource)
left join sync_state s on s.account_id = a.id and s.resource = r.resource
where s.account_id is null                                         -- never synced
   or s.full_requested                                             -- a full pass was asked for
   or s.pass_mode is not null                                      -- in progress, or abandoned by a dead worker
   or s.last_success_at is null
   or s.last_success_at < now() - make_interval(mins => $2)        -- overdue
"""


async def sweep(ctx: Ctx) -> int:
    """Cron: rebuild the queue from Postgres: enqueue every pass that is due or was abandoned."""
    d = deps(ctx)
    async with d.pool.acquire() as conn:
        rows = await conn.fetch(_DUE_SQL, [r.name for r in RESOURCES], d.settings.sync_interval_minutes * 2)
    queued = 0
    for row in rows:
        name = JobName.FULL_RESYNC if row["full_requested"] else JobName.SYNC_PASS
        job_id = sync_job_id(row["account_id"], row["resource"], full=row["full_requested"])
        queued += await enqueue(d.queue, name, str(row["account_id"]), row["resource"], job_id=job_id)
    if queued:
        log.info("sweep_enqueued", due=len(rows), queued=queued)
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
