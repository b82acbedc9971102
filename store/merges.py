"""Candidate lifecycle in the mirror: applications that follow a merged candidate, or go with a deleted one."""

import uuid
from collections.abc import Mapping
from typing import Any

from store import mirror
from store.pool import Conn


async def candidate_application_ids(conn: Conn, account_id: uuid.UUID, candidate_id: str) -> list[str]:
    """The ids of a candidate's live applications in the mirror, sorted."""
    rows = await conn.fetch(
        """select id from applications where account_id = $1 and candidate_id = $2 and deleted_at is null
           order by id""",
        account_id,
        candidate_id,
    )
    return [r["id"] for r in rows]


async def move_applications(
    conn: Conn, account_id: uuid.UUID, from_candidate_id: str, to_candidate: Mapping[str, Any]
) -> list[str]:
    """Point the live applications of `from_candidate_id` at `to_candidate` (its summary: id, name, contacts).

    Only `candidate_id` and the embedded `candidate` of `raw` change; `updated_at` stays, so the next sync
    page of each application (Ashby gives it a newer `updatedAt` for the merge) still replaces the row whole.
    """
    rows = await conn.fetch(
        """update applications set candidate_id = $3, raw = jsonb_set(raw, '{candidate}', $4::jsonb)
           where account_id = $1 and candidate_id = $2 and deleted_at is null
           returning id""",
        account_id,
        from_candidate_id,
        to_candidate["id"],
        dict(to_candidate),
    )
    return sorted(r["id"] for r in rows)


async def delete_candidate(conn: Conn, account_id: uuid.UUID, candidate_id: str) -> tuple[int, int]:
    """Mark a candidate and its applications deleted, clearing their PII; returns (candidates, applications).

    Ashby deletes a candidate's applications with it, and each embeds the candidate's name and contacts.
    """
    app_ids = await candidate_application_ids(conn, account_id, candidate_id)
    apps = await mirror.mark_deleted(conn, "applications", account_id, app_ids)
    candidates = await mirror.mark_deleted(conn, "candidates", account_id, [candidate_id])
    return candidates, apps
