"""The receiver over real HTTP (aiohttp TestServer), on the test database and Redis db 15."""

import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from arq.connections import ArqRedis
from pydantic import SecretStr

from ashby_api.webhooks import SIGNATURE_HEADER, sign
from core.config import Settings
from core.queue import QUEUE_NAME
from store import accounts
from store.secrets import SecretBox
from tests.conftest import TEST_REDIS_URL
from tests.helpers import SECRET_KEY
from webhooks.app import create_app, open_queue

WEBHOOK_SECRET = "whsec-receiver-test-secret"
BOX = SecretBox(SecretStr(SECRET_KEY))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def envelope(action: str = "applicationUpdate", action_id: str | None = None, **data: Any) -> bytes:
    """An Ashby webhook body (compact JSON, as Ashby sends it)."""
    payload = {"webhookActionId": action_id or str(uuid.uuid4()), "action": action, "data": data or {"x": 1}}
    return orjson.dumps(payload)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, redis_url=TEST_REDIS_URL, ashby_sync_secret_key=SecretStr(SECRET_KEY))


@pytest.fixture
async def queue() -> AsyncIterator[ArqRedis]:
    q = open_queue(TEST_REDIS_URL)
    try:
        yield q
    finally:
        await q.aclose(close_connection_pool=True)


@pytest.fixture
async def client(db, redis_client, queue, settings) -> AsyncIterator[TestClient]:
    """The receiver sharing the test pool and Redis db 15 (both emptied before the test)."""
    async with TestClient(TestServer(create_app(settings, pool=db, queue=queue), host="127.0.0.1")) as c:
        yield c


@pytest.fixture
async def secret(db, account_id) -> str:
    """The sandbox account's webhook secret."""
    async with db.acquire() as conn:
        await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr(WEBHOOK_SECRET))
    return WEBHOOK_SECRET


async def deliver(
    client: TestClient,
    account_id: uuid.UUID | str,
    body: bytes,
    *,
    secret: str | None = WEBHOOK_SECRET,
    header: str | None = None,
) -> tuple[int, str]:
    """POST `body` as Ashby would, signed with `secret` (or with `header` as given); (status, outcome)."""
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = header
    elif secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    async with client.post(f"/webhooks/ashby/{account_id}", data=body, headers=headers) as resp:
        payload = await resp.json()
        return resp.status, payload["status"]


async def inbox_rows(pool) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "select account_id, webhook_action_id, action, status, body from webhook_inbox order by received_at"
        )
    return [dict(r) for r in rows]


async def queued_jobs(redis_client) -> set[str]:
    """Ids of the jobs waiting in the worker's queue (their `arq:job:<id>` keys exist too)."""
    ids = {i.decode() for i in await redis_client.zrange(QUEUE_NAME, 0, -1)}
    for job_id in ids:
        assert await redis_client.exists(f"arq:job:{job_id}"), job_id
    return ids
