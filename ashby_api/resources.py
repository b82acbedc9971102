"""The Ashby resources ashby-sync mirrors, and how Ashby lets each one be pulled."""

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
    `params` are sent on every list call so a pass sees the whole collection (archived, deactivated, unlisted).
    `parent` names the resource whose ids this one is listed per (`interviewStage.list` takes a plan id).
    """

    name: str
    endpoint: str
    mode: SyncMode
    info_endpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    parent_param: str | None = None


def _inc(name: str, endpoint: str, info: str | None = None, **params: Any) -> Resource:
    return Resource(name, endpoint, SyncMode.INCREMENTAL, info, params)


def _snap(name: str, endpoint: str, info: str | None = None, **params: Any) -> Resource:
    return Resource(name, endpoint, SyncMode.SNAPSHOT, info, params)


RESOURCES: tuple[Resource, ...] = (
    _inc("candidates", "candidate.list", "candidate.info"),
    _inc("applications", "application.list", "application.info"),
    _inc("jobs", "job.list", "job.info"),
    _inc("offers", "offer.list", "offer.info"),
    _inc("interview_schedules", "interviewSchedule.list"),
    _inc("interview_events", "interviewEvent.list"),
    _inc("interviews", "interview.list", "interview.info", includeArchived=True, includeNonSharedInterviews=True),
    _inc("interview_plans", "interviewPlan.list", includeArchived=True),
    _inc("users", "user.list", "user.info", includeDeactivated=True),
    _inc("departments", "department.list", "department.info", includeArchived=True),
    _inc("locations", "location.list", "location.info", includeArchived=True),
    _inc("openings", "opening.list", "opening.info"),
    _inc("projects", "project.list", "project.info"),
    _inc("candidate_tags", "candidateTag.list", includeArchived=True),
    _inc("custom_fields", "customField.list", "customField.info", includeArchived=True),
    _inc(
        "feedback_form_definitions", "feedbackFormDefinition.list", "feedbackFormDefinition.info", includeArchived=True
    ),
    _inc("application_feedback", "applicationFeedback.list"),
    _snap("job_postings", "jobPosting.list", "jobPosting.info", includeUnpublishedJobPostings=True),
    _snap("sources", "source.list", includeArchived=True),
    _snap("archive_reasons", "archiveReason.list", includeArchived=True),
    Resource(
        "interview_stages",
        "interviewStage.list",
        SyncMode.SNAPSHOT,
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
