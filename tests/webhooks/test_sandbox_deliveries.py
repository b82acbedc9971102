"""The sandbox's real webhook sender (signed, retried, duplicated, reordered) into the receiver's inbox."""

import asyncio

import orjson

from core.queue import drain_job_id
from tests.webhooks.conftest import WEBHOOK_SECRET, inbox_rows, queued_jobs

TYPES = ("candidateHire", "applicationUpdate", "candidateStageChange", "offerUpdate")


async def test_sandbox_mutations_land_in_the_inbox_once_each(client, db, redis_client, fake_ashby, account_id, secret):
    url = str(client.make_url(f"/webhooks/ashby/{account_id}"))
    hooks = [await fake_ashby.create_webhook(t, url, WEBHOOK_SECRET) for t in TYPES]
    assert all(h.enabled for h in hooks)  # each ping was answered 200
    fake_ashby.faults.webhook_retry_base = 0.005
    fake_ashby.faults.webhook_duplicate = 1.0
    fake_ashby.faults.webhook_reorder = True
    fake_ashby.actions.clear()

    fake_ashby.hire(fake_ashby.ids("applications")[0])  # candidateHire + applicationUpdate + candidateStageChange
    fake_ashby.set_offer_status(fake_ashby.ids("offers")[0], "Accepted")
    fake_ashby.touch("applications", 3)
    async with asyncio.timeout(10):
        await fake_ashby.wait_deliveries_idle()

    fired = {(action_id, action) for action_id, action in fake_ashby.actions if action in TYPES}
    assert len(fired) == 3 + 1 + 3
    rows = await inbox_rows(db)
    events = [r for r in rows if r["action"] != "ping"]
    assert {(r["webhook_action_id"], r["action"]) for r in events} == fired
    assert all(r["status"] == "pending" for r in events)
    assert all(orjson.loads(r["body"])["action"] == r["action"] for r in events)
    assert [r["status"] for r in rows if r["action"] == "ping"] == ["skipped"] * len(TYPES)
    assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}  # one drain applies them all
    outcomes = [(d.outcome, d.status) for d in fake_ashby.deliveries if d.action != "ping"]
    assert outcomes == [("delivered", 200)] * 2 * len(fired)  # every duplicate acknowledged too
