"""Generators for the org's own records: users, departments, locations, plans, stages, jobs, postings, lookups."""

from collections.abc import Callable
from typing import Any

from ashby_sim import words
from ashby_sim.ids import iso
from ashby_sim.universe import INTERVIEWS_PER_PLAN, STAGES, STAGES_PER_PLAN, Universe

Record = dict[str, Any]
Current = Callable[[str, int], Record]  # the current (possibly mutated) base record of (kind, index)

ROLES = ("Organization Admin", "Elevated Access", "Limited Access", "External Recruiter")
EMPLOYMENT_TYPES = ("FullTime", "FullTime", "FullTime", "PartTime", "Intern", "Contract", "Temporary")
WORKPLACE_TYPES = ("OnSite", "Hybrid", "Remote")


def user(u: Universe, i: int, cur: Current) -> Record:
    h = u.h("users", i)
    first, last = u.pick(h, 1, words.FIRST_NAMES), u.pick(h, 2, words.LAST_NAMES)
    rec: Record = {
        "id": u.id("users", i),
        "firstName": first,
        "lastName": last,
        "email": f"{first}.{last}.{i}@example.com".lower(),
        "globalRole": ROLES[0] if i == 0 else u.pick(h, 3, ROLES[1:]),
        "isEnabled": i % 11 != 10,
        "updatedAt": iso(u.updated_ms("users", i)),
    }
    if i > 0:
        rec["managerId"] = u.id("users", (i - 1) // 5)
    return rec


def department(u: Universe, i: int, cur: Current) -> Record:
    name = words.DEPARTMENTS[i % len(words.DEPARTMENTS)] + (f" {i // len(words.DEPARTMENTS) + 1}" if i >= 9 else "")
    rec: Record = {
        "id": u.id("departments", i),
        "name": name,
        "externalName": name,
        "isArchived": i % 13 == 12,
        "createdAt": iso(u.created_ms("departments", i)),
        "updatedAt": iso(u.updated_ms("departments", i)),
        "extraData": {},
    }
    if i >= len(words.DEPARTMENTS):
        rec["parentId"] = u.id("departments", i % len(words.DEPARTMENTS))
    return rec


def location(u: Universe, i: int, cur: Current) -> Record:
    city, region, country = words.CITIES[i % len(words.CITIES)]
    name = city if i < len(words.CITIES) else f"{city} {i // len(words.CITIES) + 1}"
    workplace = WORKPLACE_TYPES[i % 3]
    return {
        "id": u.id("locations", i),
        "name": name,
        "externalName": name,
        "isArchived": i % 17 == 16,
        "address": {"postalAddress": {"addressCountry": country, "addressRegion": region, "addressLocality": city}},
        "isRemote": workplace == "Remote",
        "workplaceType": workplace,
        "type": "Location",
        "extraData": {},
        "updatedAt": iso(u.updated_ms("locations", i)),  # not in the spec's schema; sync needs a change time
    }


def interview_plan(u: Universe, i: int, cur: Current) -> Record:
    return {
        "id": u.id("interview_plans", i),
        "title": f"{words.JOB_TITLES[i % len(words.JOB_TITLES)]} plan {i + 1}",
        "isArchived": i % 19 == 18,
        "createdAt": iso(u.created_ms("interview_plans", i)),
        "updatedAt": iso(u.updated_ms("interview_plans", i)),
    }


def interview_stage(u: Universe, i: int, cur: Current) -> Record:
    plan, k = divmod(i, STAGES_PER_PLAN)
    title, stage_type = STAGES[k]
    return {
        "id": u.id("interview_stages", i),
        "title": title,
        "type": stage_type,
        "orderInInterviewPlan": k,
        "interviewStageGroupId": u.id("interview_stages", k),
        "interviewPlanId": u.id("interview_plans", plan),
    }


def interview(u: Universe, i: int, cur: Current) -> Record:
    plan, k = divmod(i, INTERVIEWS_PER_PLAN)
    title = words.INTERVIEWS[k]
    rec: Record = {
        "id": u.id("interviews", i),
        "title": title,
        "externalTitle": title,
        "isArchived": False,
        "isDebrief": k == INTERVIEWS_PER_PLAN - 1,
        "isFeedbackRequired": k != INTERVIEWS_PER_PLAN - 1,
        "isFeedbackRequested": True,
        "instructionsPlain": f"{title}: 45 minutes.",
        "instructionsHtml": f"<p>{title}: 45 minutes.</p>",
        "feedbackFormDefinitionId": u.id("feedback_form_definitions", i % u.count["feedback_form_definitions"]),
        "updatedAt": iso(u.updated_ms("interviews", i)),  # not in the spec's schema; sync needs a change time
    }
    if plan % 2 == 0:  # odd plans' interviews are shared (no job)
        rec["jobId"] = u.id("jobs", plan % u.count["jobs"])
    return rec


def form_definition(u: Universe, kind: str, i: int) -> Record:
    base = f"{kind}.{i}"
    return {
        "sections": [
            {
                "title": "Assessment",
                "fields": [
                    {
                        "isRequired": True,
                        "field": {
                            "id": u.id("custom_fields", 0),
                            "path": f"{base}.score",
                            "humanReadablePath": "Overall score",
                            "title": "Overall score",
                            "type": "Score",
                            "isNullable": False,
                        },
                    },
                    {
                        "isRequired": False,
                        "field": {
                            "id": u.id("custom_fields", 1),
                            "path": f"{base}.notes",
                            "humanReadablePath": "Notes",
                            "title": "Notes",
                            "type": "RichText",
                            "isNullable": True,
                        },
                    },
                ],
            }
        ]
    }


def feedback_form_definition(u: Universe, i: int, cur: Current) -> Record:
    return {
        "id": u.id("feedback_form_definitions", i),
        "organizationId": u.id("organization", 0),
        "title": f"Scorecard {i + 1}",
        "isArchived": i % 23 == 22,
        "isDefaultForm": i == 0,
        "formDefinition": form_definition(u, "feedback", 0),
        "updatedAt": iso(u.updated_ms("feedback_form_definitions", i)),
    }


def job_status(i: int) -> str:
    if i % 10 == 0:
        return "Closed"
    if i % 10 == 1:
        return "Draft"
    return "Archived" if i % 17 == 3 else "Open"


def _hiring_team(u: Universe, kind: str, i: int, cur: Current) -> list[Record]:
    recruiter = cur("users", u.user_for(kind, i))
    return [
        {
            "email": recruiter["email"],
            "firstName": recruiter["firstName"],
            "lastName": recruiter["lastName"],
            "role": "Recruiter",
            "userId": recruiter["id"],
        }
    ]


def job(u: Universe, i: int, cur: Current) -> Record:
    h = u.h("jobs", i)
    status = job_status(i)
    created = u.created_ms("jobs", i)
    plan = u.id("interview_plans", u.job_plan(i))
    rec: Record = {
        "id": u.id("jobs", i),
        "title": u.pick(h, 1, words.SENIORITY) + u.pick(h, 2, words.JOB_TITLES),
        "confidential": i % 29 == 28,
        "status": status,
        "employmentType": u.pick(h, 3, EMPLOYMENT_TYPES),
        "locationId": u.id("locations", u.num(h, 4, u.count["locations"])),
        "departmentId": u.id("departments", u.num(h, 8, u.count["departments"])),
        "defaultInterviewPlanId": plan,
        "interviewPlanIds": [plan],
        "customFields": [],
        "jobPostingIds": [u.id("job_postings", i)],
        "hiringTeam": _hiring_team(u, "jobs", i, cur),
        "author": cur("users", u.user_for("jobs", i, 12)),
        "createdAt": iso(created),
        "updatedAt": iso(u.updated_ms("jobs", i)),
    }
    if status != "Draft":
        rec["openedAt"] = iso(created + 86_400_000)
    if status in ("Closed", "Archived"):
        rec["closedAt"] = iso(created + 90 * 86_400_000)
    return rec


def opening(u: Universe, i: int, cur: Current) -> Record:
    j = cur("jobs", i)
    state = {"Open": "Open", "Draft": "Draft", "Closed": "Filled", "Archived": "Closed"}[job_status(i)]
    created = u.created_ms("openings", i)
    rec: Record = {
        "id": u.id("openings", i),
        "isArchived": state == "Closed",
        "openingState": state,
        "latestVersion": {
            "id": u.id("openings", i + u.count["openings"]),
            "identifier": f"REQ-{i + 1:05d}",
            "description": f"Opening for {j['title']}",
            "authorId": u.id("users", u.user_for("openings", i)),
            "createdAt": iso(created),
            "jobIds": [j["id"]],
            "isBackfill": i % 7 == 0,
            "employmentType": j["employmentType"],
            "locationIds": [j["locationId"]],
            "hiringTeam": j["hiringTeam"],
            "customFields": [],
        },
        "updatedAt": iso(u.updated_ms("openings", i)),
    }
    if state != "Draft":
        rec["openedAt"] = iso(created + 86_400_000)
    if state in ("Filled", "Closed"):
        rec["closedAt"] = iso(created + 60 * 86_400_000)
    return rec
