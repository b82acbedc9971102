"""Applying one stored Ashby webhook event to the mirror: newer-wins upserts, deletes and merges in one transaction.

Ashby reads come first (an object the payload carries only in part, by id, or without `updatedAt` is re-read
with its `.info` call); the transaction then locks the inbox row, writes, and marks the event done, so an
event is applied at most once however often it is delivered or enqueued (DESIGN.md invariants 4, 5 and 7).

Ordering: objects with `updatedAt` are ordered by it (a late delivery never overwrites newer data). Ashby's
offers and openings have no `updatedAt`; they are always re-read with `.info` at apply time, which is at
least as new as the event, so a late delivery writes the current state rather than its stale payload.
"""

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from structlog.contextvars import bound_contextvars

from ashby_api.client import INFO_ID_PARAM
from ashby_api.errors import NotFound
from ashby_api.resources import BY_NAME
from core.errors import AppError
from core.queue import DRAIN_LINGER_S
from store import inbox, merges, mirror
from store.inbox import APPLIED, SKIPPED, InboxKey
from store.mirror_tables import Obj
from store.pool import Conn, commit_without_waiting_for_disk
from sync.passes import SyncContext

log = structlog.get_logger(__name__)

# What a payload object must carry to be stored as it is; otherwise it is re-read with `.info`.
# `updatedAt` orders versions (newer wins); the rest feed the table's typed columns.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "applications": ("id", "updatedAt", "createdAt", "status", "candidate", "currentInterviewStage", "job"),
    "offers": ("id", "updatedAt", "applicationId", "acceptanceStatus"),
    "jobs": ("id", "updatedAt", "title", "status"),
    "job_postings": ("id", "updatedAt", "jobId", "title"),
    "interview_schedules": ("id", "updatedAt", "applicationId", "status"),
    "interview_events": ("id", "updatedAt", "interviewScheduleId"),
    "openings": ("id", "updatedAt", "openingState"),
    "candidates": ("id", "updatedAt", "name"),
}
NOT_MIRRORED = frozenset(
    {
        "surveySubmit",
        "signatureRequestUpdate",
        "takeHomeAssignmentAssigned",
        "takeHomeAssignmentCancelled",
        "takeHomeAssignmentCompleted",
        "takeHomeAssignmentSubmitted",
    }
)


class MalformedWebhookError(AppError):
    """A stored event cannot be applied as it is: not JSON, not Ashby's envelope, or an object without an id."""


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    webhook_action_id: str = Field(alias="webhookActionId", min_length=1)
    action: str = Field(min_length=1)
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Merge:
    """candidateMerge: `deleted_id`'s applications move to `kept` (the surviving candidate, as `.info` gave it).

    The applications are upserted as `.info` gave them; moving catches those mirrored since they were read.
    """

    deleted_id: str
    kept_id: str
    kept: Obj | None  # None: Ashby no longer knows the survivor (merged again since); only its id is embedded


