"""The Ashby resources ashby-sync mirrors, and how Ashby lets each one be pulled."""

from collections.abc import Set
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SyncMode(StrEnum):
    """How a resource is pulled."""

    INCREMENTAL = "incremental"  # cursor pages, a syncToken on the last page, later passes send it back
    SNAPSHOT = "snapshot"  # no token: the whole collection is re-read every pass


@dataclass(frozen=True, slots=True)
class Resource:
    """One mirrored Ashby collection.

    `name` is the mirror table's name and the CLI's `--resource` value; `endpoint` is Ashby's list endpoint;
    `scope` is what `apiKey.info` lists for a key allowed to call that endpoint (Ashby answers 403
    `missing_endpoint_permission` to a key without it);
    `params` are sent on every list call so a pass sees the whole collection (archived, deactivated, unlisted).
    `parent` names the resource whose ids this one is listed per (`interviewStage.list` takes a plan id).
    """

    name: str
    endpoint: str
    mode: SyncMode
    scope: str
    info_endpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    parent_param: str | None = None

    def readable_with(self, scopes: Set[str] | None) -> bool:
        """Whether a key holding `scopes` may list this resource; None (scopes unknown) counts as yes.

        Names are compared without case or separators: Ashby documents `candidates:read` and `jobs:read`, and the
        other modules' names are read from its permission names (`hiringProcessMetadataRead`), so a spelling such
        as `hiringProcessMetadata:read` must match too rather than silently stop a resource."""
        return scopes is None or _plain(self.scope) in {_plain(s) for s in scopes}


def _plain(scope: str) -> str:
    return "".join(c for c in scope.lower() if c.isalnum())


def _inc(name: str, endpoint: str, scope: str, info: str | None = None, **params: Any) -> Resource:
    return Resource(name, endpoint, SyncMode.INCREMENTAL, scope, info, params)


def _snap(name: str, endpoint: str, scope: str, info: str | None = None, **params: Any) -> Resource:
    return Resource(name, endpoint, SyncMode.SNAPSHOT, scope, info, params)


# The scopes `apiKey.info` lists that the list endpoints below need.
CANDIDATES_READ = "candidates:read"
JOBS_READ = "jobs:read"
INTERVIEWS_READ = "interviews:read"
HIRING_PROCESS_METADATA_READ = "hiring_process_metadata:read"
ORGANIZATION_READ = "organization:read"
OFFERS_READ = "offers:read"


RESOURCES: tuple[Resource, ...] = (
    _inc("candidates", "candidate.list", CANDIDATES_READ, "candidate.info"),
    _inc("applications", "application.list", CANDIDATES_READ, "application.info"),
    _inc("jobs", "job.list", JOBS_READ, "job.info"),
    _inc("offers", "offer.list", OFFERS_READ, "offer.info"),
    _inc("interview_schedules", "interviewSchedule.list", INTERVIEWS_READ),
    _inc("interview_events", "interviewEvent.list", INTERVIEWS_READ),
    _inc(
        "interviews",
        "interview.list",
        INTERVIEWS_READ,
        "interview.info",
        includeArchived=True,
        includeNonSharedInterviews=True,
    ),
    _inc("interview_plans", "interviewPlan.list", INTERVIEWS_READ, includeArchived=True),
    _inc("users", "user.list", ORGANIZATION_READ, "user.info", includeDeactivated=True),
    _inc("departments", "department.list", ORGANIZATION_READ, "department.info", includeArchived=True),
    _inc("locations", "location.list", ORGANIZATION_READ, "location.info", includeArchived=True),
    _inc("openings", "opening.list", JOBS_READ, "opening.info"),
    _inc("projects", "project.list", CANDIDATES_READ, "project.info"),  # project.info needs jobs:read instead
    _inc("candidate_tags", "candidateTag.list", HIRING_PROCESS_METADATA_READ, includeArchived=True),
    _inc("custom_fields", "customField.list", HIRING_PROCESS_METADATA_READ, "customField.info", includeArchived=True),
    _inc(
        "feedback_form_definitions",
        "feedbackFormDefinition.list",
        HIRING_PROCESS_METADATA_READ,
        "feedbackFormDefinition.info",
        includeArchived=True,
    ),
    _inc("application_feedback", "applicationFeedback.list", CANDIDATES_READ),
    _snap("job_postings", "jobPosting.list", JOBS_READ, "jobPosting.info", includeUnpublishedJobPostings=True),
    _snap("sources", "source.list", HIRING_PROCESS_METADATA_READ, includeArchived=True),
    _snap("archive_reasons", "archiveReason.list", HIRING_PROCESS_METADATA_READ, includeArchived=True),
    Resource(
        "interview_stages",
        "interviewStage.list",
        SyncMode.SNAPSHOT,
        INTERVIEWS_READ,
        "interviewStage.info",
        parent="interview_plans",
        parent_param="interviewPlanId",
    ),
)

BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}


def get_resource(name: str) -> Resource:
    """The resource called `name`; KeyError names the valid ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown resource {name!r}; expected one of: {', '.join(BY_NAME)}") from None
