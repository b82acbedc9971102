"""Typed columns of every mirror table, each read from the Ashby object exactly as it was sent.

Extraction is defensive: a missing, mistyped or oversized field becomes NULL (and is counted), never an error,
because the whole object is kept in `raw` anyway. Ashby can add enum values or drop fields at any time.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

Obj = Mapping[str, Any]  # an Ashby object straight from JSON
Extract = Callable[[Obj], Any]

MAX_TEXT = 1000
"""The most UTF-8 bytes a typed text value may have; a longer one stays in raw only (reported as a bad field).

Counted in bytes, not characters, because that is what Postgres limits: a btree entry may hold at most 2,704 bytes,
and `applications_job_stage` indexes two texts together (1,900 CJK characters are 5,700 bytes, and used to fail
the whole page, page after page). Search text parts are cut to as many characters."""


DATE_PATTERN = r"(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
TIMESTAMP_PATTERN = (
    "^" + DATE_PATTERN + r"[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r"(Z|[+-](0[0-9]|1[0-5]):?[0-5][0-9])$"
)
"""The timestamps the mirror types: ISO 8601 as Ashby writes them (`2024-01-08T05:25:43.656Z`), a zone required.

Stricter than Python's and Postgres' own parsers on purpose: the same rule holds where Python reads an object and
where Postgres reads a page (`store.mirror_sql`), so the two always agree, and nothing it lets through can make
Postgres' cast fail (offsets past 15:59, more than microseconds, year 0; the day of the month is checked apart).
"""
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN, re.ASCII)
_DATE = re.compile("^" + DATE_PATTERN, re.ASCII)


class BadFieldError(Exception):
    """A field present but unusable (wrong type, unparsable, oversized)."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a typed column's value is in an Ashby object, for Postgres to read it the way `Field.get` does.

    `kind`: text, boolean, number, integer, timestamp, day (each at `path`), texts (a list at `path`, each item's
    value at `item_path`), or search (the candidate search document).
    """

    kind: str
    path: tuple[str, ...] = ()
    item_path: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The field's name in reports of bad fields."""
        return ".".join(self.path)


class Field(NamedTuple):
    get: Extract
    source: Source


def _dig(obj: Obj, path: tuple[str, ...]) -> Any:
    # `type(...) is dict`, not isinstance(..., Mapping): JSON objects are dicts, and this runs per field per row.
    cur: Any = obj
    for key in path:
        if type(cur) is not dict:
            return None
        cur = cur.get(key)
    return cur


