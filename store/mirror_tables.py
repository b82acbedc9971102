"""Typed columns of every mirror table, each read from the Ashby object exactly as it was sent.

Extraction is defensive: a missing, mistyped or oversized field becomes NULL (and is counted), never an error,
because the whole object is kept in `raw` anyway. Ashby can add enum values or drop fields at any time.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

Obj = Mapping[str, Any]  # an Ashby object straight from JSON
Extract = Callable[[Obj], Any]

MAX_TEXT = 2000  # longer values stay in raw only: btree and tsvector entries have size limits


class BadFieldError(Exception):
    """A field present but unusable (wrong type, unparsable, oversized)."""


def _dig(obj: Obj, path: tuple[str, ...]) -> Any:
    # `type(...) is dict`, not isinstance(..., Mapping): JSON objects are dicts, and this runs per field per row.
    cur: Any = obj
    for key in path:
        if type(cur) is not dict:
            return None
        cur = cur.get(key)
    return cur


def usable_text(v: str) -> bool:
    """Fits a text column and its indexes: not oversized, and no NUL (Postgres text cannot hold one)."""
    return len(v) <= MAX_TEXT and "\x00" not in v


def text(*path: str) -> Extract:
    name = ".".join(path)
    if len(path) == 1:  # the common case, without the generic walk: this runs per field per row
        (key,) = path

        def get_one(obj: Obj) -> str | None:
            v = obj.get(key)
            if v is None:
                return None
            if type(v) is not str or not usable_text(v):
                raise BadFieldError(name)
            return v

        return get_one

    def get(obj: Obj) -> str | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if type(v) is not str or not usable_text(v):
            raise BadFieldError(name)
        return v

    return get


def boolean(*path: str) -> Extract:
    def get(obj: Obj) -> bool | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if type(v) is not bool:
            raise BadFieldError(".".join(path))
        return v

    return get


def number(*path: str) -> Extract:
    def get(obj: Obj) -> float | int | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise BadFieldError(".".join(path))
        return v

    return get


def integer(*path: str) -> Extract:
    def get(obj: Obj) -> int | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2**31 - 1:
            raise BadFieldError(".".join(path))
        return v

    return get


def parse_timestamp(v: Any) -> datetime | None:
    """An ISO-8601 timestamp with a zone (Ashby's `...Z`), or BadFieldError."""
    if v is None:
        return None
    if type(v) is not str or len(v) > 64:
        raise BadFieldError("timestamp")
    try:
        ts = datetime.fromisoformat(v)
    except ValueError as exc:
        raise BadFieldError("timestamp") from exc
    if ts.tzinfo is None:
        raise BadFieldError("timestamp")
    return ts


def timestamp(*path: str) -> Extract:
    def get(obj: Obj) -> datetime | None:
        try:
            return parse_timestamp(_dig(obj, path))
        except BadFieldError:
            raise BadFieldError(".".join(path)) from None

    return get


def day(*path: str) -> Extract:
    def get(obj: Obj) -> date | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if not isinstance(v, str) or len(v) > 64:
            raise BadFieldError(".".join(path))
        try:
            return date.fromisoformat(v[:10])
        except ValueError as exc:
            raise BadFieldError(".".join(path)) from exc

    return get


def texts(list_key: str, *item_path: str) -> Extract:
    """A text[] column from a list of objects (`item_path` into each) or of strings (no `item_path`)."""

    def get(obj: Obj) -> list[str]:
        items = obj.get(list_key)
        if items is None:
            return []
        if type(items) is not list:
            raise BadFieldError(list_key)
        out: list[str] = []
        for item in items:
            v = _dig(item, item_path) if item_path else item
            if type(v) is str and usable_text(v):
                out.append(v)
        return out

    return get


def search_document(obj: Obj) -> str:
    """The words a candidate is found by: names, emails, phones, employer, position, school, tag titles."""
    parts: list[str] = []
    for key in ("name", "company", "position", "school"):
        v = obj.get(key)
        if type(v) is str:
            parts.append(v[:MAX_TEXT])
    for list_key, item_key in (("emailAddresses", "value"), ("phoneNumbers", "value"), ("tags", "title")):
        items = obj.get(list_key)
        if type(items) is list:
            for item in items:
                v = item.get(item_key) if type(item) is dict else None
                if type(v) is str:
                    parts.append(v[:MAX_TEXT])
    return " ".join(parts).replace("\x00", "")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pg_type: str  # text, boolean, timestamptz, date, numeric, integer, text[]
    extract: Extract
    pii: bool = False  # cleared when the row is deleted or the candidate anonymised


@dataclass(frozen=True, slots=True)
class MirrorTable:
    name: str
    columns: tuple[Column, ...]
    pii_in_raw: bool = False  # raw is cut down to {"id"} when the row is deleted


def _c(name: str, pg_type: str, extract: Extract, *, pii: bool = False) -> Column:
    return Column(name, pg_type, extract, pii)


_T, _B, _TS = "text", "boolean", "timestamptz"

TABLES: dict[str, MirrorTable] = {
    t.name: t
    for t in (
        MirrorTable(
            "candidates",
            (
                _c("name", _T, text("name"), pii=True),
                _c("primary_email", _T, text("primaryEmailAddress", "value"), pii=True),
                _c("primary_phone", _T, text("primaryPhoneNumber", "value"), pii=True),
                _c("emails", "text[]", texts("emailAddresses", "value"), pii=True),
                _c("phones", "text[]", texts("phoneNumbers", "value"), pii=True),
                _c("company", _T, text("company"), pii=True),
                _c("position", _T, text("position"), pii=True),
                _c("school", _T, text("school"), pii=True),
                _c("tag_ids", "text[]", texts("tags", "id")),
                _c("tags", "text[]", texts("tags", "title")),
                _c("source_id", _T, text("source", "id")),
                _c("application_ids", "text[]", texts("applicationIds")),
                _c("created_at", _TS, timestamp("createdAt")),
                # computed here, not by SQL functions in a generated column: per row it is much cheaper
                _c("search_text", _T, search_document, pii=True),
            ),
            pii_in_raw=True,
        ),
        MirrorTable(
            "applications",
            (
                _c("candidate_id", _T, text("candidate", "id")),
                _c("job_id", _T, text("job", "id")),
                _c("status", _T, text("status")),
                _c("stage_id", _T, text("currentInterviewStage", "id")),
                _c("stage_title", _T, text("currentInterviewStage", "title")),
                _c("stage_type", _T, text("currentInterviewStage", "type")),
                _c("source_id", _T, text("source", "id")),
                _c("archive_reason_id", _T, text("archiveReason", "id")),
                _c("archived_at", _TS, timestamp("archivedAt")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
            pii_in_raw=True,
        ),
        MirrorTable(
            "jobs",
            (
                _c("title", _T, text("title")),
                _c("status", _T, text("status")),
                _c("employment_type", _T, text("employmentType")),
                _c("department_id", _T, text("departmentId")),
                _c("location_id", _T, text("locationId")),
                _c("default_interview_plan_id", _T, text("defaultInterviewPlanId")),
                _c("confidential", _B, boolean("confidential")),
                _c("opened_at", _TS, timestamp("openedAt")),
                _c("closed_at", _TS, timestamp("closedAt")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
        ),
        MirrorTable(
            "offers",
            (
                _c("application_id", _T, text("applicationId")),
                _c("acceptance_status", _T, text("acceptanceStatus")),
                _c("offer_status", _T, text("offerStatus")),
                _c("approval_status", _T, text("latestVersion", "approvalStatus")),
                _c("decided_at", _TS, timestamp("decidedAt")),
                _c("start_date", _TS, timestamp("latestVersion", "startDate")),
                _c("salary_value", "numeric", number("latestVersion", "salary", "value")),
                _c("salary_currency", _T, text("latestVersion", "salary", "currencyCode")),
                _c("created_at", _TS, timestamp("latestVersion", "createdAt")),
            ),
        ),
        MirrorTable(
            "interview_schedules",
            (
                _c("application_id", _T, text("applicationId")),
                _c("interview_stage_id", _T, text("interviewStageId")),
                _c("status", _T, text("status")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
        ),
        MirrorTable(
            "interview_events",
            (
                _c("interview_schedule_id", _T, text("interviewScheduleId")),
                _c("interview_id", _T, text("interviewId")),
                _c("start_time", _TS, timestamp("startTime")),
                _c("end_time", _TS, timestamp("endTime")),
                _c("has_submitted_feedback", _B, boolean("hasSubmittedFeedback")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
        ),
        MirrorTable(
            "interviews",
            (
                _c("title", _T, text("title")),
                _c("job_id", _T, text("jobId")),
                _c("is_archived", _B, boolean("isArchived")),
                _c("is_debrief", _B, boolean("isDebrief")),
                _c("feedback_form_definition_id", _T, text("feedbackFormDefinitionId")),
            ),
        ),
        MirrorTable(
            "interview_plans",
            (
                _c("title", _T, text("title")),
                _c("is_archived", _B, boolean("isArchived")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
        ),
        MirrorTable(
            "users",
            (
                _c("first_name", _T, text("firstName"), pii=True),
                _c("last_name", _T, text("lastName"), pii=True),
                _c("email", _T, text("email"), pii=True),
                _c("global_role", _T, text("globalRole")),
                _c("is_enabled", _B, boolean("isEnabled")),
            ),
            pii_in_raw=True,
        ),
        MirrorTable(
            "departments",
            (
                _c("name", _T, text("name")),
                _c("parent_id", _T, text("parentId")),
                _c("is_archived", _B, boolean("isArchived")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
        ),
        MirrorTable(
            "locations",
            (
                _c("name", _T, text("name")),
                _c("parent_location_id", _T, text("parentLocationId")),
                _c("is_archived", _B, boolean("isArchived")),
            ),
        ),
        MirrorTable(
            "openings",
            (
                _c("opening_state", _T, text("openingState")),
                _c("is_archived", _B, boolean("isArchived")),
                _c("opened_at", _TS, timestamp("openedAt")),
                _c("closed_at", _TS, timestamp("closedAt")),
            ),
        ),
        MirrorTable(
            "projects",
            (
                _c("title", _T, text("title")),
                _c("is_archived", _B, boolean("isArchived")),
                _c("created_at", _TS, timestamp("createdAt")),
            ),
        ),
        MirrorTable("candidate_tags", (_c("title", _T, text("title")), _c("is_archived", _B, boolean("isArchived")))),
        MirrorTable(
            "custom_fields",
            (
                _c("title", _T, text("title")),
                _c("object_type", _T, text("objectType")),
                _c("field_type", _T, text("fieldType")),
                _c("is_archived", _B, boolean("isArchived")),
            ),
        ),
        MirrorTable(
            "feedback_form_definitions",
            (_c("title", _T, text("title")), _c("is_archived", _B, boolean("isArchived"))),
        ),
        MirrorTable(
            "application_feedback",
            (
                _c("application_id", _T, text("applicationId")),
                _c("interview_id", _T, text("interviewId")),
                _c("submitted_by_user_id", _T, text("submittedByUser", "id")),
                _c("submitted_at", _TS, timestamp("submittedAt")),
            ),
            pii_in_raw=True,
        ),
        MirrorTable(
            "job_postings",
            (
                _c("job_id", _T, text("jobId")),
                _c("title", _T, text("title")),
                _c("is_listed", _B, boolean("isListed")),
                _c("employment_type", _T, text("employmentType")),
                _c("published_date", "date", day("publishedDate")),
            ),
        ),
        MirrorTable(
            "sources",
            (
                _c("title", _T, text("title")),
                _c("source_type", _T, text("sourceType", "title")),
                _c("is_archived", _B, boolean("isArchived")),
            ),
        ),
        MirrorTable(
            "archive_reasons",
            (
                _c("text", _T, text("text")),
                _c("reason_type", _T, text("reasonType")),
                _c("is_archived", _B, boolean("isArchived")),
            ),
        ),
        MirrorTable(
            "interview_stages",
            (
                _c("interview_plan_id", _T, text("interviewPlanId")),
                _c("title", _T, text("title")),
                _c("type", _T, text("type")),
                _c("order_in_plan", "integer", integer("orderInInterviewPlan")),
            ),
        ),
    )
}
