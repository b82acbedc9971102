"""Candidate search over the mirror: full text (names, contacts, employer, school, tags) and fuzzy names/emails."""

import uuid
from dataclasses import dataclass

from store.pool import Conn


@dataclass(frozen=True, slots=True)
class CandidateHit:
    id: str
    name: str | None
    primary_email: str | None
    company: str | None
    rank: float


async def search_candidates(conn: Conn, account_id: uuid.UUID, query: str, *, limit: int = 20) -> list[CandidateHit]:
    """Live candidates matching `query` as words (full text) or, failing that, as a fuzzy name or email."""
    rows = await conn.fetch(
        """select id, name, primary_email, company, ts_rank(search, q) as rank
           from candidates, plainto_tsquery('simple', $2) as q
           where account_id = $1 and deleted_at is null and search @@ q
           order by rank desc, id limit $3""",
        account_id,
        query,
        limit,
    )
    if not rows:
        rows = await conn.fetch(
            """select id, name, primary_email, company,
                      greatest(similarity(name, $2), similarity(primary_email, $2)) as rank
               from candidates
               where account_id = $1 and deleted_at is null and (name % $2 or primary_email % $2)
               order by rank desc, id limit $3""",
            account_id,
            query,
            limit,
        )
    return [CandidateHit(r["id"], r["name"], r["primary_email"], r["company"], float(r["rank"])) for r in rows]
