"""The Ashby API endpoints the sandbox serves: each takes (state, JSON body) and returns the response body."""

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ashby_api.resources import RESOURCES, Resource, SyncMode
from ashby_sim.data_catalog import job_posting_published
from ashby_sim.data_org import Record
from ashby_sim.data_people import candidate_name
from ashby_sim.faults import SimError
from ashby_sim.state import SimState
from ashby_sim.sync import Predicate

Body = dict[str, Any]
Handler = Callable[[SimState, Body], Awaitable[Body]]

# info endpoint -> (id parameter, not-found code)
INFO_PARAMS: dict[str, tuple[str, str]] = {
    "candidate.info": ("id", "candidate_not_found"),
    "application.info": ("applicationId", "application_not_found"),
    "job.info": ("id", "job_not_found"),
    "offer.info": ("offerId", "offer_not_found"),
    "interview.info": ("id", "interview_not_found"),
    "user.info": ("userId", "user_not_found"),
    "department.info": ("departmentId", "department_not_found"),
    "location.info": ("locationId", "location_not_found"),
    "opening.info": ("openingId", "opening_not_found"),
    "project.info": ("projectId", "project_not_found"),
    "customField.info": ("customFieldId", "custom_field_not_found"),
    "feedbackFormDefinition.info": ("feedbackFormDefinitionId", "feedback_form_definition_not_found"),
    "jobPosting.info": ("jobPostingId", "job_posting_not_found"),
    "interviewStage.info": ("interviewStageId", "interview_stage_not_found"),
}
ARCHIVABLE = frozenset(
    {
        "departments",
        "locations",
        "candidate_tags",
        "custom_fields",
        "feedback_form_definitions",
        "interviews",
        "interview_plans",
        "sources",
        "archive_reasons",
    }
)
SEARCH_LIMIT = 100
_SANDBOX_EMAIL = re.compile(r"^[a-z]+\.[a-z]+\.(\d+)@example\.org$")


def ok(results: Any) -> Body:
    return {"success": True, "results": results}


def text(body: Body, name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SimError("invalid_input", f"{name} is required and must be a non-empty string")
    return value


def need(body: Body, name: str) -> str:
    value = text(body, name)
    assert value is not None
    return value


def visibility(state: SimState, resource: Resource, body: Body) -> Predicate | None:
    """The default filters of a list: archived, deactivated, unpublished and job-specific rows are opt-in."""
    tests: list[Predicate] = []
    if resource.name in ARCHIVABLE and body.get("includeArchived") is not True:
        tests.append(lambda r: not r.get("isArchived"))
    if resource.name == "users" and body.get("includeDeactivated") is not True:
        tests.append(lambda r: bool(r.get("isEnabled")))
    if resource.name == "interviews" and body.get("includeNonSharedInterviews") is not True:
        tests.append(lambda r: not r.get("jobId"))
    if resource.name == "job_postings" and body.get("includeUnpublishedJobPostings") is not True:
        tests.append(lambda r: _published(state, r))
    schedule = body.get("interviewScheduleId")
    if resource.name == "interview_events" and isinstance(schedule, str):
        tests.append(lambda r: r["interviewScheduleId"] == schedule)
    if not tests:
        return None
    return lambda r: all(t(r) for t in tests)


def _published(state: SimState, posting: Record) -> bool:
    index = state.records.index_of("job_postings", posting["id"])
    return index is None or job_posting_published(index)


def list_handler(resource: Resource) -> Handler:
    async def handle(state: SimState, body: Body) -> Body:
        keep = visibility(state, resource, body)
        if resource.mode is SyncMode.INCREMENTAL:
            return state.lister.page(resource.endpoint, resource.name, body, keep)
        if resource.parent == "interview_plans":
            plan_id = need(body, resource.parent_param or "interviewPlanId")
            plan = state.records.index_of("interview_plans", plan_id)
            if plan is None or state.get("interview_plans", plan_id) is None:
                raise SimError("interview_plan_not_found", "no interview plan with this id")
            stages = (state.records.current("interview_stages", state.records.u.stage_index(plan, k)) for k in range(7))
            return state.lister.snapshot(stages, keep)
        return state.lister.snapshot(state.all_records(resource.name), keep)

    return handle


def info_handler(resource: Resource, endpoint: str) -> Handler:
    param, not_found = INFO_PARAMS[endpoint]

    async def handle(state: SimState, body: Body) -> Body:
        rec = state.get(resource.name, need(body, param))
        if rec is None:
            raise SimError(not_found, f"no {resource.name} record with this id")
        expand = body.get("expand") if isinstance(body.get("expand"), list) else []
        if resource.name == "jobs" and expand:
            rec = dict(rec)
            if "location" in expand and rec.get("locationId"):
                rec["location"] = state.get("locations", rec["locationId"])
            if "openings" in expand:
                index = state.records.index_of("jobs", rec["id"])
                rec["openings"] = [] if index is None else [state.records.current("openings", index)]
        return ok(rec)

    return handle


def search_candidates(state: SimState, body: Body) -> list[Record]:
    """candidate.search: exact email and/or name substring, at most 100 results, no pagination."""
    email, name = text(body, "email", required=False), text(body, "name", required=False)
    if email is None and name is None:
        raise SimError("invalid_input", "email or name is required")
    email_l, name_l = (email or "").lower(), (name or "").lower()

    def matches(rec: Record) -> bool:
        if email is not None and all(e["value"].lower() != email_l for e in rec["emailAddresses"]):
            return False
        return name is None or name_l in rec["name"].lower()

    store = state.records
    changed = store.overlaid("candidates")
    results = [rec for rec in changed.values() if matches(rec)][:SEARCH_LIMIT]
    if email is not None:  # a base candidate's email carries its index: no scan needed
        found = _SANDBOX_EMAIL.match(email_l)
        slots: Iterable[int] = [int(found.group(1))] if found else []
    else:
        u = store.u
        slots = (i for i in range(store.base_count("candidates")) if name_l in candidate_name(u, i).lower())
    for slot in slots:
        if len(results) >= SEARCH_LIMIT or slot >= store.base_count("candidates"):
            break
        rec = store.at_slot("candidates", slot)
        if rec is not None and rec["id"] not in changed and matches(rec):
            results.append(rec)
    return results


def build_read_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for resource in RESOURCES:
        handlers[resource.endpoint] = list_handler(resource)
        if resource.info_endpoint is not None:
            handlers[resource.info_endpoint] = info_handler(resource, resource.info_endpoint)
    return handlers
