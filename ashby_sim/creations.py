"""Creating jobs, openings and interview schedules: each fires Ashby's create webhook."""

import copy
from typing import Any

from ashby_sim.data_org import Record
from ashby_sim.faults import SimError
from ashby_sim.ids import iso, parse_iso
from ashby_sim.people import PeopleMutations

_JOB_STATUSES = ("Draft", "Open", "Closed", "Archived")


def _check_times(start: Any, end: Any) -> tuple[str, str]:
    """ISO start and end of an interview event; invalid_input unless both parse and end is after start."""
    try:
        start_ms, end_ms = parse_iso(start), parse_iso(end)
    except (TypeError, ValueError, AttributeError):
        raise SimError("invalid_input", "startTime and endTime must be ISO-8601 timestamps") from None
    if end_ms <= start_ms:
        raise SimError("invalid_input", "endTime must be after startTime")
    return iso(start_ms), iso(end_ms)


class Creations(PeopleMutations):
    """job.create, opening.create and interviewSchedule.create; new records take the shape of generated ones."""

    def _plan(self, plan_id: Any) -> Record:
        plan = self.records.get("interview_plans", plan_id)
        if plan is None:
            raise SimError("interview_plan_not_found", "no interview plan with this id")
        return plan

    def create_job(
        self,
        title: str,
        *,
        team_id: str | None = None,
        location_id: str | None = None,
        default_interview_plan_id: str | None = None,
    ) -> Record:
        """A new Draft job (no postings yet); fires jobCreate."""
        given: Any = title  # the admin route passes JSON through unchecked
        if not isinstance(given, str) or not given.strip():
            raise SimError("invalid_input", "title is required")
        job = copy.deepcopy(self.records.current("jobs", 0))  # the shape of a generated job
        for key in ("openedAt", "closedAt"):
            job.pop(key, None)
        job.update(id=self.records.new_id(), title=given.strip(), status=_JOB_STATUSES[0], jobPostingIds=[])
        if team_id is not None:
            if self.records.get("departments", team_id) is None:
                raise SimError("department_not_found", "no department or team with this id")
            job["departmentId"] = team_id
        if location_id is not None:
            if self.records.get("locations", location_id) is None:
                raise SimError("location_not_found", "no location with this id")
            job["locationId"] = location_id
        if default_interview_plan_id is not None:
            plan = self._plan(default_interview_plan_id)
            job["defaultInterviewPlanId"] = plan["id"]
            job["interviewPlanIds"] = [plan["id"]]
        self.records.create("jobs", job)
        self.emit([("jobCreate", {"job": job})])
        return job

    def create_opening(self, job_ids: list[str], *, identifier: str | None = None) -> Record:
        """A new open opening for these jobs; fires openingCreate."""
        jobs = [self._job(j) for j in job_ids]
        opening = copy.deepcopy(self.records.current("openings", 0))
        opening_id = self.records.new_id()
        version = opening["latestVersion"]
        version.update(
            id=self.records.new_id(),
            identifier=identifier or f"REQ-{opening_id[:8].upper()}",
            description=f"Opening for {jobs[0]['title']}" if jobs else "Opening",
            createdAt=iso(self.records.next_ms()),
            jobIds=[j["id"] for j in jobs],
            locationIds=sorted({j["locationId"] for j in jobs if j.get("locationId")}),
        )
        opening.pop("closedAt", None)
        opening.update(id=opening_id, isArchived=False, openingState="Open", openedAt=version["createdAt"])
        self.records.create("openings", opening)
        self.emit([("openingCreate", {"opening": opening})])
        return opening

    def create_interview_schedule(self, application_id: str, events: list[dict[str, Any]]) -> Record:
        """Schedule interviews for an application: `events` of {startTime, endTime, interviewers: [{email}]}.

        Fires interviewScheduleCreate and interviewScheduleUpdate, which share one webhookActionId.
        """
        app = self.records.get("applications", application_id)
        if app is None:
            raise SimError("application_not_found", "no application with this id")
        given_events: Any = events  # the HTTP route passes JSON through unchecked
        if not isinstance(given_events, list) or not given_events:
            raise SimError("invalid_input", "interviewEvents must list at least one event")
        users = (self.records.get("users", user_id) for user_id in self.records.ids("users"))
        users_by_email = {u["email"]: u for u in users if u is not None}
        template = copy.deepcopy(self.records.current("interview_schedules", 0))
        event_template = template["interviewEvents"][0]
        schedule_id = self.records.new_id()
        built: list[Record] = []
        for given in given_events:
            if not isinstance(given, dict):
                raise SimError("invalid_input", "each interview event must be an object")
            start, end = _check_times(given.get("startTime"), given.get("endTime"))
            interviewers = []
            for person in given.get("interviewers") or []:
                user = users_by_email.get(person.get("email")) if isinstance(person, dict) else None
                if user is None:
                    raise SimError("user_not_found", "no user with this interviewer email")
                # as generated events do: the spec requires trainingRole and its enum has no null
                interviewers.append(
                    {**user, "trainingRole": "Shadow", "interviewerPool": None, "isFeedbackRequired": True}
                )
            if not interviewers:
                raise SimError("invalid_input", "each interview event needs at least one interviewer")
            event = copy.deepcopy(event_template)
            event_id = self.records.new_id()
            event.update(
                id=event_id,
                interviewScheduleId=schedule_id,
                interviewerUserIds=[i["id"] for i in interviewers],
                interviewers=interviewers,
                startTime=start,
                endTime=end,
                createdAt="",
                updatedAt="",
                feedbackLink=f"https://app.ashbyhq.com/interview-briefings/{event_id}/feedback",
                meetingLink=f"https://meet.example.com/{event_id[:8]}",
                hasSubmittedFeedback=False,
            )
            built.append(event)
        for event in built:  # every event checked first: a bad one leaves nothing half-created
            self.records.create("interview_events", event)
        template.update(
            id=schedule_id,
            status="Scheduled",
            applicationId=app["id"],
            interviewStageId=app["currentInterviewStage"]["id"],
            createdAt="",
            updatedAt="",
            interviewEvents=built,
        )
        schedule = self.records.create("interview_schedules", template)
        self.emit(
            [
                ("interviewScheduleCreate", {"interviewSchedule": schedule}),
                ("interviewScheduleUpdate", {"interviewSchedule": schedule}),
            ]
        )
        return schedule
