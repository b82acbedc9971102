import uuid
from datetime import UTC, datetime

from store import merges, mirror
from tests.helpers import new_account

OLD, NEW = "2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"
EMAIL = {"value": "ada@example.com", "type": "Work", "isPrimary": True}
PHONE = {"value": "+1 555 0100", "type": "Work", "isPrimary": True}


def application(app_id: str, candidate: dict) -> dict:
    return {"id": app_id, "updatedAt": OLD, "status": "Active", "candidate": candidate, "job": {"id": "j1"}}


async def embedded(conn, account_id: uuid.UUID) -> dict[str, tuple[dict, str]]:
    rows = await conn.fetch(
        "select id, raw->'candidate' as c, raw->>'updatedAt' as u from applications where account_id = $1", account_id
    )
    return {r["id"]: (r["c"], r["u"]) for r in rows}


async def test_applications_take_their_candidates_current_name_and_contacts_and_keep_the_rest(db, account_id) -> None:
    ada = {"id": "c1", "name": "Ada Lovelace", "primaryEmailAddress": EMAIL, "primaryPhoneNumber": PHONE}
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [{**ada, "updatedAt": OLD}])
        await mirror.upsert_page(
            conn,
            "applications",
            account_id,
            [
                application("a1", {**ada, "profileUrl": "https://x/c1"}),
                application("a2", {"id": "c2", "name": "Grace Hopper", "primaryEmailAddress": EMAIL}),
            ],
        )
        assert await merges.refresh_embedded(conn, "candidates", account_id, ["c1"]) == 0  # already current
        # anonymised: no contacts, another name, and a null Ashby may send
        anonymised = {"id": "c1", "updatedAt": NEW, "name": "Anonymized Candidate", "primaryPhoneNumber": None}
        await mirror.upsert_page(conn, "candidates", account_id, [anonymised])
        assert await merges.refresh_embedded(conn, "candidates", account_id, ["c1", None]) == 1
        after = await embedded(conn, account_id)
    assert after["a1"] == ({"id": "c1", "name": "Anonymized Candidate", "profileUrl": "https://x/c1"}, OLD)
    assert after["a2"] == ({"id": "c2", "name": "Grace Hopper", "primaryEmailAddress": EMAIL}, OLD)  # not mirrored


async def test_an_application_written_with_an_old_copy_of_its_candidate_gets_the_current_one(db, account_id) -> None:
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [{"id": "c1", "updatedAt": NEW, "name": "Ada L."}])
        old_copy = {"id": "c1", "name": "Ada Lovelace", "primaryEmailAddress": EMAIL}
        await mirror.upsert_page(conn, "applications", account_id, [application("a1", old_copy)])
        assert await merges.refresh_embedded(conn, "applications", account_id, ["a1"]) == 1
        assert (await embedded(conn, account_id))["a1"] == ({"id": "c1", "name": "Ada L."}, OLD)
        assert await merges.refresh_embedded(conn, "jobs", account_id, ["a1"]) == 0  # no table embeds a job's


async def test_the_applications_of_candidates_changed_since_a_time_are_refreshed_and_no_others(db, account_id) -> None:
    other = await new_account(db, "other")
    old_copy = {"id": "c1", "name": "Ada Lovelace", "primaryEmailAddress": EMAIL}
    async with db.acquire() as conn:
        for acct in (account_id, other):  # the same ids in another account, its applications as stale
            await mirror.upsert_page(conn, "applications", acct, [application("a1", old_copy)])
            await mirror.upsert_page(
                conn, "applications", acct, [application("a2", {"id": "c2", "name": "Grace Hopper"})]
            )
            await mirror.upsert_page(conn, "candidates", acct, [{"id": "c1", "updatedAt": NEW, "name": "Ada L."}])
        await mirror.upsert_page(conn, "candidates", account_id, [{"id": "c2", "updatedAt": OLD, "name": "G. H."}])
        await mirror.mark_deleted(conn, "candidates", other, ["c1"])  # a deleted candidate is not copied from

        since = datetime(2024, 1, 15, tzinfo=UTC)  # c1 changed after it, c2 before
        assert await merges.refresh_embedded_of_candidates_changed_since(conn, account_id, since) == 1
        assert await merges.refresh_embedded_of_candidates_changed_since(conn, other, since) == 0
        ours, theirs = await embedded(conn, account_id), await embedded(conn, other)
    assert ours["a1"] == ({"id": "c1", "name": "Ada L."}, OLD)
    assert ours["a2"] == ({"id": "c2", "name": "Grace Hopper"}, OLD)  # its candidate changed before `since`
    assert theirs["a1"] == (old_copy, OLD)
