"""`ashby-sync worker`: run the arq worker, or check that one is alive."""

import asyncio
from urllib.parse import urlsplit

import redis.exceptions
from arq.worker import async_check_health

from ashby_sync.console import fail
from core.config import Settings
from core.errors import AppError, ConfigError
from core.queue import QUEUE_NAME
from store.secrets import SecretBox
from worker.settings import build_worker, redis_settings


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def run_worker(settings: Settings, *, burst: bool) -> None:
    """Run the worker until SIGINT/SIGTERM (or, with `burst`, until the queue is empty)."""
    try:
        # What the worker's start-up needs from the environment, checked before it connects to anything: a missing
        # or malformed key is the same one-line error and exit status as in `sync`.
        SecretBox(settings.secret_key())
    except ConfigError as exc:
        fail(str(exc), 2)
    worker = build_worker(settings, burst=burst)
    try:
        worker.run()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError) as exc:
        fail(f"cannot connect to Redis at {_where(settings.redis_url)} (REDIS_URL): {exc.__class__.__name__}")
    except ConfigError as exc:
        fail(str(exc), 2)
    except AppError as exc:
        fail(str(exc))


def check_worker(settings: Settings) -> bool:
    """True when a worker refreshed its health key recently."""
    try:
        code = asyncio.run(async_check_health(redis_settings(settings.redis_url), queue_name=QUEUE_NAME))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError) as exc:
        fail(f"cannot connect to Redis at {_where(settings.redis_url)} (REDIS_URL): {exc.__class__.__name__}")
    return code == 0
