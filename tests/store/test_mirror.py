import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from store import merges, mirror
from store.mirror_tables import TABLES
from tests.helpers import lock_waiters, new_account


def candidate(cid: str, updated: str, name: str = "Ada Lovelace", **extra) -> dict:
    return {
        "id": cid,
        "updatedAt": updated,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "name": name,
        "primaryEmailAddress": {"value": "ada@example.com", "type": "Work", "isPrimary": True},
        "emailAddresses": [{"value": "ada@example.com", "type": "Work", "isPrimary": True}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "Work", "isPrimary": True}],
        "tags": [{"id": "t1", "title": 'Python "core"', "isArchived": False}],
        "applicationIds": ["a1", "a2"],
        **extra,
    }


async def test_a_stale_page_never_overwrites_a_newer_row(db, account_id) -> None:
    async with db.acquire() as conn:
        first = await mirror.upsert_page(conn, "candidates", account_id, [candidate("c1", "2025-01-02T00:00:00Z")])
        stale = await mirror.upsert_page(
            conn, "candidates", account_id, [candidate("c1", "2025-01-01T00:00:00Z", name="Old Name")]
        )
        row = await conn.fetchrow("select name, tags, emails, application_ids from candidates where id = 'c1'")
    assert (first.written, first.stale) == (1, 0)
    assert (stale.written, stale.stale) == (0, 1)
    assert dict(row) == {
        "name": "Ada Lovelace",
        "tags": ['Python "core"'],
        "emails": ["ada@example.com"],
        "application_ids": ["a1", "a2"],
    }


async def test_applying_the_same_page_twice_changes_nothing(db, account_id) -> None:
    page = [candidate(f"c{i}", "2025-01-02T00:00:00Z") for i in range(5)]
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, page)
        before = await conn.fetch("select id, raw, name, updated_at from candidates order by id")
        await mirror.upsert_page(conn, "candidates", account_id, page)
        after = await conn.fetch("select id, raw, name, updated_at from candidates order by id")
    assert [dict(r) for r in before] == [dict(r) for r in after]


async def test_bad_fields_are_kept_raw_and_reported_not_raised(db, account_id) -> None:
    huge = "x" * 1_000_000
    bad = candidate("c1", "not a date", name=huge, createdAt=12, tags="oops")
    async with db.acquire() as conn:
        result = await mirror.upsert_page(
            conn, "candidates", account_id, [bad, {"name": "no id"}, candidate("c2", "2025-01-01T00:00:00Z")]
        )
        row = await conn.fetchrow("select name, updated_at, created_at, tags, raw from candidates where id = 'c1'")
    assert result.written == 2
    assert {r.field for r in result.rejected} == {"id", "updatedAt", "name", "createdAt", "tags"}
    assert row["name"] is None
    assert row["updated_at"] is None
    assert row["tags"] == []
    assert row["raw"]["name"] == huge


async def test_duplicate_ids_in_one_page_keep_the_newest(db, account_id) -> None:
    page = [candidate("c1", "2025-01-02T00:00:00Z", name="New"), candidate("c1", "2025-01-01T00:00:00Z", name="Old")]
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, page)
        assert await conn.fetchval("select name from candidates where id = 'c1'") == "New"


async def test_soft_delete_of_unseen_rows_clears_pii(db, account_id) -> None:
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [candidate("gone", "2025-01-01T00:00:00Z")])
        started = await conn.fetchval("select now()")
        async with conn.transaction():
            await mirror.upsert_page(conn, "candidates", account_id, [candidate("kept", "2025-01-01T00:00:00Z")])
        deleted = await mirror.soft_delete_unseen(conn, "candidates", account_id, started)
        rows = {r["id"]: dict(r) for r in await conn.fetch("select id, name, emails, raw, deleted_at from candidates")}
    assert deleted == 1
    assert rows["gone"]["name"] is None
    assert rows["gone"]["emails"] == []
    assert rows["gone"]["raw"] == {"id": "gone"}
    assert rows["gone"]["deleted_at"] is not None
    assert rows["kept"]["deleted_at"] is None
    assert rows["kept"]["name"] == "Ada Lovelace"


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_every_mirror_table_accepts_a_page(db, account_id, table) -> None:
    async with db.acquire() as conn:
        result = await mirror.upsert_page(conn, table, account_id, [{"id": "x1", "updatedAt": "2025-01-01T00:00:00Z"}])
        assert result.written == 1
        assert await mirror.count_rows(conn, table, account_id) == 1


