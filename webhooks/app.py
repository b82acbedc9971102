"""The receiver app: routes, and the process-wide Postgres pool, Redis pool and inbox writer (cleanup_ctx)."""

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import structlog
from aiohttp import web
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from core.config import Settings
from core.queue import QUEUE_NAME
from store.pool import Pool, create_pool
from store.secrets import SecretBox
from webhooks.dispatch import JobDispatcher
from webhooks.handlers import RECEIVER, Receiver, healthz, metrics, readyz, receive_webhook
from webhooks.inbox_writer import InboxWriter
from webhooks.metrics import ReceiverMetrics
from webhooks.middleware import request_context
from webhooks.secret_cache import SecretCache

log = structlog.get_logger(__name__)

DB_POOL_SIZE = 10  # the writer keeps MAX_FLUSHES connections; the rest serve account lookups, probes, metrics
MAX_FLUSHES = 2  # inbox INSERTs in flight at once (each batch's Redis call overlaps the next INSERT)
REDIS_CONNECT_TIMEOUT_S = 1.0
REDIS_SOCKET_TIMEOUT_S = 2.0


def open_queue(redis_url: str) -> ArqRedis:
    """An arq Redis pool for enqueueing, connected lazily: the receiver starts, and stores events, without Redis."""
    pool = ConnectionPool.from_url(
        redis_url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=REDIS_SOCKET_TIMEOUT_S
    )
    return ArqRedis(pool, default_queue_name=QUEUE_NAME)


def create_app(settings: Settings, *, pool: "Pool | None" = None, queue: ArqRedis | None = None) -> web.Application:
    """The webhook receiver for `settings`.

    It opens its own Postgres and Redis pools on startup and closes them on cleanup; a `pool` or `queue` given
    here is used instead and left open (tests share theirs).

    Raises:
        ConfigError: ASHBY_SYNC_SECRET_KEY is missing or malformed (it decrypts the accounts' webhook secrets).
    """
    box = SecretBox(settings.secret_key())
    app = web.Application(middlewares=[request_context], client_max_size=settings.webhook_max_body_bytes)
    app.cleanup_ctx.append(_resources(settings, box, pool, queue))
    app.router.add_post("/webhooks/ashby/{account_id}", receive_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def _resources(
    settings: Settings, box: SecretBox, given_pool: "Pool | None", given_queue: ArqRedis | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool = given_pool
            if pool is None:
                pool = await create_pool(settings.database_url, max_size=DB_POOL_SIZE)
                stack.push_async_callback(pool.close)
            queue = given_queue
            if queue is None:
                queue = open_queue(settings.redis_url)
                stack.push_async_callback(queue.aclose, close_connection_pool=True)
            receiver_metrics = ReceiverMetrics()
            dispatcher = JobDispatcher(queue, receiver_metrics)
            stack.push_async_callback(dispatcher.aclose)
            writer = InboxWriter(
                pool,
                receiver_metrics,
                dispatcher,
                max_batch=settings.webhook_batch_max,
                max_wait_s=settings.webhook_batch_wait_ms / 1000,
                max_flushes=MAX_FLUSHES,
            )
            writer.start()
            stack.push_async_callback(writer.close)  # runs before the pools close: what waits is written first
            app[RECEIVER] = Receiver(
                pool=pool,
                queue=queue,
                secrets=SecretCache(pool, box, ttl_s=settings.webhook_secret_cache_seconds),
                writer=writer,
                metrics=receiver_metrics,
                max_body_bytes=settings.webhook_max_body_bytes,
            )
            log.info("receiver_started", max_body_bytes=settings.webhook_max_body_bytes)
            yield
            log.info("receiver_stopping")

    return ctx


def run_receiver(settings: Settings, *, host: str, port: int) -> None:
    """Serve the receiver on host:port until SIGINT/SIGTERM (in-flight requests finish first).

    Raises:
        DatabaseUnavailableError: Postgres cannot be reached at startup.
        OSError: host:port cannot be bound.
    """

    def listening(_: str) -> None:
        log.info("receiver_listening", url=f"http://{host}:{port}")

    web.run_app(create_app(settings), host=host, port=port, print=listening, access_log=None)
