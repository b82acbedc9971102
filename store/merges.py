"""Applications moved in the mirror: with a merged candidate, with a deleted one, or to a job's new interview plan;
and the candidate they embed kept to the candidate's current name and contacts."""

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
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


# The personal data an application embeds of its candidate (`candidate` of its raw object).
EMBEDDED_CANDIDATE_PII = ("name", "primaryEmailAddress", "primaryPhoneNumber")


# Applications whose embedded candidate is compared with the mirrored one: `{applications}` selects their id,
# candidate_id and embedded `candidate`; $1 is the account and $2 the keys refreshed (EMBEDDED_CANDIDATE_PII).
_REFRESH_EMBEDDED = """with embedding as (
  {applications}
  offset 0
), stale as (
  -- compared on the candidate's typed columns first: its raw object is read only where they differ
  select e.id, (e.embedded - $2::text[])
           || coalesce((select jsonb_object_agg(k, c.raw->k) from unnest($2::text[]) as k
                        where jsonb_typeof(c.raw->k) <> 'null'), '{{}}') as embedded
  from embedding e
  join candidates c on c.account_id = $1 and c.id = e.candidate_id and c.deleted_at is null
  where jsonb_typeof(e.embedded) = 'object'
    and (e.embedded->>'name' is distinct from c.name
         or e.embedded->'primaryEmailAddress'->>'value' is distinct from c.primary_email
         or e.embedded->'primaryPhoneNumber'->>'value' is distinct from c.primary_phone)
  offset 0
)
update applications a set raw = jsonb_set(a.raw, '{{candidate}}', s.embedded)
from stale s
where a.account_id = $1 and a.id = s.id and a.raw->'candidate' is distinct from s.embedded"""

_BY_IDS = _REFRESH_EMBEDDED.format(
    applications="""select a.id, a.candidate_id, a.raw->'candidate' as embedded
  from applications a
  where a.account_id = $1 and a.deleted_at is null and (a.candidate_id = any($3) or a.id = any($4))"""
)

_OF_CANDIDATES_CHANGED_SINCE = _REFRESH_EMBEDDED.format(
    applications="""select a.id, a.candidate_id, a.raw->'candidate' as embedded
  from candidates r
  join applications a on a.account_id = $1 and a.candidate_id = r.id and a.deleted_at is null
  where r.account_id = $1 and r.updated_at >= $3 and r.deleted_at is null"""
)


async def refresh_embedded_candidates(
    conn: Conn,
    account_id: uuid.UUID,
    *,
    candidate_ids: Collection[str] = (),
    application_ids: Collection[str] = (),
) -> int:
    """Give live applications their mirrored candidate's current name and primary contacts; returns rows changed.

    For the applications of `candidate_ids` (just written) and the applications `application_ids` (just written).
    Ashby serves an application with its candidate's current summary but does not change the application's
    `updatedAt` for it, so an anonymised or renamed candidate would otherwise leave its old name, email and phone
    in applications the incremental passes never list again. A key the candidate no longer has (or has as null) is
    removed; the embedded object's other keys, the typed columns and `updated_at` stay.
    """
    if not candidate_ids and not application_ids:
        return 0
    keys = list(EMBEDDED_CANDIDATE_PII)
    status = await conn.execute(_BY_IDS, account_id, keys, list(candidate_ids), list(application_ids))
    return int(status.split()[-1])  # UPDATE n


async def refresh_embedded_of_candidates_changed_since(conn: Conn, account_id: uuid.UUID, since: datetime) -> int:
    """`refresh_embedded_candidates` for the applications of every candidate whose `updatedAt` is `since` or later.

    What a page's own refresh cannot see: a candidate page and an application page committing at the same moment,
    each refreshing before the other's rows are visible, or an application fetched before its candidate changed
    and written after the change was. A pass ends with this, from its start (less `mirror.CLOCK_MARGIN_S`): the
    candidates it concerns changed during the pass, so there are few, found by their `updated_at` index.
    """
    status = await conn.execute(_OF_CANDIDATES_CHANGED_SINCE, account_id, list(EMBEDDED_CANDIDATE_PII), since)
    return int(status.split()[-1])  # UPDATE n


