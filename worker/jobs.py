"""arq jobs: thin wrappers that unpack arguments, call `sync`, and map retryable errors to arq retries."""

import uuid

import structlog
from arq import Retry

from ashby_api.resources import BY_NAME, RESOURCES
from ashby_api.retry import backoff_delay
from core.errors import AppError
from core.queue import JobName, enqueue, sync_job_id
from store import accounts, sync_state
from sync.passes import sync_resource
from worker.deps import Ctx, deps, job

log = structlog.get_logger(__name__)

RETRY_BASE_S = 5.0
RETRY_CAP_S = 300.0


def _retry_later(exc: AppError, job_try: int) -> Retry:
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
    """A full pass of one resource: re-reads everything and soft-deletes what Ashby no longer has."""
    async with deps(ctx).pool.acquire() as conn:
        await sync_state.request_full(conn, uuid.UUID(account_id), resource)  # durable even if Redis forgets
    return await _pass(ctx, account_id, resource, full=True)


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
