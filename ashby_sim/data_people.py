"""Generators for the pipeline: candidates, applications, offers, interview schedules/events, feedback."""

from ashby_sim import words
from ashby_sim.data_org import Current, Record, form_definition
from ashby_sim.ids import iso
from ashby_sim.universe import (
    INTERVIEWS_PER_PLAN,
    STAGE_ARCHIVED,
    STAGE_HIRED,
    STAGE_LEAD,
    STAGE_OFFER,
    STAGE_ONSITE,
    STAGE_PHONE,
    STAGE_REVIEW,
    Universe,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TIMEZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "America/Toronto", "Asia/Singapore")
FRAUD = ("NotFraudulent", "NotFraudulent", "Unreviewed", "PassedFraudCheck", None)
ACCEPTANCE = (
    ("Accepted",) * 8 + ("Pending",) * 4 + ("WaitingOnResponse",) * 2 + ("Declined",) * 3 + ("Created", "Cancelled")
)
SCHEDULE_STATUSES = ("Scheduled", "Complete", "Complete", "WaitingOnFeedback", "NeedsScheduling", "Cancelled")


def offer_status_for(acceptance: str) -> str:
    """Ashby derives offerStatus from acceptanceStatus (offer.setStatus cannot set it directly)."""
    return {
        "Accepted": "CandidateAccepted",
        "Declined": "CandidateRejected",
        "Cancelled": "OfferCancelled",
    }.get(acceptance, "WaitingOnCandidateResponse")


def application_status_for(stage_type: str) -> str:
    return {"Lead": "Lead", "Hired": "Hired", "Archived": "Archived"}.get(stage_type, "Active")


def candidate_name(u: Universe, i: int) -> str:
    """The base candidate's name alone (cheap: candidate.search scans it)."""
    h = u.h("candidates", i)
    return f"{u.pick(h, 1, words.FIRST_NAMES)} {u.pick(h, 2, words.LAST_NAMES)}"


def _contacts(u: Universe, i: int, h: bytes) -> tuple[str, str, Record, Record]:
    first, last = u.pick(h, 1, words.FIRST_NAMES), u.pick(h, 2, words.LAST_NAMES)
    email = {"value": f"{first}.{last}.{i}@example.org".lower(), "type": "Personal", "isPrimary": True}
    phone = {"value": f"+1555{i % 10_000_000:07d}", "type": "Personal", "isPrimary": True}
    return first, last, email, phone


def candidate_embed(u: Universe, i: int, cur: Current) -> Record:
    """The fields of base candidate `i` that other records embed, without building the rest of it."""
    h = u.h("candidates", i)
    first, last, email, phone = _contacts(u, i, h)
    return {
        "id": u.id("candidates", i),
        "name": f"{first} {last}",
        "primaryEmailAddress": email,
        "primaryPhoneNumber": phone,
        "source": cur("sources", u.num(h, 10, u.count["sources"])),
        "creditedToUser": cur("users", u.user_for("candidates", i)),
    }


