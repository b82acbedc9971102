"""Ashby objects as the API returns them: the fields worth typed columns and filters; `raw` keeps the rest.

Every model is lenient: an unknown enum value is just a string, and a missing or malformed field becomes its
default, so only a record without an `id` fails validation.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic.alias_generators import to_camel


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


def _or_empty(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return []


T = TypeVar("T")
Opt = Annotated[T | None, WrapValidator(_or_none)]
"""A field that is None when absent, null or malformed."""
Many = Annotated[list[T], WrapValidator(_or_empty)]
"""A list that is empty when absent, null or malformed."""


class AshbyModel(BaseModel):
    """Base of every Ashby object: frozen, camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True)


class AshbyRecord(AshbyModel):
    """An object with an id, mirrored as a row; `updated_at` decides which of two versions is newer."""

    id: str
    updated_at: Opt[datetime] = None


# Nested references ------------------------------------------------------------------------------------------


class ContactInfo(AshbyModel):
    value: Opt[str] = None
    type: Opt[str] = None  # Personal | Work | Other
    is_primary: Opt[bool] = None


class SocialLink(AshbyModel):
    type: Opt[str] = None
    url: Opt[str] = None


class TagRef(AshbyModel):
    id: str
    title: Opt[str] = None
    is_archived: Opt[bool] = None


class SourceTypeRef(AshbyModel):
    id: str
    title: Opt[str] = None


class SourceRef(AshbyModel):
    id: str
    title: Opt[str] = None
    is_archived: Opt[bool] = None
    source_type: Opt[SourceTypeRef] = None


class UserRef(AshbyModel):
    id: str
    first_name: Opt[str] = None
    last_name: Opt[str] = None
    email: Opt[str] = None


class CandidateLocation(AshbyModel):
    id: Opt[str] = None
    location_summary: Opt[str] = None


class CandidateRef(AshbyModel):
    id: str
    name: Opt[str] = None
    primary_email_address: Opt[ContactInfo] = None


class StageRef(AshbyModel):
    id: str
    title: Opt[str] = None
    type: Opt[str] = None  # Lead | PreInterviewScreen | Active | Offer | Hired | Archived, in practice
    order_in_interview_plan: Opt[int] = None
    interview_stage_group_id: Opt[str] = None
    interview_plan_id: Opt[str] = None


class ArchiveReasonRef(AshbyModel):
    id: str
    text: Opt[str] = None
    reason_type: Opt[str] = None


class JobRef(AshbyModel):
    id: str
    title: Opt[str] = None
    location_id: Opt[str] = None
    department_id: Opt[str] = None


class Salary(AshbyModel):
    currency_code: Opt[str] = None
    value: Opt[float] = None


class OfferVersion(AshbyModel):
    id: str
    start_date: Opt[datetime] = None
    salary: Opt[Salary] = None
    created_at: Opt[datetime] = None
    opening_id: Opt[str] = None
    approval_status: Opt[str] = None  # Approved | WaitingOnApprovals | Declined


class OpeningVersion(AshbyModel):
    id: str
    identifier: Opt[str] = None
    job_ids: Many[str] = []
    location_ids: Many[str] = []
    target_hire_date: Opt[str] = None
    target_start_date: Opt[str] = None
    is_backfill: Opt[bool] = None
    employment_type: Opt[str] = None


# Mirrored resources -----------------------------------------------------------------------------------------


class Candidate(AshbyRecord):
    created_at: Opt[datetime] = None
    name: Opt[str] = None
    primary_email_address: Opt[ContactInfo] = None
    email_addresses: Many[ContactInfo] = []
    primary_phone_number: Opt[ContactInfo] = None
    phone_numbers: Many[ContactInfo] = []
    social_links: Many[SocialLink] = []
    tags: Many[TagRef] = []
    position: Opt[str] = None
    company: Opt[str] = None
    school: Opt[str] = None
    application_ids: Many[str] = []
    source: Opt[SourceRef] = None
    credited_to_user: Opt[UserRef] = None
    timezone: Opt[str] = None
    location: Opt[CandidateLocation] = None
    profile_url: Opt[str] = None
    fraud_status: Opt[str] = None


class Application(AshbyRecord):
    created_at: Opt[datetime] = None
    status: Opt[str] = None  # Hired | Archived | Active | Lead
    candidate: Opt[CandidateRef] = None
    current_interview_stage: Opt[StageRef] = None
    source: Opt[SourceRef] = None
    archive_reason: Opt[ArchiveReasonRef] = None
    archived_at: Opt[datetime] = None
    job: Opt[JobRef] = None
    credited_to_user: Opt[UserRef] = None
    applied_via_job_posting_id: Opt[str] = None

    @property
    def candidate_id(self) -> str | None:
        return self.candidate.id if self.candidate else None

    @property
    def job_id(self) -> str | None:
        return self.job.id if self.job else None

    @property
    def stage_id(self) -> str | None:
        return self.current_interview_stage.id if self.current_interview_stage else None


