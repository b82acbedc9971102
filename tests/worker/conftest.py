"""Fixtures of the worker tests: the webhook recorder (tests/ashby_events.py) and the worker's Deps."""

import aiohttp
import pytest
from pydantic import SecretStr

from ashby_api.retry import Retrier, RetryPolicy
from store.secrets import SecretBox
from tests.ashby_events import recorder  # noqa: F401 - a fixture
from tests.helpers import SECRET_KEY, worker_settings
from worker.deps import Deps
from worker.settings import open_queue

NO_RETRY = Retrier(policy=RetryPolicy(max_attempts=1))


@pytest.fixture
async def deps(db, database_url, redis_client):
    """The worker's Deps over the test database and Redis; Ashby calls are tried once (the job retries)."""
    settings = worker_settings(database_url)
    queue = await open_queue(settings)
    try:
        async with aiohttp.ClientSession() as session:
            d = Deps(
                settings=settings,
                pool=db,
                session=session,
                box=SecretBox(SecretStr(SECRET_KEY)),
                queue=queue,
                retry=NO_RETRY,
            )
            try:
                yield d
            finally:
                await d.aclose()
    finally:
        await queue.aclose()