async def test_nul_characters_and_tricky_array_values_never_break_a_page(db, account_id) -> None:
    tricky = candidate("c1", "2025-01-01T00:00:00Z", name="Nul\x00Name", company="A\x00B")
    tricky["tags"] = [
        {"id": "t1", "title": 'say "hi"'},
        {"id": "t2", "title": "back\\slash"},
        {"id": "t3", "title": 'a","b'},
        {"id": "t4", "title": "nul\x00tag"},
    ]
    async with db.acquire() as conn:
        result = await mirror.upsert_page(conn, "candidates", account_id, [tricky, {"id": "bad\x00id"}])
        row = await conn.fetchrow("select name, company, tags, raw from candidates where id = 'c1'")
    assert result.written == 1
    assert {r.field for r in result.rejected} >= {"id", "name", "company", "raw: NUL replaced by U+FFFD"}
    assert row["name"] is None
    assert row["tags"] == ['say "hi"', "back\\slash", 'a","b']
    assert row["raw"]["name"] == "Nul\ufffdName"


async def _rows(conn, table: str, account: uuid.UUID) -> list[dict]:
    rows = await conn.fetch(f"select * from {table} where account_id = $1 order by id", account)
    return [{k: v for k, v in r.items() if k not in ("account_id", "synced_at", "fetched_at")} for r in rows]


async def test_a_page_written_from_its_response_body_equals_one_written_from_its_objects(db, account_id) -> None:
    objects = [
        candidate("c1", "2025-01-01T00:00:00Z", name="Zoë Ångström 日本"),  # raw UTF-8, not \u escapes
        {"name": "no id"},  # rejected: positions of the rows after it must still line up
        candidate("c2", "2025-01-03T00:00:00Z", name="newer first"),
        candidate("c2", "2025-01-02T00:00:00Z", name="older second"),  # the same id twice: the newer wins
        candidate("c3", "2025-01-02T00:00:00Z", name="older first"),
        candidate("c3", "2025-01-03T00:00:00Z", name="newer second", school="x" * 5000),  # too long for a column
        candidate("c4", "not a time", score=1.5e300, big=12345678901234567),
    ]
    body = orjson.dumps({"success": True, "results": objects, "moreDataAvailable": False})
    assert b"\\u" not in body  # the case the body is used for
    other = await new_account(db, "other")
    async with db.acquire() as conn:
        from_objects = await mirror.upsert_page(conn, "candidates", account_id, objects)
        from_body = await mirror.upsert_page(conn, "candidates", other, objects, page_body=body)
        expected, got = await _rows(conn, "candidates", account_id), await _rows(conn, "candidates", other)
    assert got == expected
    assert [r["name"] for r in got] == ["Zoë Ångström 日本", "newer first", "newer second", "Ada Lovelace"]
    assert got[2]["raw"]["school"] == "x" * 5000
    assert got[2]["school"] is None
    assert got[3]["updated_at"] is None
    assert (from_body.written, from_body.stale, from_body.rejected) == (
        from_objects.written,
        from_objects.stale,
        from_objects.rejected,
    )


