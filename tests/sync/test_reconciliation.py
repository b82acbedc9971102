"""Reconciliation: webhooks lost for longer than Ashby retries them; sync passes make the mirror exact again."""

import asyncio

from ashby_api.resources import RESOURCES
from store import mirror
from sync.accounts import sync_account
from tests.ashby_events import Recorder, subscribe
from tests.helpers import assert_mirror_matches


async def test_after_a_receiver_outage_sync_passes_make_the_mirror_exact_again(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    _, failures = await sync_account(sync_ctx)
    assert failures == []
    await subscribe(fake_ashby, recorder)
    fake_ashby.faults.webhook_drop = 1.0  # the receiver is down past Ashby's retry window: every delivery lost

    apps = fake_ashby.ids("applications")
    fake_ashby.hire(apps[0])
    fake_ashby.update_application(apps[1], source_id=fake_ashby.ids("sources")[2])
    fake_ashby.set_offer_status(fake_ashby.ids("offers")[0], "Declined")
    fake_ashby.delete_offer(fake_ashby.ids("offers")[1])
    fake_ashby.touch("jobs", 1)
    fake_ashby.touch("interview_schedules", 2)
    fake_ashby.delete_job_posting(fake_ashby.ids("job_postings")[0])
    with_apps = [c for c in fake_ashby.all_records("candidates") if c["applicationIds"]]
    fake_ashby.merge_candidates(with_apps[0]["id"], with_apps[1]["id"])
    fake_ashby.delete_candidate(with_apps[2]["id"])  # no webhook, and no incremental pass lists a deletion
    fake_ashby.create_candidate("Grace Hopper", email="grace@example.org")
    async with asyncio.timeout(5):
        await fake_ashby.wait_deliveries_idle()
    assert recorder.bodies == []
    assert {d.outcome for d in fake_ashby.deliveries if d.action != "ping"} == {"dropped"}

    _, failures = await sync_account(sync_ctx)  # the next incremental passes bring every change but deletions
    assert failures == []
    for name in ("jobs", "interview_schedules", "job_postings"):  # postings are re-read whole every pass
        await assert_mirror_matches(db, account_id, fake_ashby, name)
    async with db.acquire() as conn:
        changed = await mirror.get_raw(conn, "applications", account_id, apps[:2])
        assert changed == {a: fake_ashby.get("applications", a) for a in apps[:2]}
        live = await conn.fetchval(
            "select count(*) from candidates where account_id = $1 and id = $2 and deleted_at is null",
            account_id,
            with_apps[2]["id"],
        )
    assert live == 1  # still there: only a full pass can notice it is gone

    _, failures = await sync_account(sync_ctx, full=True)
    assert failures == []
    for resource in RESOURCES:
        await assert_mirror_matches(db, account_id, fake_ashby, resource.name)
    async with db.acquire() as conn:
        gone = await conn.fetchrow(
            "select name, raw, deleted_at from candidates where account_id = $1 and id = $2",
            account_id,
            with_apps[2]["id"],
        )
    assert gone["deleted_at"] is not None
    assert gone["name"] is None
    assert gone["raw"] == {"id": with_apps[2]["id"]}
