"""Postgres or Redis unavailable to the receiver: 503 (Ashby retries) or 200 (stored; the sweeper enqueues)."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from core.queue import drain_job_id
from store import accounts
from store.pool import create_pool
from tests.conftest import ROOT, TEST_DATABASE_URL
from tests.webhooks.conftest import BOX, WEBHOOK_SECRET, closed_port, deliver, envelope, inbox_rows, queued_jobs
from webhooks.app import create_app


async def admin_execute(sql: str) -> None:
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture
async def doomed_database() -> AsyncIterator[str]:
    """A database of its own (the shared one stays up), with the schema; yields its URL and drops it after."""
    name = f"ashby_test_down_{uuid.uuid4().hex[:8]}"
    url = TEST_DATABASE_URL.rpartition("/")[0] + "/" + name
    await admin_execute(f'create database "{name}"')
    try:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute((ROOT / "schema.sql").read_text())
        finally:
            await conn.close()
        yield url
    finally:
        await admin_execute(f'alter database "{name}" allow_connections true')
        await admin_execute(f'drop database if exists "{name}" with (force)')


async def set_connectable(url: str, allowed: bool) -> None:
    """Refuse (or allow again) new connections to the database of `url`, and end the open ones."""
    name = url.rpartition("/")[2]
    await admin_execute(f'alter database "{name}" allow_connections {str(allowed).lower()}')
    if not allowed:
        await admin_execute(f"select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'")


async def test_postgres_unavailable_is_503_and_the_retry_after_it_returns_is_stored(
    doomed_database, redis_client, queue, settings
):
    pool = await create_pool(doomed_database, max_size=4)
    try:
        async with pool.acquire() as conn:
            account = await accounts.add_account(
                conn,
                BOX,
                name="a",
                api_key=SecretStr("k"),
                base_url="http://x",
                webhook_secret=SecretStr(WEBHOOK_SECRET),
            )
        app = create_app(settings.model_copy(update={"database_url": doomed_database}), pool=pool, queue=queue)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            assert await deliver(client, account.id, envelope()) == (200, "stored")  # account secrets now cached
            body = envelope("offerUpdate", offer={"id": "o1"})
            await set_connectable(doomed_database, False)

            assert await deliver(client, account.id, body) == (503, "unavailable")  # the insert fails
            assert await deliver(client, uuid.uuid4(), body) == (503, "unavailable")  # the account lookup fails
            async with client.get("/readyz") as resp:
                assert resp.status == 503
                ready = await resp.json()
            assert ready["redis"] == "ok"
            assert ready["postgres"].startswith("down: ")

            await set_connectable(doomed_database, True)
            assert await deliver(client, account.id, body) == (200, "stored")  # Ashby's retry
            async with client.get("/readyz") as resp:
                assert (resp.status, await resp.json()) == (200, {"postgres": "ok", "redis": "ok"})
        assert [r["action"] for r in await inbox_rows(pool)] == ["applicationUpdate", "offerUpdate"]
        assert await queued_jobs(redis_client) == {drain_job_id(account.id, 1)}  # one drain applies both
    finally:
        await pool.close()


async def test_redis_down_still_answers_200_and_leaves_the_event_pending(db, settings, account_id, secret):
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{closed_port()}/0"})
    body = envelope("applicationSubmit", application={"id": "a1"})

    async with TestClient(TestServer(create_app(no_redis, pool=db), host="127.0.0.1")) as client:
        assert await deliver(client, account_id, body) == (200, "stored")
        assert await deliver(client, account_id, body) == (200, "duplicate")
        async with client.get("/readyz") as resp:
            assert resp.status == 503
            ready = await resp.json()
        async with client.get("/metrics") as resp:
            metrics = await resp.text()

    assert ready["postgres"] == "ok"
    assert ready["redis"].startswith("down: ")
    [row] = await inbox_rows(db)
    assert (row["action"], row["status"]) == ("applicationSubmit", "pending")
    assert "ashby_webhooks_enqueue_failures_total 1.0" in metrics
    assert "ashby_webhook_inbox_backlog 1.0" in metrics


async def test_the_receiver_starts_without_redis_and_with_its_own_pools(database_url, settings, db, account_id, secret):
    own = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{closed_port()}/0"})
    async with TestClient(TestServer(create_app(own), host="127.0.0.1")) as client:
        assert await deliver(client, account_id, envelope()) == (200, "stored")
        async with client.get("/healthz") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
