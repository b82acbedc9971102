"""Changes to the org, used by tests and by the HTTP write endpoints alike; each fires Ashby's webhooks."""

from abc import abstractmethod
from typing import Any

from ashby_sim.creations import Creations
from ashby_sim.data_org import Record
from ashby_sim.data_people import (
    ACCEPTANCE,
    application_status_for,
    candidate_summary,
    job_summary,
    offer_status_for,
    stage_summary,
)
from ashby_sim.faults import SimError
from ashby_sim.ids import iso
from ashby_sim.universe import STAGE_HIRED, STAGE_REVIEW

# The `*Update` webhook `touch` fires for each kind that has one.
UPDATE_ACTIONS = {
    "applications": ("applicationUpdate", "application"),
    "jobs": ("jobUpdate", "job"),
    "offers": ("offerUpdate", "offer"),
    "job_postings": ("jobPostingUpdate", "jobPosting"),
    "interview_schedules": ("interviewScheduleUpdate", "interviewSchedule"),
}


class Mutations(Creations):
    """Application, offer, posting and generic changes (candidates: `PeopleMutations`; new jobs, openings and
    schedules: `Creations`)."""

    @abstractmethod
    def emit(self, events: list[tuple[str, Record]]) -> str: ...

    def _stage_in_plan(self, stage_id: Any, plan_id: str) -> Record:
        stage = self.records.get("interview_stages", stage_id)
        if stage is None:
            raise SimError("interview_stage_not_found", "no interview stage with this id")
        if stage["interviewPlanId"] != plan_id:
            raise SimError("invalid_input", "the interview stage is not in the application's interview plan")
        return stage

    def _plan_stage(self, plan_id: str, k: int) -> Record:
        plan = self.records.index_of("interview_plans", plan_id)
        if plan is None:
            raise SimError("interview_plan_not_found", "no interview plan with this id")
        return self.records.current("interview_stages", self.records.u.stage_index(plan, k))

    def _application(self, application_id: Any) -> Record:
        app = self.records.editable("applications", application_id)
        if app is None:
            raise SimError("application_not_found", "no application with this id")
        return app

    def _set_stage(self, app: Record, stage: Record, archive_reason_id: Any = None) -> None:
        app["currentInterviewStage"] = stage_summary(stage)
        app["status"] = application_status_for(stage["type"])
        app.pop("archiveReason", None)
        app.pop("archivedAt", None)
        if stage["type"] == "Archived":
            if archive_reason_id is None:
                raise SimError("invalid_input", "archiveReasonId is required to archive an application")
            reason = self.records.get("archive_reasons", archive_reason_id)
            if reason is None:
                raise SimError("archive_reason_not_found", "no archive reason with this id")
            app["archiveReason"] = {**reason, "customFields": []}
            app["archivedAt"] = iso(self.records.next_ms())

    def change_stage(self, application_id: str, stage_id: str, archive_reason_id: str | None = None) -> Record:
        """Move an application; fires candidateStageChange + applicationUpdate (or the hire trio)."""
        app = self._application(application_id)
        stage = self._stage_in_plan(stage_id, app["currentInterviewStage"]["interviewPlanId"])
        self._set_stage(app, stage, archive_reason_id)
        self.records.put("applications", app)
        if stage["type"] == "Hired":
            hire: Record = {"application": app}
            offer = self._offer_of(app["id"])
            if offer is not None and offer["acceptanceStatus"] == "Accepted":
                hire["offer"] = offer
            events = [("candidateHire", hire), ("applicationUpdate", {"application": app})]
            self.emit([*events, ("candidateStageChange", {"application": app})])
        else:
            self.emit([("candidateStageChange", {"application": app}), ("applicationUpdate", {"application": app})])
        return app

    def hire(self, application_id: str) -> Record:
        """Move an application to its plan's Hired stage (candidateHire + applicationUpdate + stage change)."""
        app = self._application(application_id)
        stage = self._plan_stage(app["currentInterviewStage"]["interviewPlanId"], STAGE_HIRED)
        return self.change_stage(application_id, stage["id"])

    def _offer_of(self, application_id: str) -> Record | None:
        index = self.records.index_of("applications", application_id)
        o = None if index is None else self.records.u.application_offer(index)
        return None if o is None else self.records.get("offers", self.records.u.id("offers", o))

    def _updated_application(self, app: Record) -> Record:
        self.records.put("applications", app)
        self.emit([("applicationUpdate", {"application": app})])
        return app

    def change_source(self, application_id: str, source_id: str) -> Record:
        app = self._application(application_id)
        app["source"] = self._source(source_id)
        return self._updated_application(app)

    def update_application(
        self,
        application_id: str,
        *,
        source_id: str | None = None,
        credited_to_user_id: str | None = None,
        created_at: str | None = None,
    ) -> Record:
        app = self._application(application_id)
        if source_id is not None:
            app["source"] = self._source(source_id)
        if credited_to_user_id is not None:
            app["creditedToUser"] = self._user(credited_to_user_id)
        if created_at is not None:
            app["createdAt"] = created_at
        return self._updated_application(app)

    def transfer_application(
        self, application_id: str, job_id: str, interview_plan_id: str, interview_stage_id: str
    ) -> Record:
        app = self._application(application_id)
        job = self._job(job_id)
        stage = self._stage_in_plan(interview_stage_id, interview_plan_id)
        app["job"] = job_summary(job)
        app["hiringTeam"] = job["hiringTeam"]
        self._set_stage(app, stage, None if stage["type"] != "Archived" else self.records.u.id("archive_reasons", 0))
        return self._updated_application(app)

    def create_application(
        self,
        candidate_id: str,
        job_id: str,
        *,
        interview_stage_id: str | None = None,
        source_id: str | None = None,
        credited_to_user_id: str | None = None,
    ) -> Record:
        """Consider a candidate for a job; fires applicationSubmit."""
        cand = self._candidate(candidate_id)
        job = self._job(job_id)
        plan_id = job["defaultInterviewPlanId"]
        stage = (
            self._stage_in_plan(interview_stage_id, plan_id)
            if interview_stage_id is not None
            else self._plan_stage(plan_id, STAGE_REVIEW)
        )
        app: Record = {
            "id": self.records.new_id(),
            "createdAt": "",
            "updatedAt": "",
            "status": "Active",
            "customFields": [],
            "candidate": candidate_summary(cand),
            "currentInterviewStage": stage_summary(stage),
            "job": job_summary(job),
            "hiringTeam": job["hiringTeam"],
        }
        if source_id is not None or "source" in cand:
            app["source"] = self._source(source_id) if source_id is not None else cand["source"]
        if credited_to_user_id is not None:
            app["creditedToUser"] = self._user(credited_to_user_id)
        self._set_stage(app, stage, None if stage["type"] != "Archived" else self.records.u.id("archive_reasons", 0))
        self.records.create("applications", app)
        cand["applicationIds"] = [*cand["applicationIds"], app["id"]]
        self.records.put("candidates", cand)
        self.emit([("applicationSubmit", {"application": app})])
        return app

    def set_offer_status(self, offer_id: str, acceptance_status: str) -> Record:
        """Set acceptanceStatus; offerStatus and decidedAt follow (offer.setStatus). Fires offerUpdate."""
        if acceptance_status not in ACCEPTANCE:
            raise SimError("invalid_input", f"unknown acceptanceStatus {acceptance_status!r}")
        offer = self.records.editable("offers", offer_id)
        if offer is None:
            raise SimError("offer_not_found", "no offer with this id")
        offer["acceptanceStatus"] = acceptance_status
        offer["offerStatus"] = offer_status_for(acceptance_status)
        if acceptance_status in ("Accepted", "Declined", "Cancelled"):
            offer["decidedAt"] = iso(self.records.next_ms())
        else:
            offer.pop("decidedAt", None)
        self.records.put("offers", offer)
        self.emit([("offerUpdate", {"offer": offer})])
        return offer

    def delete_offer(self, offer_id: str) -> None:
        offer = self.records.get("offers", offer_id)
        if offer is None:
            raise SimError("offer_not_found", "no offer with this id")
        self.records.delete("offers", offer_id)
        self.emit([("offerDelete", {"offer": {"id": offer["id"], "applicationId": offer["applicationId"]}})])

    def delete_job_posting(self, job_posting_id: str) -> None:
        posting = self.records.get("job_postings", job_posting_id)
        if posting is None:
            raise SimError("job_posting_not_found", "no job posting with this id")
        self.records.delete("job_postings", job_posting_id)
        job = self.records.editable("jobs", posting["jobId"])
        if job is not None:
            job["jobPostingIds"] = [p for p in job["jobPostingIds"] if p != posting["id"]]
            self.records.put("jobs", job)
        self.emit([("jobPostingDelete", {"jobPosting": {"id": posting["id"], "jobId": posting["jobId"]}})])

    def touch(self, resource_name: str, ids_or_count: int | list[str]) -> list[str]:
        """Give records a new updatedAt (the first `count` in list order, or these ids); fires *Update webhooks."""
        ids: list[str] = []
        if isinstance(ids_or_count, int):
            for _, rec in self.records.iter_slots(resource_name):
                if len(ids) >= ids_or_count:
                    break
                ids.append(rec["id"])
        else:
            ids = list(ids_or_count)
        action = UPDATE_ACTIONS.get(resource_name)
        for record_id in ids:
            found = self.records.editable(resource_name, record_id)
            if found is None:
                raise SimError("invalid_input", f"no {resource_name} record {record_id}")
            self.records.put(resource_name, found)
            if action is not None:
                self.emit([(action[0], {action[1]: found})])
        return ids