def candidate(u: Universe, i: int, cur: Current) -> Record:
    h = u.h("candidates", i)
    first, last, email, phone = _contacts(u, i, h)
    city, region, country = u.pick(h, 3, words.CITIES)
    tags = [cur("candidate_tags", u.num(h, 6 + k, u.count["candidate_tags"])) for k in range(u.num(h, 5, 3))]
    cid = u.id("candidates", i)
    rec: Record = {
        "id": cid,
        "createdAt": iso(u.created_ms("candidates", i, h)),
        "updatedAt": iso(u.updated_ms("candidates", i, h)),
        "name": f"{first} {last}",
        "primaryEmailAddress": email,
        "emailAddresses": [email],
        "primaryPhoneNumber": phone,
        "phoneNumbers": [phone],
        "socialLinks": [{"type": "LinkedIn", "url": f"https://www.linkedin.com/in/{first}-{last}-{i}".lower()}],
        "tags": [{"id": t["id"], "title": t["title"], "isArchived": t["isArchived"]} for t in tags],
        "position": u.pick(h, 11, words.JOB_TITLES),
        "company": u.pick(h, 12, words.COMPANIES),
        "school": u.pick(h, 13, words.SCHOOLS),
        "applicationIds": [u.id("applications", a) for a in u.candidate_applications(i)],
        "fileHandles": [],
        "customFields": [],
        "profileUrl": f"https://app.ashbyhq.com/candidates/{cid}",
        "source": cur("sources", u.num(h, 10, u.count["sources"])),
        "creditedToUser": cur("users", u.user_for("candidates", i)),
        "timezone": u.pick(h, 14, TIMEZONES),
        "location": {
            "id": u.id("locations", u.num(h, 15, u.count["locations"])),
            "locationSummary": f"{city}, {region}, {country}",
            "locationComponents": [
                {"type": "City", "name": city},
                {"type": "Region", "name": region},
                {"type": "Country", "name": country},
            ],
        },
        "fraudStatus": u.pick(h, 16, FRAUD),
    }
    if i % 3 == 0:
        resume = {"id": cid[:8] + "-resume", "name": "resume.pdf", "handle": f"sandbox-{i}-resume"}
        rec["resumeFileHandle"] = resume
        rec["fileHandles"] = [resume]
    if i % 4 == 0:
        salary = cur("custom_fields", 0)
        rec["customFields"] = [
            {"id": salary["id"], "title": salary["title"], "isPrivate": False, "value": 60_000 + 1_000 * (i % 90)}
        ]
    return rec


def offer_acceptance(u: Universe, o: int) -> str:
    return u.pick(u.h("offers", o), 1, ACCEPTANCE)


def base_stage(u: Universe, a: int) -> int:
    """The stage (0..6 within its plan) application `a` starts in."""
    o = u.application_offer(a)
    if o is not None:
        return STAGE_HIRED if offer_acceptance(u, o) == "Accepted" else STAGE_OFFER
    h = u.h("applications", a)
    if u.application_schedule(a) is not None:
        return u.pick(h, 14, (STAGE_PHONE, STAGE_ONSITE))
    return (STAGE_LEAD, *(STAGE_REVIEW,) * 4, *(STAGE_ARCHIVED,) * 3, STAGE_PHONE, STAGE_PHONE)[u.num(h, 15, 10)]


def candidate_summary(cand: Record) -> Record:
    out: Record = {"id": cand["id"], "name": cand["name"]}
    for key in ("primaryEmailAddress", "primaryPhoneNumber"):
        if cand.get(key):
            out[key] = cand[key]
    return out


def stage_summary(stage: Record) -> Record:
    keys = ("id", "title", "type", "orderInInterviewPlan", "interviewStageGroupId", "interviewPlanId")
    return {k: stage[k] for k in keys if k in stage}


def job_summary(job: Record) -> Record:
    return {k: job[k] for k in ("id", "title", "locationId", "departmentId") if k in job}


def application(u: Universe, a: int, cur: Current) -> Record:
    h = u.h("applications", a)
    c = u.application_candidate(a)
    cand, j = cur("candidates", c), u.application_job(a)
    job = cur("jobs", j)
    k = base_stage(u, a)
    stage = cur("interview_stages", u.stage_index(u.job_plan(j), k))
    created = u.created_ms("candidates", c) + (a % 3) * HOUR_MS
    rec: Record = {
        "id": u.id("applications", a),
        "createdAt": iso(created),
        "updatedAt": iso(created + u.num(h, 20, 20 * DAY_MS)),
        "status": application_status_for(stage["type"]),
        "customFields": [],
        "candidate": candidate_summary(cand),
        "currentInterviewStage": stage_summary(stage),
        "source": cand["source"],
        "job": job_summary(job),
        "creditedToUser": cand["creditedToUser"],
        "hiringTeam": job["hiringTeam"],
    }
    if k == STAGE_ARCHIVED:
        reason = cur("archive_reasons", u.num(h, 3, u.count["archive_reasons"]))
        rec["archiveReason"] = {**reason, "customFields": []}
        rec["archivedAt"] = iso(created + 10 * DAY_MS)
    if a % 3 == 0:
        rec["appliedViaJobPostingId"] = u.id("job_postings", j)
    return rec