async def test_long_multibyte_texts_are_measured_in_bytes_and_never_fail_a_page(db, account_id) -> None:
    # 1,900 CJK characters are 5,700 bytes: over a btree entry's 2,704 (varied, so compression cannot save it),
    # which once failed the page every time. Two ids of 1,000 bytes each still fit `applications_job_stage`.
    cjk = "".join(chr(0x4E00 + i * 7919 % 20000) for i in range(1900))
    app = {
        "id": "a1",
        "updatedAt": "2025-01-01T00:00:00.000Z",
        "status": cjk,
        "candidate": {"id": "c1"},
        "job": {"id": "é" * 500},
        "currentInterviewStage": {"id": "ü" * 500, "title": "ß" * 501},
    }
    body = orjson.dumps({"success": True, "results": [app], "moreDataAvailable": False})
    other = await new_account(db, "other")
    async with db.acquire() as conn:
        for account, page_body in ((account_id, None), (other, body)):
            result = await mirror.upsert_page(conn, "applications", account, [app], page_body=page_body)
            assert result.written == 1
            assert {r.field for r in result.rejected} == {"status", "currentInterviewStage.title"}
        rows = await conn.fetch("select status, job_id, stage_id, stage_title, raw from applications order by 1, 2")
    assert [(r["status"], r["job_id"], r["stage_id"], r["stage_title"]) for r in rows] == [
        (None, "é" * 500, "ü" * 500, None)
    ] * 2
    assert all(r["raw"]["status"] == cjk for r in rows)


async def test_a_response_body_with_unicode_escapes_is_written_from_its_objects(db, account_id) -> None:
    # Postgres refuses \u0000 in jsonb: such a page goes the objects' way, NUL replaced and reported.
    objects = [candidate("c1", "2025-01-01T00:00:00Z", name="Nul\x00Name")]
    body = orjson.dumps({"success": True, "results": objects})
    assert b"\\u0000" in body
    async with db.acquire() as conn:
        result = await mirror.upsert_page(conn, "candidates", account_id, objects, page_body=body)
        row = await conn.fetchrow("select name, raw from candidates where id = 'c1'")
    assert result.written == 1
    assert "raw: NUL replaced by U+FFFD" in {r.field for r in result.rejected}
    assert row["raw"]["name"] == "Nul\ufffdName"


async def test_candidate_rows_keep_their_raw_object_in_line(db, account_id) -> None:
    from ashby_sim.state import SimState

    objects = list(SimState(seed=0, candidates=200).all_records("candidates"))
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, objects[:100])
        toast = await conn.fetchval("select reltoastrelid::regclass::text from pg_class where relname = 'candidates'")
        compressed = await conn.fetchval(
            "select count(*) from candidates where account_id = $1 and pg_column_compression(raw) is not null",
            account_id,
        )
        out_of_line = await conn.fetchval(f"select count(*) from {toast}")
    assert compressed > 50  # most rows were over the 2 KB TOAST threshold: the case this is about
    assert out_of_line == 0


async def test_a_page_fetched_before_a_webhook_delete_never_brings_the_row_or_its_pii_back(db, account_id) -> None:
    listed = candidate("c1", "2025-01-01T00:00:00Z")  # the version a pass fetched just before Ashby deleted it
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [listed])
        assert await mirror.mark_deleted(conn, "candidates", account_id, ["c1"]) == 1  # candidateDelete applied
        late = await mirror.upsert_page(conn, "candidates", account_id, [listed])  # then the page is written
        row = await conn.fetchrow("select name, emails, raw, deleted_at, deleted_by from candidates where id = 'c1'")
        assert (late.written, late.stale) == (0, 1)
        assert row["deleted_at"] is not None
        assert (row["name"], row["emails"], row["raw"], row["deleted_by"]) == (None, [], {"id": "c1"}, "webhook")
        # a version older than the delete, though newer than the mirror's, was superseded by it too
        between = await mirror.upsert_page(conn, "candidates", account_id, [candidate("c1", "2025-01-02T00:00:00Z")])
        assert (between.written, between.stale) == (0, 1)
        # a version Ashby changed after the delete was applied (the object exists after all) does come back
        after = (await conn.fetchval("select deleted_at from candidates where id = 'c1'")) + timedelta(seconds=1)
        newer = await mirror.upsert_page(
            conn, "candidates", account_id, [candidate("c1", after.isoformat().replace("+00:00", "Z"))]
        )
        row = await conn.fetchrow("select name, deleted_at, deleted_by from candidates where id = 'c1'")
    assert (newer.written, newer.stale) == (1, 0)
    assert dict(row) == {"name": "Ada Lovelace", "deleted_at": None, "deleted_by": None}


