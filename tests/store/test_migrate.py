import asyncio
import uuid

import asyncpg
import pytest

from store.errors import DatabaseUnavailableError
from store.migrate import migrate
from tests.conftest import TEST_DATABASE_URL

BASE = TEST_DATABASE_URL.rpartition("/")[0]


async def _tables(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select table_name, string_agg(column_name || ':' || data_type, ',' order by column_name) as cols "
            "from information_schema.columns where table_schema = 'public' group by table_name"
        )
        return {r["table_name"]: r["cols"] for r in rows}
    finally:
        await conn.close()


async def _drop(name: str) -> None:
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


async def test_migrate_creates_the_database_and_is_a_no_op_the_second_time() -> None:
    name = f"ashby_mig_{uuid.uuid4().hex[:10]}"
    url = f"{BASE}/{name}"
    try:
        assert await migrate(url) == 1
        first = await _tables(url)
        assert await migrate(url) == 1
        assert await _tables(url) == first
        for table in (
            "accounts",
            "webhook_inbox",
            "sync_state",
            "events",
            "deliveries",
            "subscriptions",
            "mcp_tokens",
            "candidates",
            "applications",
            "jobs",
            "offers",
            "interview_stages",
        ):
            assert table in first
        for col in ("account_id:uuid", "id:text", "raw:jsonb", "updated_at:", "synced_at:", "deleted_at:"):
            assert col in first["candidates"]
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("select count(*) from schema_version") == 1
        finally:
            await conn.close()
    finally:
        await _drop(name)


async def test_migrating_again_does_not_wait_for_a_running_pass_s_checkpoint() -> None:
    # A page write holds its sync_state row (and mirror rows) until it commits; a migration run meanwhile must not
    # need an exclusive lock on those tables, or it would wait for the pass, and the pass then for it.
    name = f"ashby_mig_{uuid.uuid4().hex[:10]}"
    url = f"{BASE}/{name}"
    try:
        await migrate(url)
        writer = await asyncpg.connect(url)
        try:
            async with writer.transaction():
                await writer.execute("lock table sync_state, candidates, applications in row exclusive mode")
                async with asyncio.timeout(30):
                    assert await migrate(url) == 1
        finally:
            await writer.close()
    finally:
        await _drop(name)


async def test_stored_objects_and_webhook_bodies_are_compressed_with_lz4_where_the_server_has_it(db) -> None:
    async with db.acquire() as conn:
        try:
            async with conn.transaction():
                await conn.execute("set local default_toast_compression = lz4")
        except asyncpg.InvalidParameterValueError:
            pytest.skip("this Postgres is built without lz4: the schema keeps pglz")
        rows = await conn.fetch(
            """select c.relname, a.attname, a.attcompression from pg_attribute a
               join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = current_schema() and c.relkind = 'r' and not a.attisdropped
                 and (a.attname = 'raw' or (c.relname = 'webhook_inbox' and a.attname = 'body'))"""
        )
    compression = {(r["relname"], r["attname"]): r["attcompression"] for r in rows}
    assert ("candidates", "raw") in compression
    assert ("webhook_inbox", "body") in compression
    assert set(compression.values()) == {b"l"}, compression  # "char" comes back as bytes


async def test_migrate_to_an_unreachable_server_gives_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailableError) as info:
        await migrate("postgresql://127.0.0.1:1/nowhere")
    assert "127.0.0.1:1/nowhere" in str(info.value)


async def test_migrate_without_a_database_name_is_refused() -> None:
    with pytest.raises(DatabaseUnavailableError):
        await migrate(BASE)
