"""Shared fixtures: a throwaway Postgres database, a clean Redis db, and the Ashby sandbox over real HTTP."""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from store import accounts
from store.pool import create_pool
from store.secrets import SecretBox
from sync.accounts import account_context
from sync.passes import SyncContext

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def reference_file(name: str) -> Path:
    """A file of ../shared/reference, or skip the test with a message where it is absent."""
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs ../shared/reference beside the checkout")
    return path


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database named ashby_test_<hex> with schema.sql applied; dropped at the end of the run."""
    import asyncio

    name = f"ashby_test_{uuid.uuid4().hex[:12]}"
    url = _with_database(TEST_DATABASE_URL, name)

    async def create() -> None:
        admin = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            await admin.execute(f'create database "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute((ROOT / "schema.sql").read_text())
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            await admin.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await admin.close()

    asyncio.run(create())
    yield url
    asyncio.run(drop())


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=8)
    try:
        yield p
    finally:
        await p.close()


_KEEP = {"schema_version"}


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The session pool, with every table but the schema version emptied before the test."""
    async with pool.acquire() as conn:
        tables = [
            r["tablename"]
            for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
            if r["tablename"] not in _KEEP
        ]
        if tables:
            await conn.execute("truncate " + ", ".join(f'"{t}"' for t in tables) + " cascade")
    return pool


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    client = aioredis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
async def fake_ashby(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The Ashby sandbox, small and seeded, served over real HTTP on a free loopback port.

    `@pytest.mark.sandbox(candidates=N)` on a test sizes it.
    """
    from ashby_sim.app import create_app
    from ashby_sim.state import SimState

    marker = request.node.get_closest_marker("sandbox")
    state = SimState(seed=1, **{"candidates": 50, **(marker.kwargs if marker else {})})
    async with TestServer(create_app(state), host="127.0.0.1") as server:
        state.base_url = str(server.make_url("")).rstrip("/")
        yield state


@pytest.fixture
async def account_id(db, fake_ashby) -> uuid.UUID:
    """An account connected to the sandbox."""
    from tests.helpers import SECRET_KEY

    async with db.acquire() as conn:
        account = await accounts.add_account(
            conn,
            SecretBox(SecretStr(SECRET_KEY)),
            name="sandbox",
            api_key=SecretStr(fake_ashby.api_key),
            base_url=fake_ashby.base_url,
        )
    return account.id


@pytest.fixture
async def sync_ctx(db, account_id) -> AsyncIterator[SyncContext]:
    """The sync context of that account, retrying without sleeping."""
    from tests.helpers import FAST_RETRY, SECRET_KEY

    async with (
        aiohttp.ClientSession() as session,
        account_context(db, session, SecretBox(SecretStr(SECRET_KEY)), account_id, retry=FAST_RETRY) as ctx,
    ):
        yield ctx
