"""End to end: `webhooks register` points the sandbox at the real receiver; sandbox mutations travel as signed
webhooks into the inbox, through real Redis to a burst worker, and land in the mirror."""

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from ashby_api.resources import BY_NAME
from core.config import Settings
from store import inbox
from store.secrets import SecretBox
from sync.accounts import account_context
from sync.passes import sync_resource
from sync.webhook_registration import register_webhooks
from tests.conftest import TEST_REDIS_URL
from tests.helpers import FAST_RETRY, SECRET_KEY, assert_mirror_matches
from webhooks.app import create_app
from worker.settings import build_worker, open_queue

BOX = SecretBox(SecretStr(SECRET_KEY))


async def test_sandbox_mutations_reach_the_mirror_through_receiver_redis_and_worker(
    db, database_url, redis_client, fake_ashby, account_id
) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        ashby_sync_secret_key=SecretStr(SECRET_KEY),
        worker_max_jobs=4,
    )
    queue = await open_queue(settings)
    try:
        async with (
            TestServer(create_app(settings, pool=db, queue=queue), host="127.0.0.1") as receiver,
            aiohttp.ClientSession() as session,
            account_context(db, session, BOX, account_id, retry=FAST_RETRY) as ctx,
        ):
            for name in ("candidates", "applications", "offers"):
                await sync_resource(ctx, BY_NAME[name])
            registered = await register_webhooks(ctx, BOX, str(receiver.make_url("/")))
            assert all(r.enabled for r in registered)  # every ping verified by the receiver with the stored secret
            fake_ashby.faults.webhook_duplicate = 1.0
            fake_ashby.faults.webhook_reorder = True

            offer = next(o for o in fake_ashby.all_records("offers") if o["acceptanceStatus"] != "Accepted")
            fake_ashby.set_offer_status(offer["id"], "Accepted")
            fake_ashby.hire(offer["applicationId"])
            fake_ashby.touch("applications", 3)
            with_apps = [c for c in fake_ashby.all_records("candidates") if c["applicationIds"]]
            fake_ashby.merge_candidates(with_apps[0]["id"], with_apps[1]["id"])
            fake_ashby.delete_candidate(with_apps[2]["id"])
            async with asyncio.timeout(10):
                await fake_ashby.wait_deliveries_idle()
    finally:
        await queue.aclose()

    worker = build_worker(settings, burst=True, crons=False)
    try:
        async with asyncio.timeout(30):
            done = await worker.run_check()
    finally:
        await worker.close()
    async with db.acquire() as conn:
        backlog = await inbox.backlog(conn)
        statuses = {r["status"] for r in await conn.fetch("select status from webhook_inbox where action <> 'ping'")}
    assert done >= 1
    assert backlog.get(account_id, (0, 0)) == (0, 0)
    assert statuses == {"applied"}
    await assert_mirror_matches(db, account_id, fake_ashby, "offers")
    async with db.acquire() as conn:
        hired = await conn.fetchrow("select status, raw from applications where id = $1", offer["applicationId"])
        gone = await conn.fetchrow("select raw, deleted_at from candidates where id = $1", with_apps[2]["id"])
        moved = await conn.fetchval(
            "select count(*) from applications where candidate_id = $1 and deleted_at is null", with_apps[0]["id"]
        )
    assert hired["status"] == "Hired"
    assert hired["raw"] == fake_ashby.get("applications", offer["applicationId"])
    assert gone["deleted_at"] is not None
    assert gone["raw"] == {"id": with_apps[2]["id"]}
    assert moved == 0
