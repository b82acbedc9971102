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