def offer(u: Universe, o: int, cur: Current) -> Record:
    a = u.offer_application(o)
    app = cur("applications", a)
    h = u.h("offers", o)
    acceptance = offer_acceptance(u, o)
    created = u.created_ms("candidates", u.application_candidate(a)) + 30 * DAY_MS
    version: Record = {
        "id": u.id("offers", o + u.count["offers"]),
        "startDate": iso(created + 45 * DAY_MS),
        "salary": {"currencyCode": "USD", "value": 80_000 + 1_000 * u.num(h, 2, 120)},
        "createdAt": iso(created),
        "openingId": u.id("openings", u.application_job(a)),
        "customFields": [],
        "fileHandles": [],
        "author": cur("users", u.user_for("offers", o)),
        "approvalStatus": "Approved",
    }
    rec: Record = {
        "id": u.id("offers", o),
        "applicationId": app["id"],
        "acceptanceStatus": acceptance,
        "offerStatus": offer_status_for(acceptance),
        "latestVersion": version,
        "versions": [version],
        "createdAt": iso(created),
        "updatedAt": iso(created + DAY_MS + u.num(h, 6, 5 * DAY_MS)),
    }
    if acceptance in ("Accepted", "Declined"):
        rec["decidedAt"] = iso(created + 3 * DAY_MS)
    return rec


def interview_event(u: Universe, e: int, cur: Current) -> Record:
    s = u.event_schedule(e)
    a = u.schedule_application(s)
    plan = u.job_plan(u.application_job(a))
    interview = cur("interviews", u.plan_interview(plan, e % 2 % INTERVIEWS_PER_PLAN))
    interviewer = cur("users", u.user_for("interview_events", e))
    start = u.created_ms("candidates", u.application_candidate(a)) + (5 + e % 2) * DAY_MS
    event_id = u.id("interview_events", e)
    return {
        "id": event_id,
        "interviewId": interview["id"],
        "interviewScheduleId": u.id("interview_schedules", s),
        "interviewerUserIds": [interviewer["id"]],
        # The spec's trainingRole enum has no null although its type allows it: use a value it accepts.
        "interviewers": [
            {**interviewer, "trainingRole": "Shadow", "interviewerPool": None, "isFeedbackRequired": True},
        ],
        "createdAt": iso(start - 2 * DAY_MS),
        "updatedAt": iso(start - DAY_MS),
        "startTime": iso(start),
        "endTime": iso(start + HOUR_MS),
        "feedbackLink": f"https://app.ashbyhq.com/interview-briefings/{event_id}/feedback",
        "location": None,
        "meetingLink": f"https://meet.example.com/{event_id[:8]}",
        "hasSubmittedFeedback": e % 2 == 0,
        "extraData": {},
    }


def interview_schedule(u: Universe, s: int, cur: Current) -> Record:
    a = u.schedule_application(s)
    app = cur("applications", a)
    events = [cur("interview_events", s * 2 + k) for k in range(2)]
    return {
        "id": u.id("interview_schedules", s),
        "status": u.pick(u.h("interview_schedules", s), 1, SCHEDULE_STATUSES),
        "applicationId": app["id"],
        "interviewStageId": app["currentInterviewStage"]["id"],
        "scheduledBy": cur("users", u.user_for("interview_schedules", s)),
        "createdAt": events[0]["createdAt"],
        "updatedAt": events[-1]["updatedAt"],
        "interviewEvents": events,
    }


def application_feedback(u: Universe, f: int, cur: Current) -> Record:
    e = u.feedback_event(f)
    event = cur("interview_events", e)
    a = u.schedule_application(u.event_schedule(e))
    h = u.h("application_feedback", f)
    submitted = event["endTime"]
    return {
        "id": u.id("application_feedback", f),
        "formDefinition": form_definition(u, "feedback", 0),
        "submittedValues": {"feedback.0.score": 1 + u.num(h, 1, 4), "feedback.0.notes": "Structured notes."},
        "submittedByUser": cur("users", u.user_for("interview_events", e)),
        "interviewId": event["interviewId"],
        "interviewEventId": event["id"],
        "feedbackFormDefinitionId": u.id("feedback_form_definitions", 0),
        "applicationId": u.id("applications", a),
        "submittedAt": submitted,
        "updatedAt": submitted,
    }