@pytest.mark.parametrize("from_body", [False, True], ids=["objects", "body"])
async def test_without_updated_at_the_version_read_last_from_ashby_wins(db, account_id, from_body) -> None:
    # Ashby's offers (and openings, sources...) have no updatedAt: a sync page read before a webhook's `.info` read
    # but written after it must not undo it; one read after it replaces it.
    def offer(status: str) -> dict:
        return {"id": "o1", "applicationId": "a1", "acceptanceStatus": status}

    def body(obj: dict) -> bytes | None:
        return orjson.dumps({"success": True, "results": [obj]}) if from_body else None

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.acquire() as conn:

        async def write(status: str, read: datetime) -> mirror.UpsertResult:
            obj = offer(status)
            return await mirror.upsert_page(conn, "offers", account_id, [obj], page_body=body(obj), fetched_at=read)

        assert (await write("Accepted", t0 + timedelta(seconds=2))).written == 1  # the webhook's `.info`
        late = await write("Pending", t0 + timedelta(seconds=1))  # a sync page read a second before it
        assert (late.written, late.stale) == (0, 1)
        assert await conn.fetchval("select acceptance_status from offers where id = 'o1'") == "Accepted"
        newer = await write("Declined", t0 + timedelta(seconds=3))
        assert (newer.written, newer.stale) == (1, 0)
        row = await conn.fetchrow("select acceptance_status, raw, fetched_at from offers where id = 'o1'")
    assert (row["acceptance_status"], row["raw"]["acceptanceStatus"]) == ("Declined", "Declined")
    assert row["fetched_at"] == t0 + timedelta(seconds=3)


async def test_an_object_without_updated_at_deleted_by_a_webhook_stays_deleted(db, account_id) -> None:
    offer = {"id": "o1", "applicationId": "a1", "acceptanceStatus": "Pending"}  # Ashby's offers have no updatedAt
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "offers", account_id, [offer])
        await mirror.mark_deleted(conn, "offers", account_id, ["o1"])  # offerDelete
        await mirror.upsert_page(conn, "offers", account_id, [offer])
        assert await conn.fetchval("select deleted_at from offers where id = 'o1'") is not None


async def test_a_row_a_full_pass_did_not_see_comes_back_when_listed_again(db, account_id) -> None:
    listed = candidate("c1", "2025-01-01T00:00:00Z")
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [listed])
        later = await conn.fetchval("select now() + interval '1 second'")
        assert await mirror.soft_delete_unseen(conn, "candidates", account_id, later) == 1
        assert await conn.fetchval("select deleted_by from candidates where id = 'c1'") == "sync"
        again = await mirror.upsert_page(conn, "candidates", account_id, [listed])  # Ashby lists it after all
        row = await conn.fetchrow("select name, deleted_at, deleted_by from candidates where id = 'c1'")
    assert (again.written, again.stale) == (1, 0)
    assert dict(row) == {"name": "Ada Lovelace", "deleted_at": None, "deleted_by": None}


async def test_a_delete_of_an_object_not_mirrored_yet_leaves_a_tombstone_no_late_write_gets_past(
    db, account_id
) -> None:
    listed = candidate("c1", "2025-01-01T00:00:00Z")
    async with db.acquire() as conn:
        assert await mirror.mark_deleted(conn, "candidates", account_id, ["c1"]) == 0  # nothing live to mark
        tombstone = await conn.fetchrow("select raw, name, deleted_at, deleted_by from candidates where id = 'c1'")
        late_webhook = await mirror.upsert_page(conn, "candidates", account_id, [listed], revive_deleted=False)
        late_page = await mirror.upsert_page(conn, "candidates", account_id, [listed])
        row = await conn.fetchrow("select raw, name, deleted_at from candidates where id = 'c1'")
    assert (tombstone["raw"], tombstone["name"], tombstone["deleted_by"]) == ({"id": "c1"}, None, "webhook")
    assert tombstone["deleted_at"] is not None
    assert (late_webhook.stale, late_page.stale) == (1, 1)
    assert dict(row) == {"raw": {"id": "c1"}, "name": None, "deleted_at": tombstone["deleted_at"]}