class Job(AshbyRecord):
    title: Opt[str] = None
    confidential: Opt[bool] = None
    status: Opt[str] = None  # Draft | Open | Closed | Archived
    employment_type: Opt[str] = None
    location_id: Opt[str] = None
    department_id: Opt[str] = None
    default_interview_plan_id: Opt[str] = None
    interview_plan_ids: Many[str] = []
    job_posting_ids: Many[str] = []
    custom_requisition_id: Opt[str] = None
    brand_id: Opt[str] = None
    created_at: Opt[datetime] = None
    opened_at: Opt[datetime] = None
    closed_at: Opt[datetime] = None


class Offer(AshbyRecord):
    application_id: Opt[str] = None
    acceptance_status: Opt[str] = None  # Accepted | Declined | Pending | Created | Cancelled | WaitingOnResponse
    offer_status: Opt[str] = None  # WaitingOnApprovalStart | ... | CandidateAccepted | OfferCancelled
    decided_at: Opt[datetime] = None
    latest_version: Opt[OfferVersion] = None


class InterviewSchedule(AshbyRecord):
    status: Opt[str] = None  # NeedsScheduling | Scheduled | Complete | Cancelled | ...
    application_id: Opt[str] = None
    interview_stage_id: Opt[str] = None
    scheduled_by: Opt[UserRef] = None
    created_at: Opt[datetime] = None


class InterviewEvent(AshbyRecord):
    interview_id: Opt[str] = None
    interview_schedule_id: Opt[str] = None
    interviewer_user_ids: Many[str] = []
    created_at: Opt[datetime] = None
    start_time: Opt[datetime] = None
    end_time: Opt[datetime] = None
    feedback_link: Opt[str] = None
    location: Opt[str] = None
    meeting_link: Opt[str] = None
    has_submitted_feedback: Opt[bool] = None


class Interview(AshbyRecord):
    title: Opt[str] = None
    external_title: Opt[str] = None
    is_archived: Opt[bool] = None
    is_debrief: Opt[bool] = None
    is_feedback_required: Opt[bool] = None
    job_id: Opt[str] = None
    feedback_form_definition_id: Opt[str] = None


class InterviewPlan(AshbyRecord):
    title: Opt[str] = None
    is_archived: Opt[bool] = None
    created_at: Opt[datetime] = None


class User(AshbyRecord):
    first_name: Opt[str] = None
    last_name: Opt[str] = None
    email: Opt[str] = None
    global_role: Opt[str] = None  # Organization Admin | Elevated Access | Limited Access | External Recruiter
    is_enabled: Opt[bool] = None
    manager_id: Opt[str] = None


class Department(AshbyRecord):
    name: Opt[str] = None
    external_name: Opt[str] = None
    is_archived: Opt[bool] = None
    parent_id: Opt[str] = None
    created_at: Opt[datetime] = None


class Location(AshbyRecord):
    name: Opt[str] = None
    external_name: Opt[str] = None
    is_archived: Opt[bool] = None
    is_remote: Opt[bool] = None
    workplace_type: Opt[str] = None  # OnSite | Hybrid | Remote
    parent_location_id: Opt[str] = None
    type: Opt[str] = None  # Location | LocationHierarchy


class Opening(AshbyRecord):
    opened_at: Opt[datetime] = None
    closed_at: Opt[datetime] = None
    is_archived: Opt[bool] = None
    archived_at: Opt[datetime] = None
    close_reason_id: Opt[str] = None
    opening_state: Opt[str] = None  # Approved | Closed | Draft | Filled | Open
    latest_version: Opt[OpeningVersion] = None


class Project(AshbyRecord):
    title: Opt[str] = None
    description: Opt[str] = None
    is_archived: Opt[bool] = None
    confidential: Opt[bool] = None
    author_id: Opt[str] = None
    created_at: Opt[datetime] = None


class CandidateTag(AshbyRecord):
    title: Opt[str] = None
    is_archived: Opt[bool] = None


class CustomField(AshbyRecord):
    title: Opt[str] = None
    object_type: Opt[str] = None  # Application | Candidate | Employee | Job | Offer | Opening | Talent_Project
    field_type: Opt[str] = None  # String | Number | ValueSelect | MultiValueSelect | Date | Boolean | ...
    is_archived: Opt[bool] = None
    is_private: Opt[bool] = None
    is_required: Opt[bool] = None


class FeedbackFormDefinition(AshbyRecord):
    title: Opt[str] = None
    organization_id: Opt[str] = None
    is_archived: Opt[bool] = None
    is_default_form: Opt[bool] = None
    interview_id: Opt[str] = None


