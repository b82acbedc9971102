"""A pass killed with SIGKILL mid-way resumes from its last checkpoint and ends exact."""

import asyncio
import os
import signal
import sys

import pytest

from ashby_api.resources import BY_NAME
from store import sync_state
from sync.passes import sync_resource
from tests.conftest import TEST_REDIS_URL
from tests.helpers import SECRET_KEY, assert_mirror_matches


async def _until_released(db, account_id, resource: str) -> None:
    """Wait for Postgres to end the killed process's sessions: one may still finish a statement, holding the
    pass lock, for a moment after the process is gone."""
    async with asyncio.timeout(10):
        while True:
            async with sync_state.pass_lock(db, account_id, resource) as free:
                if free:
                    return
            await asyncio.sleep(0.02)


@pytest.mark.sandbox(candidates=1500)
async def test_a_pass_killed_mid_way_resumes_from_its_checkpoint(
    db, database_url, fake_ashby, sync_ctx, account_id
) -> None:
    fake_ashby.faults.latency_ms = 60
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "ASHBY_SYNC_SECRET_KEY": SECRET_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ashby_sync",
        "sync",
        "--account",
        str(account_id),
        "--resource",
        "candidates",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(30):
            while True:  # until the worker has committed a few pages
                async with db.acquire() as conn:
                    state = await sync_state.get_state(conn, account_id, "candidates")
                if state.pass_pages >= 3:
                    break
                await asyncio.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    fake_ashby.faults.latency_ms = 0
    await _until_released(db, account_id, "candidates")

    async with db.acquire() as conn:
        killed = await sync_state.get_state(conn, account_id, "candidates")
    assert killed.in_progress
    assert killed.cursor is not None
    assert killed.sync_token is None
    assert 3 <= killed.pass_pages < 15

    fake_ashby.touch("candidates", 5)  # changes made while nobody was syncing are still picked up
    fake_ashby.reset_request_log()
    result = await sync_resource(sync_ctx, BY_NAME["candidates"])
    first = next(r for r in fake_ashby.requests if r.endpoint == "candidate.list")
    assert first.body.get("cursor") == killed.cursor  # resumed, not restarted
    assert result.mode == "full"
    assert result.pages == 15
    assert fake_ashby.request_count("candidate.list") == 15 - killed.pass_pages
    async with db.acquire() as conn:
        done = await sync_state.get_state(conn, account_id, "candidates")
    assert done.sync_token is not None
    assert not done.in_progress
    # the next pass is incremental and sees the touched records it had not yet reached
    after = await sync_resource(sync_ctx, BY_NAME["candidates"])
    assert after.mode == "incremental"
    assert after.rows >= 5
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")


@pytest.mark.sandbox(candidates=1000)
async def test_a_page_that_fails_to_write_commits_nothing_after_it_and_the_next_pass_resumes_before_it(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    ids = fake_ashby.records.ids("candidates")
    # Postgres refuses the first row of page 3, slowly, so page 4 is being written beside it when it fails.
    async with db.acquire() as conn:
        await conn.execute(
            f"""create function refuse_one() returns trigger language plpgsql as $$
                begin
                  if new.id = '{ids[200]}' then perform pg_sleep(0.3); raise exception 'refused'; end if;
                  return new;
                end $$;
                create trigger refuse_one before insert on candidates for each row execute function refuse_one();"""
        )
    try:
        with pytest.raises(Exception, match="refused"):
            await sync_resource(sync_ctx, BY_NAME["candidates"])
        async with db.acquire() as conn:
            failed = await sync_state.get_state(conn, account_id, "candidates")
            stored = {r["id"] for r in await conn.fetch("select id from candidates where account_id = $1", account_id)}
        assert failed.in_progress
        assert failed.pass_pages == 2
        assert stored == set(ids[:200])  # pages 1 and 2; nothing of page 3 or the pages after it
    finally:
        async with db.acquire() as conn:
            await conn.execute("drop trigger refuse_one on candidates; drop function refuse_one()")

    fake_ashby.reset_request_log()
    resumed = await sync_resource(sync_ctx, BY_NAME["candidates"])
    assert resumed.pages == 10
    assert resumed.rows == 1000
    assert fake_ashby.request_count("candidate.list") == 8  # from page 3 on
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")