async def refresh_embedded(conn: Conn, table_name: str, account_id: uuid.UUID, ids: Collection[object]) -> int:
    """`refresh_embedded_candidates` for rows of `table_name` just written (a page, a webhook's object)."""
    written = [i for i in ids if type(i) is str]
    if table_name == "candidates":
        return await refresh_embedded_candidates(conn, account_id, candidate_ids=written)
    if table_name == "applications":
        return await refresh_embedded_candidates(conn, account_id, application_ids=written)
    return 0


async def delete_candidate(conn: Conn, account_id: uuid.UUID, candidate_id: str) -> int:
    """Mark a candidate deleted with all that hangs off its applications, clearing PII; returns the rows marked.

    Ashby deletes a candidate's applications with it, and with them their offers, interview schedules (and their
    events) and feedback; each application embeds the candidate's name and contacts, and feedback its answers.
    """
    # Its applications in the mirror, and those its own row lists: tombstoned when the mirror has no row for them
    # yet, their children cleared when already deleted. One the mirror holds under another candidate (moved by a
    # merge) is not this candidate's any more.
    listed = await conn.fetch(
        """select i.id from candidates c, unnest(c.application_ids) as i(id)
           where c.account_id = $1 and c.id = $2
             and not exists (
               select 1 from applications a where a.account_id = $1 and a.id = i.id and a.candidate_id <> $2
             )""",
        account_id,
        candidate_id,
    )
    app_ids = sorted({*await candidate_application_ids(conn, account_id, candidate_id), *(r["id"] for r in listed)})
    marked = await mirror.mark_deleted(conn, "applications", account_id, app_ids)
    for table in ("offers", "application_feedback"):
        marked += len(await mirror.mark_deleted_children(conn, table, account_id, "application_id", app_ids))
    schedules = await mirror.mark_deleted_children(conn, "interview_schedules", account_id, "application_id", app_ids)
    events = await mirror.mark_deleted_children(
        conn, "interview_events", account_id, "interview_schedule_id", schedules
    )
    marked += len(schedules) + len(events)
    return marked + await mirror.mark_deleted(conn, "candidates", account_id, [candidate_id])


# What an application embeds of its stage (`currentInterviewStage`), read from the stage's mirrored object.
_STAGE_SUMMARY_KEYS = ("id", "title", "type", "orderInInterviewPlan", "interviewStageGroupId", "interviewPlanId")


async def move_to_stages(conn: Conn, account_id: uuid.UUID, job_id: str, mapping: Mapping[str, str]) -> list[str]:
    """Move the job's live applications from each stage of `mapping` to the stage it maps to (a plan switch).

    The stage columns and the embedded `currentInterviewStage` of `raw` change (from the new stage's mirrored
    object, or its id alone when that is not mirrored yet); `updated_at` stays, so any version Ashby sends
    later replaces the row whole. Returns the ids moved.
    """
    if not mapping:
        return []
    summary = ", ".join(f"'{k}', s.raw -> '{k}'" for k in _STAGE_SUMMARY_KEYS)
    rows = await conn.fetch(
        f"""with m(from_id, to_id) as (select * from unnest($3::text[], $4::text[]))
            update applications a set
              stage_id = m.to_id,
              stage_title = s.raw ->> 'title',
              stage_type = s.raw ->> 'type',
              raw = jsonb_set(
                a.raw, '{{currentInterviewStage}}',
                case when s.id is null then jsonb_build_object('id', m.to_id)
                     else jsonb_strip_nulls(jsonb_build_object({summary})) end
              )
            from m left join interview_stages s
              on s.account_id = $1 and s.id = m.to_id and s.deleted_at is null
            where a.account_id = $1 and a.job_id = $2 and a.stage_id = m.from_id and a.deleted_at is null
            returning a.id""",
        account_id,
        job_id,
        list(mapping),
        list(mapping.values()),
    )
    return sorted(r["id"] for r in rows)
