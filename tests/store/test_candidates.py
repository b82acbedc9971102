import uuid

import pytest

from store import mirror
from store.candidates import search_candidates
from tests.helpers import new_account

UPDATED = "2024-03-01T10:00:00.000Z"


def _candidate(cid: str, name: str, email: str, *, company: str = "Initech", tag: str = "Backend") -> dict:
    return {
        "id": cid,
        "updatedAt": UPDATED,
        "name": name,
        "company": company,
        "primaryEmailAddress": {"value": email, "type": "Work", "isPrimary": True},
        "emailAddresses": [{"value": email, "type": "Work", "isPrimary": True}],
        "tags": [{"id": f"tag-{tag.lower()}", "title": tag, "isArchived": False}],
    }


@pytest.fixture
async def account_id(db) -> uuid.UUID:
    account = await new_account(db)
    async with db.acquire() as conn:
        page = [
            _candidate("c1", "Grace Hopper", "grace.hopper@example.com", tag="Compilers"),
            _candidate("c2", "Alan Turing", "alan@example.org", company="Bletchley"),
            _candidate("c3", "Edsger Dijkstra", "ewd@example.net"),
        ]
        await mirror.upsert_page(conn, "candidates", account, page)
    return account


async def test_search_finds_candidates_by_any_word_of_their_document(db, account_id) -> None:
    async with db.acquire() as conn:
        assert [h.id for h in await search_candidates(conn, account_id, "hopper")] == ["c1"]
        assert [h.id for h in await search_candidates(conn, account_id, "compilers")] == ["c1"]  # a tag title
        assert [h.id for h in await search_candidates(conn, account_id, "bletchley")] == ["c2"]  # the employer
        assert [h.id for h in await search_candidates(conn, account_id, "initech")] == ["c1", "c3"]
        assert await search_candidates(conn, account_id, "babbage") == []


async def test_search_falls_back_to_fuzzy_names_and_emails(db, account_id) -> None:
    async with db.acquire() as conn:
        misspelt = await search_candidates(conn, account_id, "Edsgar Dijkstra")
        assert [h.id for h in misspelt] == ["c3"]
        assert 0 < misspelt[0].rank < 1
        by_email = await search_candidates(conn, account_id, "grace.hoper@example")
        assert [h.id for h in by_email] == ["c1"]


async def test_search_sees_neither_deleted_candidates_nor_other_accounts(db, account_id) -> None:
    async with db.acquire() as conn:
        other = await new_account(db, "globex")
        await mirror.upsert_page(conn, "candidates", other, [_candidate("x1", "Grace Hopper", "g@example.com")])
        await conn.execute("update candidates set deleted_at = now() where account_id = $1 and id = 'c1'", account_id)
        assert await search_candidates(conn, account_id, "hopper") == []
        assert [h.id for h in await search_candidates(conn, other, "hopper")] == ["x1"]


@pytest.mark.parametrize(
    "predicate",
    [
        "search @@ plainto_tsquery('simple', 'hopper')",
        "name % 'Grace Hoper'",
        "primary_email % 'grace.hoper@example'",
        "name ilike '%race%'",
        "tag_ids @> array['tag-compilers']",
    ],
)
async def test_every_search_predicate_is_answered_from_an_index(db, account_id, predicate) -> None:
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("set local enable_seqscan = off")  # three rows: only the index's availability is at stake
        plan = "\n".join(r[0] for r in await conn.fetch(f"explain select id from candidates where {predicate}"))
        rows = await conn.fetch(f"select id from candidates where {predicate}")
    assert "Seq Scan" not in plan, plan
    assert "Index Scan on candidates_" in plan, plan
    assert [r["id"] for r in rows] == ["c1"]