def usable_text(v: str) -> bool:
    """Fits a text column and its indexes: at most MAX_TEXT bytes, and no NUL (Postgres text cannot hold one)."""
    n = len(v)  # a character is at most 4 bytes, so only a text of MAX_TEXT / 4 to MAX_TEXT characters is encoded
    if n > MAX_TEXT or (n > MAX_TEXT // 4 and len(v.encode("utf-8", "surrogatepass")) > MAX_TEXT):
        return False
    return "\x00" not in v


def text(*path: str) -> Field:
    source = Source("text", path)
    name = source.name
    if len(path) == 1:  # the common case, without the generic walk: this runs per field per row
        (key,) = path

        def get_one(obj: Obj) -> str | None:
            v = obj.get(key)
            if v is None:
                return None
            if type(v) is not str or not usable_text(v):
                raise BadFieldError(name)
            return v

        return Field(get_one, source)

    def get(obj: Obj) -> str | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if type(v) is not str or not usable_text(v):
            raise BadFieldError(name)
        return v

    return Field(get, source)


def boolean(*path: str) -> Field:
    def get(obj: Obj) -> bool | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if type(v) is not bool:
            raise BadFieldError(".".join(path))
        return v

    return Field(get, Source("boolean", path))


def number(*path: str) -> Field:
    def get(obj: Obj) -> Decimal | int | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise BadFieldError(".".join(path))
        # The number as written (`85000.5`), not the binary float's expansion (0.1 -> 0.1000000000000000055...)
        return Decimal(repr(v)) if isinstance(v, float) else v

    return Field(get, Source("number", path))


def integer(*path: str) -> Field:
    def get(obj: Obj) -> int | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2**31 - 1:
            raise BadFieldError(".".join(path))
        return v

    return Field(get, Source("integer", path))


def parse_timestamp(v: Any) -> datetime | None:
    """An ISO-8601 timestamp with a zone (Ashby's `...Z`), or BadFieldError."""
    if v is None:
        return None
    if type(v) is not str or len(v) > 64 or not _TIMESTAMP.match(v):
        raise BadFieldError("timestamp")
    try:
        ts = datetime.fromisoformat(v)
    except ValueError as exc:
        raise BadFieldError("timestamp") from exc
    if ts.tzinfo is None:
        raise BadFieldError("timestamp")
    return ts


def timestamp(*path: str) -> Field:
    def get(obj: Obj) -> datetime | None:
        try:
            return parse_timestamp(_dig(obj, path))
        except BadFieldError:
            raise BadFieldError(".".join(path)) from None

    return Field(get, Source("timestamp", path))


def day(*path: str) -> Field:
    def get(obj: Obj) -> date | None:
        v = _dig(obj, path)
        if v is None:
            return None
        if not isinstance(v, str) or len(v) > 64 or not _DATE.match(v):
            raise BadFieldError(".".join(path))
        try:
            return date.fromisoformat(v[:10])
        except ValueError as exc:
            raise BadFieldError(".".join(path)) from exc

    return Field(get, Source("day", path))


def texts(list_key: str, *item_path: str) -> Field:
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

    return Field(get, Source("texts", (list_key,), item_path))


SEARCH_FIELDS = ("name", "company", "position", "school")
SEARCH_LISTS = (("emailAddresses", "value"), ("phoneNumbers", "value"), ("tags", "title"))


def search_document(obj: Obj) -> str:
    """The words a candidate is found by: names, emails, phones, employer, position, school, tag titles."""
    parts: list[str] = []
    for key in SEARCH_FIELDS:
        v = obj.get(key)
        if type(v) is str:
            parts.append(v[:MAX_TEXT])
    for list_key, item_key in SEARCH_LISTS:
        items = obj.get(list_key)
        if type(items) is list:
            for item in items:
                v = item.get(item_key) if type(item) is dict else None
                if type(v) is str:
                    parts.append(v[:MAX_TEXT])
    return " ".join(parts).replace("\x00", "")


SEARCH = Field(search_document, Source("search"))


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pg_type: str  # text, boolean, timestamptz, date, numeric, integer, text[]
    extract: Extract
    source: Source
    pii: bool = False  # cleared when the row is deleted or the candidate anonymised
    # What Ashby documents of the field. Either kind of surprise is reported (`reports`), never refused: the object
    # is stored, and the value too (Ashby adds enum values without notice).
    required: bool = False  # always sent: a missing or null one is reported as `<field>: missing`
    known: frozenset[str] | None = None  # its documented values: another is reported as `<field>: unknown value`

    def reports(self, value: Any) -> str | None:
        """What is reported of a value read without error (None when nothing is)."""
        if value is None:
            return f"{self.source.name}: missing" if self.required else None
        if self.known is not None and value not in self.known:
            return f"{self.source.name}: unknown value"
        return None


@dataclass(frozen=True, slots=True)
class MirrorTable:
    name: str
    columns: tuple[Column, ...]
    pii_in_raw: bool = False  # raw is cut down to {"id"} when the row is deleted


def _c(
    name: str, pg_type: str, field: Field, *, pii: bool = False, required: bool = False, known: str | None = None
) -> Column:
    """A column; `known` lists the documented values of an enum field, separated by `|`."""
    values = frozenset(known.split("|")) if known is not None else None
    return Column(name, pg_type, field.get, field.source, pii, required, values)


_EMPLOYMENT_TYPES = "FullTime|PartTime|Intern|Contract|Temporary"


_T, _B, _TS = "text", "boolean", "timestamptz"

TABLES: dict[str, MirrorTable] = {
    t.name: t
    for t in (
        MirrorTable(
            "candidates",
            (
                _c("name", _T, text("name"), pii=True, required=True),
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
                _c("search_text", _T, SEARCH, pii=True),
            ),
            pii_in_raw=True,
        ),
        MirrorTable(
            "applications",
            (
                _c("candidate_id", _T, text("candidate", "id"), required=True),
                _c("job_id", _T, text("job", "id"), required=True),
                _c("status", _T, text("status"), required=True, known="Hired|Archived|Active|Lead"),
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
                _c("title", _T, text("title"), required=True),
                _c("status", _T, text("status"), required=True, known="Draft|Open|Closed|Archived"),
                _c("employment_type", _T, text("employmentType"), known=_EMPLOYMENT_TYPES),
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
                _c("application_id", _T, text("applicationId"), required=True),
                _c(
                    "acceptance_status",
                    _T,
                    text("acceptanceStatus"),
                    required=True,
                    known="Accepted|Declined|Pending|Created|Cancelled|WaitingOnResponse",
                ),
                _c(
                    "offer_status",
                    _T,
                    text("offerStatus"),
                    known="WaitingOnApprovalStart|WaitingOnOfferApproval|WaitingOnApprovalDefinition"
                    "|WaitingOnCandidateResponse|CandidateRejected|CandidateAccepted|OfferCancelled",
                ),
                _c("approval_status", _T, text("latestVersion", "approvalStatus")),
                _c("decided_at", _TS, timestamp("decidedAt")),
                _c("start_date", _TS, timestamp("latestVersion", "startDate"), pii=True),
                _c("salary_value", "numeric", number("latestVersion", "salary", "value"), pii=True),
                _c("salary_currency", _T, text("latestVersion", "salary", "currencyCode"), pii=True),
                _c("created_at", _TS, timestamp("latestVersion", "createdAt")),
            ),
            pii_in_raw=True,  # a candidate's pay and start date; the authors' names and emails
        ),
        MirrorTable(
            "interview_schedules",
            (
                _c("application_id", _T, text("applicationId"), required=True),
                _c("interview_stage_id", _T, text("interviewStageId")),
                _c(
                    "status",
                    _T,
                    text("status"),
                    required=True,
                    known="NeedsScheduling|WaitingOnCandidateBooking|WaitingOnCandidateAvailability"
                    "|CandidateAvailabilitySubmitted|Scheduled|WaitingOnFeedback|Complete|Cancelled|OnHold|Unknown",
                ),
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
                _c(
                    "global_role",
                    _T,
                    text("globalRole"),
                    known="Organization Admin|Elevated Access|Limited Access|External Recruiter",
                ),
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
                _c("opening_state", _T, text("openingState"), known="Approved|Closed|Draft|Filled|Open"),
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
                _c("employment_type", _T, text("employmentType"), known=_EMPLOYMENT_TYPES),
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