class ApplicationFeedback(AshbyRecord):
    application_id: Opt[str] = None
    interview_id: Opt[str] = None
    interview_event_id: Opt[str] = None
    feedback_form_definition_id: Opt[str] = None
    application_history_id: Opt[str] = None
    submitted_at: Opt[datetime] = None
    submitted_by_user: Opt[UserRef] = None


class JobPosting(AshbyRecord):
    title: Opt[str] = None
    job_id: Opt[str] = None
    department_name: Opt[str] = None
    team_name: Opt[str] = None
    location_name: Opt[str] = None
    is_listed: Opt[bool] = None
    is_remote: Opt[bool] = None
    workplace_type: Opt[str] = None
    employment_type: Opt[str] = None
    published_date: Opt[str] = None
    apply_link: Opt[str] = None
    external_link: Opt[str] = None


class Source(AshbyRecord):
    title: Opt[str] = None
    is_archived: Opt[bool] = None
    source_type: Opt[SourceTypeRef] = None


class ArchiveReason(AshbyRecord):
    text: Opt[str] = None
    reason_type: Opt[str] = None  # RejectedByCandidate | RejectedByOrg | Other
    is_archived: Opt[bool] = None


class InterviewStage(AshbyRecord):
    title: Opt[str] = None
    type: Opt[str] = None
    order_in_interview_plan: Opt[int] = None
    interview_stage_group_id: Opt[str] = None
    interview_plan_id: Opt[str] = None


# Other endpoints' results -----------------------------------------------------------------------------------


class WebhookSetting(AshbyRecord):
    """A webhook registered in Ashby (`webhook.create/info/update`); the secret is deliberately not declared."""

    enabled: Opt[bool] = None
    request_url: Opt[str] = None
    webhook_type: Opt[str] = None


class ApiKeyInfo(AshbyModel):
    """The calling key (`apiKey.info`): scopes look like `candidates:read`."""

    title: Opt[str] = None
    created_at: Opt[datetime] = None
    scopes: Many[str] = []


class Note(AshbyRecord):
    created_at: Opt[datetime] = None
    is_private: Opt[bool] = None
    content: Opt[str] = None
    author: Opt[UserRef] = None


MODELS: dict[str, type[AshbyRecord]] = {
    "candidates": Candidate,
    "applications": Application,
    "jobs": Job,
    "offers": Offer,
    "interview_schedules": InterviewSchedule,
    "interview_events": InterviewEvent,
    "interviews": Interview,
    "interview_plans": InterviewPlan,
    "users": User,
    "departments": Department,
    "locations": Location,
    "openings": Opening,
    "projects": Project,
    "candidate_tags": CandidateTag,
    "custom_fields": CustomField,
    "feedback_form_definitions": FeedbackFormDefinition,
    "application_feedback": ApplicationFeedback,
    "job_postings": JobPosting,
    "sources": Source,
    "archive_reasons": ArchiveReason,
    "interview_stages": InterviewStage,
}
"""Resource name (`ashby_api.resources`) -> the model of its records."""

RESOURCE_OF: dict[type[AshbyRecord], str] = {model: name for name, model in MODELS.items()}
"""Model -> resource name, for the client's typed list and info calls."""


M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    """One page of a list endpoint.

    `results` are the parsed objects and `raw` the same objects exactly as Ashby sent them (for the mirror's
    `raw jsonb`), in the same order. `sync_token` is set on the last page of an incremental pass. `body` is
    the response the page was read from, when kept (`AshbyClient.list_page`): its `results` array is `raw`,
    so the mirror can store the objects without encoding them again.
    """

    results: list[M]
    raw: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
    more_data_available: bool = False
    sync_token: str | None = None
    body: bytes | None = field(default=None, compare=False, repr=False)  # PII: never in a repr or log line


@dataclass(frozen=True, slots=True)
class BodyPage:
    """One page of a list endpoint kept as the bytes Ashby sent, for Postgres to read (a sync pass's pages).

    Only what paging needs is decoded, and each object's `id` (`ids`, in order; None where an object has none).
    `objects` holds the decoded objects only when the body was decoded whole: it has `\\u` escapes, which Postgres
    could read otherwise than the client does (`store.mirror.parses_as_sent`), or something unusual; a body with
    escapes is then written from these objects.
    """

    body: bytes = field(repr=False)  # PII: never in a repr or log line
    ids: list[Any]
    next_cursor: str | None = None
    more_data_available: bool = False
    sync_token: str | None = None
    objects: list[dict[str, Any]] | None = field(default=None, repr=False)
    requested_at: datetime | None = None  # when the request that returned it was sent (this process's clock)
