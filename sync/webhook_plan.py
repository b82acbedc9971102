"""What a stored webhook event asks of the mirror: its envelope checked, the changes its action calls for, and
whatever the payload lacks read from Ashby with `.info` (before any transaction opens).

Ordering: objects with `updatedAt` are ordered by it (a late delivery never overwrites newer data). Ashby's
offers and openings have no `updatedAt`; they are always re-read with `.info` at apply time, which is at
least as new as the event, so a late delivery writes the current state rather than its stale payload.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ashby_api.client import INFO_ID_PARAM
from ashby_api.errors import NotFound
from ashby_api.json_body import decode_json
from ashby_api.resources import BY_NAME
from core.errors import AppError
from store import merges, mirror
from store.inbox import InboxKey
from store.mirror_tables import Obj
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
    # When the upserts' objects were read from Ashby, which orders versions of objects without updatedAt: each
    # `.info` read's own request (`read_times`, by table and id); the rest came with the event, before it was planned
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    read_times: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def read_time(self, table: str, record_id: Any) -> datetime:
        return self.read_times.get((table, record_id), self.read_at)


def parse_event(body: bytes, key: InboxKey) -> _Envelope:
    """The envelope of a stored body; MalformedWebhookError when it is not one, or not this event's."""
    try:
        envelope = _Envelope.model_validate(decode_json(body, where="webhook"))
    except (ValueError, ValidationError) as exc:
        raise MalformedWebhookError(f"{key.action} {key.webhook_action_id}: not an Ashby webhook envelope") from exc
    if envelope.action != key.action or envelope.webhook_action_id != key.webhook_action_id:
        raise MalformedWebhookError(f"{key.action} {key.webhook_action_id}: the body names another event")
    return envelope


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


def _usable_id(value: Any) -> TypeGuard[str]:
    """A non-empty string the mirror can key a row by."""
    return type(value) is str and 0 < len(value) <= mirror.MAX_ID


def _obj(data: dict[str, Any], name: str, action: str) -> dict[str, Any]:
    value = data.get(name)
    if type(value) is not dict:
        raise MalformedWebhookError(f"{action}: data.{name} is missing or not an object")
    _id(value, action)
    return value


def _id(obj: dict[str, Any], action: str) -> str:
    value = obj.get("id")
    if not _usable_id(value):
        raise MalformedWebhookError(f"{action}: an object without a usable id")
    return value


def _str(data: dict[str, Any], name: str, action: str) -> str:
    value = data.get(name)
    if not _usable_id(value):
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
    fetched, read_at = await fetch_info(ctx, table, record_id)
    changes.fetched += 1
    if fetched is None:
        changes.deletes.append((table, record_id))
    else:
        changes.upserts.append((table, fetched))
        changes.read_times[(table, record_id)] = read_at


async def fetch_info(ctx: SyncContext, table: str, record_id: str) -> tuple[dict[str, Any] | None, datetime]:
    """The object as `.info` returns it (unparsed, as the mirror stores it), or None when Ashby has no such id; and
    when the request that read it was sent (its last try's).

    Raises:
        AshbyError: the call failed after the context's retries.
    """
    endpoint = BY_NAME[table].info_endpoint
    assert endpoint is not None, table
    body = {INFO_ID_PARAM[endpoint]: record_id}
    sent = datetime.now(UTC)

    async def call() -> dict[str, Any]:
        nonlocal sent
        sent = datetime.now(UTC)
        return await ctx.client.call(endpoint, body)

    try:
        payload = await ctx.retry(call)
    except NotFound:
        return None, sent
    results = payload.get("results")
    if type(results) is not dict or results.get("id") != record_id:
        raise MalformedWebhookError(f"{endpoint} answered without the object {record_id}")
    return results, sent


async def _plan_posting_delete(ctx: SyncContext, changes: Changes, data: dict[str, Any], action: str) -> None:
    # Ashby's layout is not in its spec yet: `jobPosting: {id, jobId}` (as Sim reads it) or flat ids.
    posting = data.get("jobPosting")
    source = posting if type(posting) is dict else data
    posting_id = source.get("id") or data.get("jobPostingId")
    if not _usable_id(posting_id):
        raise MalformedWebhookError(f"{action}: no job posting id")
    changes.deletes.append(("job_postings", posting_id))
    job_id = source.get("jobId") or data.get("jobId")
    if _usable_id(job_id):
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
    kept, read_at = await fetch_info(ctx, "candidates", kept_id)  # its applicationIds and fields changed with the merge
    changes.fetched += 1
    changes.read_times[("candidates", kept_id)] = read_at
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
