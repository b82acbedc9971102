"""The arq worker: its jobs, crons, lifecycle hooks and retry policy."""

from arq import Worker, cron
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import func

from ashby_api.client import new_session
from core.config import Settings
from core.queue import QUEUE_NAME, JobName
from store.pool import create_pool as create_pg_pool
from store.secrets import SecretBox
from worker.deps import Ctx, Deps, deps
from worker.jobs import (
    MAX_TRIES,
    apply_webhook,
    drain_webhooks,
    full_resync,
    schedule_syncs,
    sweep,
    sweep_inbox,
    sync_pass,
)

JOBS = {
    JobName.SYNC_PASS: sync_pass,
    JobName.FULL_RESYNC: full_resync,
    JobName.APPLY_WEBHOOK: apply_webhook,
    JobName.DRAIN_WEBHOOKS: drain_webhooks,
}
__all__ = ["JOBS", "MAX_TRIES", "build_worker", "open_queue", "redis_settings"]
JOB_TIMEOUT_S = 6 * 3600  # a full pass of a large org is long; it checkpoints every page, so a timeout loses little


def redis_settings(url: str) -> RedisSettings:
    """arq's Redis settings for `url`, failing fast when Redis does not answer."""
    rs = RedisSettings.from_dsn(url)
    rs.conn_retries = 2
    rs.conn_retry_delay = 1
    return rs


def build_worker(
    settings: Settings, *, burst: bool = False, crons: bool = True, redis_pool: ArqRedis | None = None
) -> Worker:
    """The worker for `settings`; `burst` runs what is queued and returns; `crons=False` leaves out the crons."""

    async def on_startup(ctx: Ctx) -> None:
        # What can fail without holding anything comes first; what is opened is closed if a later step fails.
        box = SecretBox(settings.secret_key())
        queue = ctx["redis"]
        pool = await create_pg_pool(settings.database_url, max_size=settings.worker_max_jobs + 8)
        try:
            session = new_session()
        except BaseException:
            await pool.close()
            raise
        ctx["deps"] = Deps(settings=settings, pool=pool, session=session, box=box, queue=queue)

    async def on_shutdown(ctx: Ctx) -> None:
        if "deps" in ctx:
            d = deps(ctx)
            await d.aclose()
            await d.session.close()
            await d.pool.close()

    minutes = set(range(0, 60, settings.sync_interval_minutes))
    return Worker(
        functions=[func(fn, name=name.value, max_tries=MAX_TRIES) for name, fn in JOBS.items()],  # type: ignore[arg-type]  # arq's WorkerCoroutine is narrower than our ParamSpec'd jobs
        cron_jobs=[
            cron(schedule_syncs, minute=minutes, run_at_startup=False),
            cron(sweep, second={0}, run_at_startup=True),
            cron(sweep_inbox, second={30}, run_at_startup=True),
        ]
        if crons
        else None,
        queue_name=QUEUE_NAME,
        redis_settings=None if redis_pool is not None else redis_settings(settings.redis_url),
        redis_pool=redis_pool,
        burst=burst,
        poll_delay=settings.worker_poll_delay_ms / 1000,  # webhook freshness waits on it
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.worker_max_jobs,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,  # job ids must free up as soon as a job ends, or dedupe blocks the next pass
        max_tries=MAX_TRIES,
        health_check_interval=30,
        handle_signals=not burst,
    )


async def open_queue(settings: Settings) -> ArqRedis:
    """A Redis pool for enqueueing jobs."""
    return await create_pool(redis_settings(settings.redis_url), default_queue_name=QUEUE_NAME)