async def test_a_deleted_candidates_applications_the_mirror_never_saw_are_tombstoned(db, account_id) -> None:
    app = {"id": "a2", "updatedAt": "2025-01-01T00:00:00Z", "candidate": {"id": "c1", "name": "Ada Lovelace"}}
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [candidate("c1", "2025-01-01T00:00:00Z")])
        await merges.delete_candidate(conn, account_id, "c1")  # lists a1 and a2; neither is mirrored yet
        late = await mirror.upsert_page(conn, "applications", account_id, [app], revive_deleted=False)
        rows = await conn.fetch("select id, raw, deleted_at from applications order by id")
    assert late.stale == 1
    assert [(r["id"], r["raw"], r["deleted_at"] is not None) for r in rows] == [
        ("a1", {"id": "a1"}, True),
        ("a2", {"id": "a2"}, True),
    ]


async def test_a_delete_applied_while_a_page_inserts_the_row_waits_for_it_and_marks_it(db, account_id) -> None:
    async with db.acquire() as page, db.acquire() as webhook:
        async with page.transaction():  # a sync page inserting c9, not committed yet
            await mirror.upsert_page(page, "candidates", account_id, [candidate("c9", "2025-01-01T00:00:00Z")])
            delete = asyncio.create_task(mirror.mark_deleted(webhook, "candidates", account_id, ["c9"]))
            await lock_waiters(db)
        assert await delete == 1
        row = await page.fetchrow("select name, raw, deleted_at from candidates where id = 'c9'")
    assert (row["name"], row["raw"]) == (None, {"id": "c9"})
    assert row["deleted_at"] is not None


async def test_deleting_a_candidate_leaves_a_listed_application_that_belongs_to_another_now(db, account_id) -> None:
    moved = {"id": "a1", "updatedAt": "2025-01-02T00:00:00Z", "candidate": {"id": "c2", "name": "Grace Hopper"}}
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [candidate("c1", "2025-01-01T00:00:00Z")])
        await mirror.upsert_page(conn, "applications", account_id, [moved])  # merged into c2 since c1's row was read
        await merges.delete_candidate(conn, account_id, "c1")  # c1's row still lists a1 and a2
        rows = {r["id"]: r["deleted_at"] for r in await conn.fetch("select id, deleted_at from applications")}
    assert rows["a1"] is None
    assert rows["a2"] is not None  # never mirrored: tombstoned