@dataclass(slots=True)
class Changes:
    """What one event does to the mirror, worked out (Ashby reads included) before any transaction opens."""

    upserts: list[tuple[str, Obj]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    deleted_candidates: list[str] = field(default_factory=list)
    # (schedule id, the ids of the events it lists): its other events were removed, once this version is stored
    schedule_events: list[tuple[str, list[str]]] = field(default_factory=list)
    # (job id, {from stage id: to stage id}): the job switched plans, and its applications moved with the mapping
    stage_moves: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    merge: Merge | None = None
    skip_reason: str | None = None
    fetched: int = 0


@dataclass(slots=True)
class _Tally:
    written: int = 0
    stale: int = 0
    deleted: int = 0
    moved: int = 0


def parse_event(body: bytes, key: InboxKey) -> _Envelope:
    """The envelope of a stored body; MalformedWebhookError when it is not one, or not this event's."""
    try:
        envelope = _Envelope.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise MalformedWebhookError(f"{key.action} {key.webhook_action_id}: not an Ashby webhook envelope") from exc
    if envelope.action != key.action or envelope.webhook_action_id != key.webhook_action_id:
        raise MalformedWebhookError(f"{key.action} {key.webhook_action_id}: the body names another event")
    return envelope


async def apply_event(ctx: SyncContext, key: InboxKey) -> str:
    """Apply one stored event to the mirror, at most once; returns its outcome for the job's log.

    Raises:
        MalformedWebhookError: the stored body cannot be applied (retrying will not help).
        AshbyError: an `.info` read failed (`retryable` says whether a retry may succeed).
    """
    with bound_contextvars(
        account_id=str(key.account_id), webhook_action=key.action, webhook_action_id=key.webhook_action_id
    ):
        return await _apply(ctx, key)


PLAN_CONCURRENCY = 8  # events of a drain batch planned at once (Ashby reads, and the pool reads of merges)


@dataclass(slots=True)
class Drained:
    """What one drain did: events applied, events left to their own job, and whether it stopped with more due."""

    applied: int = 0
    deferred: list[InboxKey] = field(default_factory=list)
    more: bool = False


async def drain_pending(
    ctx: SyncContext,
    *,
    on_locked: Callable[[], Awaitable[None]] | None = None,
    lock_wait_s: float = 60.0,
    batch: int = 200,
    limit: int = 2000,
    linger_s: float = DRAIN_LINGER_S,
    poll_s: float = 0.01,
) -> Drained | None:
    """Apply the account's pending events in batches, one transaction each; None when the lock never came free.

    One drain runs per account at a time (a Postgres advisory lock, waited for up to `lock_wait_s`); `on_locked`
    runs once it is held, before the first read of the inbox. The drain then reads the inbox every `poll_s`
    until a read begun `linger_s` after `on_locked` returned, and after the last event it saw, finds nothing
    (the receiver relies on this: see `core.queue`). An event it cannot plan (malformed, its `.info` read
    failed, or a bug) or whose batch fails to write is returned in `deferred`, for a job of its own that
    retries it with backoff and records the failure. Once `limit` events are applied it stops as soon as more
    are pending, with `more` set: the caller queues the next drain.
    """
    drained = Drained()
    tried: set[InboxKey] = set()
    planning = asyncio.Semaphore(PLAN_CONCURRENCY)
    loop = asyncio.get_running_loop()
    async with inbox.drain_lock(ctx.pool, ctx.account_id, wait_s=lock_wait_s) as locked:
        if not locked:
            return None
        if on_locked is not None:
            await on_locked()
        idle_since = loop.time()
        while True:
            read_at = loop.time()  # what is committed by now, this read sees
            async with ctx.pool.acquire() as conn:
                pending = await inbox.list_pending_events(conn, ctx.account_id, limit=batch)
            events = [e for e in pending if e.key not in tried]
            if not events:
                if read_at - idle_since >= linger_s:
                    break
                await asyncio.sleep(poll_s)
                continue
            if drained.applied >= limit:
                drained.more = True
                break
            idle_since = read_at
            tried.update(e.key for e in events)
            # Planned side by side: the `.info` reads some events need overlap (the client caps them per account).
            plans = await asyncio.gather(*(_plan_event(ctx, e, planning) for e in events))
            planned = [(e.key, changes) for e, changes in zip(events, plans, strict=True) if changes is not None]
            drained.deferred += [e.key for e, changes in zip(events, plans, strict=True) if changes is None]
            try:
                drained.applied += await _write_batch(ctx, planned)
            except asyncpg.PostgresError as exc:  # one event Postgres refuses fails its batch: each goes alone
                log.warning("webhook_drain_batch_failed", events=len(planned), error=type(exc).__name__)
                drained.deferred += [key for key, _ in planned]
    return drained


async def _plan_event(ctx: SyncContext, event: inbox.InboxEvent, planning: asyncio.Semaphore) -> Changes | None:
    """The event's changes, or None (logged) when it must go to a job of its own."""
    try:
        envelope = parse_event(event.body, event.key)
        async with planning:
            return await plan_changes(ctx, event.key.action, envelope.data)
    except Exception as exc:  # noqa: BLE001 - its own job retries it, or records the crash on it
        log.info("webhook_drain_deferred", webhook_action_id=event.key.webhook_action_id, error=type(exc).__name__)
        return None


async def _write_batch(ctx: SyncContext, planned: list[tuple[InboxKey, Changes]]) -> int:
    """Write planned events in one transaction; those a concurrent job holds are left to it. Returns how many."""
    done = 0
    async with ctx.pool.acquire() as conn, conn.transaction():
        await commit_without_waiting_for_disk(conn)  # if lost, the rows are still pending: applied again
        mine = await inbox.lock_pending_batch(conn, [k for k, _ in planned])
        for key, changes in planned:
            if key in mine:
                await write_changes(conn, ctx, changes)
                await inbox.mark_done(conn, key, SKIPPED if changes.skip_reason else APPLIED)
                done += 1
    return done


async def _apply(ctx: SyncContext, key: InboxKey) -> str:
    started = time.monotonic()
    async with ctx.pool.acquire() as conn:
        event = await inbox.get_event(conn, key)
    if event is None:
        log.warning("webhook_apply_skipped", reason="not_in_inbox")
        return "not in the inbox"
    if event.status not in (inbox.PENDING, inbox.FAILED):
        log.info("webhook_apply_skipped", reason="already_done", status=event.status)
        return f"already {event.status}"
    envelope = parse_event(event.body, key)
    changes = await plan_changes(ctx, key.action, envelope.data)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await commit_without_waiting_for_disk(conn)  # if lost, the inbox row is still pending: applied again
        if await inbox.lock_pending(conn, key) is None:  # a concurrent apply of the same event won
            log.info("webhook_apply_skipped", reason="applied_concurrently")
            return "already applied"
        tally = await write_changes(conn, ctx, changes)
        await inbox.mark_done(conn, key, SKIPPED if changes.skip_reason else APPLIED)
    outcome = f"skipped: {changes.skip_reason}" if changes.skip_reason else "applied"
    log.info(
        "webhook_applied",
        outcome=SKIPPED if changes.skip_reason else APPLIED,
        reason=changes.skip_reason,
        record_ids=[oid for _, oid in _touched(changes)][:20],
        written=tally.written,
        stale=tally.stale,
        deleted=tally.deleted,
        moved=tally.moved,
        fetched=changes.fetched,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return outcome


def _touched(changes: Changes) -> list[tuple[str, str]]:
    ids = [(t, str(o.get("id"))) for t, o in changes.upserts] + list(changes.deletes)
    ids += [("candidates", c) for c in changes.deleted_candidates]
    if changes.merge is not None:
        ids += [("candidates", changes.merge.deleted_id), ("candidates", changes.merge.kept_id)]
    return ids


# Planning: parse the payload and read from Ashby what it lacks -------------------------------------------------


async def plan_changes(ctx: SyncContext, action: str, data: dict[str, Any]) -> Changes:
    """The mirror changes `action` with payload `data` asks for, with any `.info` reads already done."""
    changes = Changes()
    planner = PLANNERS.get(action)
    if planner is not None:
        await planner(ctx, changes, data, action)
    elif action in NOT_MIRRORED:
        changes.skip_reason = "stored only: the mirror has no table for it"
    elif action == "ping":
        changes.skip_reason = "ping"
    else:
        changes.skip_reason = "unknown action"
    return changes


Planner = Callable[[SyncContext, Changes, dict[str, Any], str], Awaitable[None]]


def _object_of(table: str, name: str) -> Planner:
    """The planner of an action whose payload is one object (`data[name]`) of a mirror table."""

    async def plan(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
        await _upsert(ctx, changes, table, _obj(data, name, action))

    return plan


async def _plan_hire(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    await _upsert(ctx, changes, "applications", _obj(data, "application", action))
    if data.get("offer") is not None:  # "the most recent accepted offer, if any"
        await _upsert(ctx, changes, "offers", _obj(data, "offer", action))


async def _plan_offer_delete(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    changes.deletes.append(("offers", _id(_obj(data, "offer", action), action)))


async def _plan_candidate_delete(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    changes.deleted_candidates.append(_id(_obj(data, "candidate", action), action))


async def _plan_plan_transition(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    # The payload names the job, its plans and how stages map; the job (defaultInterviewPlanId, ...) is re-read,
    # and the job's applications in a mapped stage move to the stage it maps to.
    job_id = _str(data, "jobId", action)
    await _refetch(ctx, changes, "jobs", job_id)
    mappings = data.get("interviewStageMappings")
    mapping: dict[str, str] = {}
    for m in mappings if type(mappings) is list else []:
        pair = (m.get("fromInterviewStageId"), m.get("toInterviewStageId")) if type(m) is dict else (None, None)
        match pair:
            case (str() as from_id, str() as to_id) if _usable_id(from_id) and _usable_id(to_id) and from_id != to_id:
                mapping[from_id] = to_id
    if set(mapping) & set(mapping.values()):
        # A stage both left and entered: applying the event twice would move some applications twice. Plans
        # never share stages, so this is not Ashby's shape; the next sync pass brings the stages instead.
        log.warning("webhook_stage_mapping_ignored", job_id=job_id, reason="chained stages")
    elif mapping:
        changes.stage_moves.append((job_id, mapping))


def _usable_id(value: str) -> bool:
    return 0 < len(value) <= mirror.MAX_ID


def _obj(data: dict[str, Any], name: str, action: str) -> dict[str, Any]:
    value = data.get(name)
    if type(value) is not dict:
        raise MalformedWebhookError(f"{action}: data.{name} is missing or not an object")
    _id(value, action)
    return value


def _id(obj: dict[str, Any], action: str) -> str:
    value = obj.get("id")
    if type(value) is not str or not value or len(value) > mirror.MAX_ID:
        raise MalformedWebhookError(f"{action}: an object without a usable id")
    return value


def _str(data: dict[str, Any], name: str, action: str) -> str:
    value = data.get(name)
    if type(value) is not str or not value or len(value) > mirror.MAX_ID:
        raise MalformedWebhookError(f"{action}: data.{name} is missing or not an id")
    return value


def is_complete(table: str, obj: Obj) -> bool:
    """True when `obj` carries what the mirror needs of a `table` object (else it is re-read with `.info`)."""
    return all(obj.get(k) is not None for k in REQUIRED_KEYS[table])


async def _upsert(ctx: SyncContext, changes: Changes, table: str, obj: dict[str, Any]) -> None:
    if is_complete(table, obj):
        changes.upserts.append((table, obj))
    else:
        await _refetch(ctx, changes, table, obj["id"])


async def _refetch(ctx: SyncContext, changes: Changes, table: str, record_id: str) -> None:
    """Read the current object with its `.info` call; Ashby not knowing it any more means it was deleted."""
    fetched = await fetch_info(ctx, table, record_id)
    changes.fetched += 1
    if fetched is None:
        changes.deletes.append((table, record_id))
    else:
        changes.upserts.append((table, fetched))


async def fetch_info(ctx: SyncContext, table: str, record_id: str) -> dict[str, Any] | None:
    """The object as `.info` returns it (unparsed, as the mirror stores it), or None when Ashby has no such id.

    Raises:
        AshbyError: the call failed after the context's retries.
    """
    endpoint = BY_NAME[table].info_endpoint
    assert endpoint is not None, table
    body = {INFO_ID_PARAM[endpoint]: record_id}
    try:
        payload = await ctx.retry(functools.partial(ctx.client.call, endpoint, body))
    except NotFound:
        return None
    results = payload.get("results")
    if type(results) is not dict or results.get("id") != record_id:
        raise MalformedWebhookError(f"{endpoint} answered without the object {record_id}")
    return results


async def _plan_posting_delete(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    # Ashby's layout is not in its spec yet: `jobPosting: {id, jobId}` (as Sim reads it) or flat ids.
    posting = data.get("jobPosting")
    source = posting if type(posting) is dict else data
    posting_id = source.get("id") or data.get("jobPostingId")
    if type(posting_id) is not str or not posting_id or len(posting_id) > mirror.MAX_ID:
        raise MalformedWebhookError(f"{action}: no job posting id")
    changes.deletes.append(("job_postings", posting_id))
    job_id = source.get("jobId") or data.get("jobId")
    if type(job_id) is str and job_id and len(job_id) <= mirror.MAX_ID:
        await _refetch(ctx, changes, "jobs", job_id)  # its jobPostingIds changed


async def _plan_schedule(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    # interviewSchedule has no `.info` endpoint: an incomplete payload waits for the next incremental pass.
    schedule = _obj(data, "interviewSchedule", action)
    if not is_complete("interview_schedules", schedule):
        changes.skip_reason = "incomplete interview schedule and no interviewSchedule.info to complete it"
        return
    changes.upserts.append(("interview_schedules", schedule))
    events = schedule.get("interviewEvents")
    if type(events) is not list:
        return
    listed: list[str] = []
    for event in events:
        if type(event) is not dict or type(event.get("id")) is not str:
            continue
        listed.append(event["id"])
        # The same objects interviewEvent.list returns; each is ordered by its own updatedAt.
        if is_complete("interview_events", event):
            changes.upserts.append(("interview_events", event))
    changes.schedule_events.append((schedule["id"], listed))


async def _plan_merge(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    deleted_id = _id(_obj(data, "deletedCandidate", action), action)
    kept_id = _id(_obj(data, "mergedCandidate", action), action)
    if deleted_id == kept_id:
        raise MalformedWebhookError(f"{action}: a candidate merged into itself")
    kept = await fetch_info(ctx, "candidates", kept_id)  # its applicationIds and fields changed with the merge
    changes.fetched += 1
    # The moved applications are re-read too: Ashby gave each a new updatedAt with its new candidate, and only
    # with that is a late update from before the merge (still naming the deleted candidate) seen as stale.
    async with ctx.pool.acquire() as conn:
        moved = await merges.candidate_application_ids(conn, ctx.account_id, deleted_id)
    for application_id in moved:
        await _refetch(ctx, changes, "applications", application_id)
    changes.merge = Merge(deleted_id, kept_id, kept)


PLANNERS: dict[str, Planner] = {
    "applicationSubmit": _object_of("applications", "application"),
    "applicationUpdate": _object_of("applications", "application"),
    "candidateStageChange": _object_of("applications", "application"),
    "pushToHRIS": _object_of("applications", "application"),
    "candidateHire": _plan_hire,
    "offerCreate": _object_of("offers", "offer"),
    "offerUpdate": _object_of("offers", "offer"),
    "offerDelete": _plan_offer_delete,
    "jobCreate": _object_of("jobs", "job"),
    "jobUpdate": _object_of("jobs", "job"),
    "jobPostingPublish": _object_of("job_postings", "jobPosting"),
    "jobPostingUnpublish": _object_of("job_postings", "jobPosting"),
    "jobPostingUpdate": _object_of("job_postings", "jobPosting"),
    "jobPostingDelete": _plan_posting_delete,
    "interviewScheduleCreate": _plan_schedule,
    "interviewScheduleUpdate": _plan_schedule,
    "openingCreate": _object_of("openings", "opening"),
    "candidateDelete": _plan_candidate_delete,
    "candidateMerge": _plan_merge,
    "interviewPlanTransition": _plan_plan_transition,
}
"""Every action that changes the mirror, and how; the rest of Ashby's actions are stored and skipped."""


# Writing: one transaction, the inbox row locked by the caller --------------------------------------------------


def candidate_summary(candidate: Obj) -> dict[str, Any]:
    """The candidate as an application embeds it: id, name and primary contacts."""
    out = {"id": candidate["id"]}
    for key in ("name", "primaryEmailAddress", "primaryPhoneNumber"):
        if candidate.get(key) is not None:
            out[key] = candidate[key]
    return out


async def write_changes(conn: Conn, ctx: SyncContext, changes: Changes) -> _Tally:
    """Write `changes` on `conn` (inside the caller's transaction); webhooks never revive deleted rows."""
    tally = _Tally()
    account_id = ctx.account_id
    current: set[tuple[str, Any]] = set()  # what this event stored as the newest version
    for table, obj in changes.upserts:
        result = await mirror.upsert_page(conn, table, account_id, [obj], revive_deleted=False)
        tally.written += result.written
        tally.stale += result.stale
        if result.written:
            current.add((table, obj.get("id")))
        for r in result.rejected:  # ids and field names only: values may be PII
            log.warning("webhook_field_rejected", table=table, record_id=r.id, field=r.field)
    for schedule_id, listed in changes.schedule_events:
        if ("interview_schedules", schedule_id) in current:  # a late, older version lists older events
            tally.deleted += await mirror.delete_detached(
                conn,
                "interview_events",
                account_id,
                parent_column="interview_schedule_id",
                parent_id=schedule_id,
                keep=listed,
            )
    for table, record_id in changes.deletes:
        tally.deleted += await mirror.mark_deleted(conn, table, account_id, [record_id])
    for candidate_id in changes.deleted_candidates:
        candidates, apps = await merges.delete_candidate(conn, account_id, candidate_id)
        tally.deleted += candidates + apps
    for job_id, mapping in changes.stage_moves:
        tally.moved += len(await merges.move_to_stages(conn, account_id, job_id, mapping))
    if changes.merge is not None:
        m = changes.merge
        summary = candidate_summary(m.kept) if m.kept is not None else {"id": m.kept_id}
        tally.moved += len(await merges.move_applications(conn, account_id, m.deleted_id, summary))
        if m.kept is not None:
            result = await mirror.upsert_page(conn, "candidates", account_id, [m.kept], revive_deleted=False)
            tally.written += result.written
            tally.stale += result.stale
        tally.deleted += await mirror.mark_deleted(conn, "candidates", account_id, [m.deleted_id])
    return tally