async def test_a_row_a_full_pass_deleted_then_ashby_deleted_is_not_revived_by_a_page_from_between(
    db, account_id
) -> None:
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [candidate("c1", "2025-01-01T00:00:00Z")])
        later = await conn.fetchval("select now() + interval '1 second'")
        await mirror.soft_delete_unseen(conn, "candidates", account_id, later)  # a full pass missed it
        missed_at = await conn.fetchval("select deleted_at from candidates where id = 'c1'")
        between = candidate("c1", (missed_at + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z"))
        await mirror.mark_deleted(conn, "candidates", account_id, ["c1"])  # then Ashby reported the delete
        late = await mirror.upsert_page(conn, "candidates", account_id, [between])  # a page fetched before it
        row = await conn.fetchrow("select name, deleted_at, deleted_by from candidates where id = 'c1'")
    assert late.stale == 1
    assert (row["name"], row["deleted_by"]) == (None, "webhook")
    assert row["deleted_at"] > missed_at


async def test_deleting_a_candidate_clears_what_hangs_off_its_already_deleted_applications(db, account_id) -> None:
    app = {"id": "a1", "updatedAt": "2025-01-01T00:00:00Z", "candidate": {"id": "c1", "name": "Ada Lovelace"}}
    feedback = {"id": "f1", "applicationId": "a1", "submittedValues": {"notes": "Ada was great"}}
    async with db.acquire() as conn:
        await mirror.upsert_page(conn, "candidates", account_id, [candidate("c1", "2025-01-01T00:00:00Z")])
        await mirror.upsert_page(conn, "applications", account_id, [app])
        await mirror.upsert_page(conn, "application_feedback", account_id, [feedback])
        later = await conn.fetchval("select now() + interval '1 second'")
        await mirror.soft_delete_unseen(conn, "applications", account_id, later)  # a full pass missed a1
        await merges.delete_candidate(conn, account_id, "c1")
        row = await conn.fetchrow("select raw, deleted_at from application_feedback where id = 'f1'")
    assert row["raw"] == {"id": "f1"}
    assert row["deleted_at"] is not None


# Values a field of an Ashby object may hold, good and bad, for the two extractions to agree on.
_TIMESTAMPS = [
    "2024-01-08T05:25:43.656Z",
    "2024-01-08T05:25:43Z",
    "2024-01-08 05:25Z",
    "2024-01-08T05:25:43.123456+05:30",
    "2024-01-08T05:25:43-0800",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",  # no such day
    "2024-04-31T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T00:00:60Z",
    "2024-01-01T00:00:00.1234567Z",
    "2024-01-01T00:00:00+16:00",
    "2024-01-01T00:00:00",  # no zone
    "2024-01-01",
    "yesterday",
    # Ashby's own shape, which Postgres checks without the pattern: each must be judged as the pattern judges it
    "2024-13-01T00:00:00.000Z",
    "2024-00-10T00:00:00.000Z",
    "0000-01-01T00:00:00.000Z",
    "2024-01-00T00:00:00.000Z",
    "2024-01-32T00:00:00.000Z",
    "2023-02-29T00:00:00.000Z",
    "2024-01-01T24:00:00.000Z",
    "2024-01-01T00:60:00.000Z",
    "2024-01-01T00:00:60.000Z",
    "2024-01-01T00:00:00.00aZ",
    "2024-01-01T00:00:00.000z",
    "2024-01-01X00:00:00.000Z",
    "2024-12-31T23:59:59.999Z",
    "2024-01-08T05:25:43.656Z" + " " * 60,
]
_SCALARS: list[object] = [None, True, False, 0, -7, 2**31 - 1, 2**31, 12345678901234567, 1.5, -0.25, 1.5e300, 0.1]
_SCALARS += ["", "x", "Zoë 日本", 'say "hi"', "back\\slash", "x" * 1000, "x" * 1001, [], ["a"], {}, {"value": "v"}]
_SCALARS += ["é" * 500, "é" * 500 + "x", "日" * 250, "日" * 333 + "é", "日" * 334]  # MAX_TEXT is in bytes


def _shape(rng: random.Random) -> object:
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(_TIMESTAMPS)
    if pick < 0.9:
        return rng.choice(_SCALARS)
    items = [
        rng.choice([*_SCALARS, {"value": "a@b.c"}, {"title": "T"}, {"id": "i1"}]) for _ in range(rng.randint(0, 4))
    ]
    return items


def _random_object(rng: random.Random, table: str, n: int) -> dict:
    obj: dict = {"id": f"r{n % 37}"}  # ids repeat: duplicates in a page
    if rng.random() < 0.05:
        obj["id"] = rng.choice([None, "", 5, "x" * 256, ["r1"]])
    if rng.random() < 0.9:
        obj["updatedAt"] = rng.choice(_TIMESTAMPS[:6]) if rng.random() < 0.8 else _shape(rng)
    for col in TABLES[table].columns:
        source = col.source
        if source.kind == "search" or rng.random() < 0.2:
            continue
        path = source.path
        if source.kind == "texts":
            value: object = [
                ({k: _shape(rng) for k in source.item_path} if source.item_path and rng.random() < 0.8 else _shape(rng))
                for _ in range(rng.randint(0, 3))
            ]
            if rng.random() < 0.1:
                value = _shape(rng)
        else:
            value = _shape(rng)
        if rng.random() < 0.05 and len(path) > 1:
            obj[path[0]] = rng.choice(["flat", 3, []])  # the parent is not an object
            continue
        at = obj
        for key in path[:-1]:
            at = at.setdefault(key, {})
            if not isinstance(at, dict):
                break
        else:
            at[path[-1]] = value
    for key in ("name", "company", "position", "school"):  # what the candidate search document reads
        if table == "candidates" and key not in obj and rng.random() < 0.5:
            obj[key] = _shape(rng)
    return obj


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_postgres_reads_page_bodies_exactly_as_python_reads_their_objects(db, account_id, table) -> None:
    rng = random.Random(table)
    objects = [_random_object(rng, table, n) for n in range(400)]
    # several pages in one statement, as a pass writes the pages it has queued: uneven, one of a single object
    bodies = [orjson.dumps({"success": True, "results": objects[a:b]}) for a, b in ((0, 150), (150, 151), (151, 400))]
    assert all(mirror.parses_as_sent(b) for b in bodies)
    other = await new_account(db, "other")
    async with db.acquire() as conn:
        by_python = await mirror.upsert_page(conn, table, account_id, objects)
        by_postgres = await mirror.upsert_bodies(conn, table, other, bodies)
        expected, got = await _rows(conn, table, account_id), await _rows(conn, table, other)
    assert got == expected
    assert by_postgres == by_python
    assert by_python.rejected  # the shapes above really include bad fields


@pytest.mark.parametrize("as_body", [False, True])
async def test_an_upsert_names_the_rows_that_replaced_a_held_version(db, account_id, as_body) -> None:
    def page(*objs: dict) -> dict:
        body = orjson.dumps({"success": True, "results": list(objs)}) if as_body else None
        return {"objects": list(objs), "page_body": body}

    async with db.acquire() as conn:
        first = await mirror.upsert_page(
            conn, "candidates", account_id, **page(candidate("c1", "2024-01-02T00:00:00Z"))
        )
        again = page(candidate("c1", "2024-01-03T00:00:00Z"), candidate("c2", "2024-01-03T00:00:00Z"))
        second = await mirror.upsert_page(conn, "candidates", account_id, **again)
        stale = await mirror.upsert_page(
            conn, "candidates", account_id, **page(candidate("c1", "2024-01-01T00:00:00Z"))
        )
    assert (first.written, first.replaced) == (1, ())  # inserted
    assert (second.written, second.replaced) == (2, ("c1",))  # c1 replaced, c2 inserted
    assert (stale.written, stale.stale, stale.replaced) == (0, 1, ())


@pytest.mark.parametrize("as_body", [False, True])
async def test_an_upsert_names_the_inserted_rows_ashby_changed_since_the_account_was_added(
    db, account_id, as_body
) -> None:
    now = datetime.now(UTC)
    within_margin = now - timedelta(seconds=mirror.CLOCK_MARGIN_S - 60)  # Ashby's clock a little behind this one
    objs = [
        candidate("old", "2024-01-02T00:00:00Z"),
        candidate("new", now.isoformat().replace("+00:00", "Z")),
        candidate("skewed", within_margin.isoformat().replace("+00:00", "Z")),
    ]
    body = orjson.dumps({"success": True, "results": objs}) if as_body else None
    async with db.acquire() as conn:
        first = await mirror.upsert_page(conn, "candidates", account_id, objs, page_body=body)
        again = await mirror.upsert_page(conn, "candidates", account_id, objs[1:], page_body=None)
    assert sorted(first.recent_inserts) == ["new", "skewed"]
    assert (sorted(again.replaced), again.recent_inserts) == (["new", "skewed"], ())  # replaced, not inserted
