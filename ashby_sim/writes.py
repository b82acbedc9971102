"""The write endpoints (candidate, application, job, opening, interview schedule, offer, webhook, apiKey); each
calls a `SimState` mutation."""

from typing import Any

from ashby_sim.endpoints import Body, Handler, need, ok, search_candidates, text
from ashby_sim.faults import SimError
from ashby_sim.permissions import SCOPES
from ashby_sim.state import SimState

_CANDIDATE_FIELDS = (
    "name",
    "email",
    "phoneNumber",
    "linkedInUrl",
    "githubUrl",
    "websiteUrl",
    "website",
    "alternateEmail",
    "sourceId",
    "creditedToUserId",
    "createdAt",
)


def _fields(body: Body, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: body[name] for name in names if body.get(name) is not None}


async def candidate_create(state: SimState, body: Body) -> Body:
    fields = _fields(body, _CANDIDATE_FIELDS)
    name = need(fields, "name")
    del fields["name"]
    return ok(state.create_candidate(name, **fields))


async def candidate_update(state: SimState, body: Body) -> Body:
    return ok(state.update_candidate(need(body, "candidateId"), **_fields(body, _CANDIDATE_FIELDS)))


async def candidate_add_tag(state: SimState, body: Body) -> Body:
    return ok(state.add_tag(need(body, "candidateId"), need(body, "tagId")))


async def candidate_create_note(state: SimState, body: Body) -> Body:
    note = body.get("note")
    content = note.get("value") if isinstance(note, dict) else note
    if not isinstance(content, str) or not content:
        raise SimError("invalid_input", "note is required")
    is_private = body.get("isPrivate") is True
    return ok(state.create_note(need(body, "candidateId"), content, is_private=is_private))


async def candidate_anonymize(state: SimState, body: Body) -> Body:
    return ok(state.anonymize_candidate(need(body, "candidateId")))


async def job_create(state: SimState, body: Body) -> Body:
    job = state.create_job(
        need(body, "title"),
        team_id=text(body, "teamId", required=False),
        location_id=text(body, "locationId", required=False),
        default_interview_plan_id=text(body, "defaultInterviewPlanId", required=False),
    )
    return ok(job)


async def opening_create(state: SimState, body: Body) -> Body:
    job_ids = body.get("jobIds") or []
    if not isinstance(job_ids, list) or not all(isinstance(j, str) for j in job_ids):
        raise SimError("invalid_input", "jobIds must be a list of job ids")
    return ok(state.create_opening(job_ids, identifier=text(body, "identifier", required=False)))


async def interview_schedule_create(state: SimState, body: Body) -> Body:
    events = body.get("interviewEvents")
    return ok(state.create_interview_schedule(need(body, "applicationId"), events))  # type: ignore[arg-type]


async def candidate_search(state: SimState, body: Body) -> Body:
    return ok(search_candidates(state, body))


async def application_create(state: SimState, body: Body) -> Body:
    app = state.create_application(
        need(body, "candidateId"),
        need(body, "jobId"),
        interview_stage_id=text(body, "interviewStageId", required=False),
        source_id=text(body, "sourceId", required=False),
        credited_to_user_id=text(body, "creditedToUserId", required=False),
    )
    return ok(app)


async def application_change_stage(state: SimState, body: Body) -> Body:
    app = state.change_stage(
        need(body, "applicationId"),
        need(body, "interviewStageId"),
        archive_reason_id=text(body, "archiveReasonId", required=False),
    )
    return ok(app)


async def application_change_source(state: SimState, body: Body) -> Body:
    return ok(state.change_source(need(body, "applicationId"), need(body, "sourceId")))


async def application_update(state: SimState, body: Body) -> Body:
    app = state.update_application(
        need(body, "applicationId"),
        source_id=text(body, "sourceId", required=False),
        credited_to_user_id=text(body, "creditedToUserId", required=False),
        created_at=text(body, "createdAt", required=False),
    )
    return ok(app)


async def application_transfer(state: SimState, body: Body) -> Body:
    app = state.transfer_application(
        need(body, "applicationId"),
        need(body, "jobId"),
        need(body, "interviewPlanId"),
        need(body, "interviewStageId"),
    )
    return ok(app)


async def offer_set_status(state: SimState, body: Body) -> Body:
    return ok(state.set_offer_status(need(body, "offerId"), need(body, "acceptanceStatus")))


async def webhook_create(state: SimState, body: Body) -> Body:
    hook = await state.create_webhook(need(body, "webhookType"), need(body, "requestUrl"), need(body, "secretToken"))
    return ok(hook.info(with_secret=True))


async def webhook_update(state: SimState, body: Body) -> Body:
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise SimError("invalid_input", "enabled must be a boolean")
    url, secret = text(body, "requestUrl", required=False), text(body, "secretToken", required=False)
    if enabled is None and url is None and secret is None:
        raise SimError("invalid_input", "one of enabled, requestUrl or secretToken is required")
    hook = await state.update_webhook(need(body, "webhookId"), enabled=enabled, request_url=url, secret_token=secret)
    return ok(hook.info(with_secret=True))


async def webhook_delete(state: SimState, body: Body) -> Body:
    return ok({"webhookId": state.delete_webhook(need(body, "webhookId"))})


async def webhook_info(state: SimState, body: Body) -> Body:
    return ok(state.webhook(need(body, "webhookId")).info())


async def api_key_info(state: SimState, body: Body) -> Body:
    scopes = state.faults.key_scopes
    return ok(
        {
            "title": "Sandbox API key",
            "createdAt": state.started_at,
            "scopes": list(SCOPES if scopes is None else scopes),
        }
    )


WRITE_HANDLERS: dict[str, Handler] = {
    "candidate.create": candidate_create,
    "candidate.update": candidate_update,
    "candidate.addTag": candidate_add_tag,
    "candidate.createNote": candidate_create_note,
    "candidate.anonymize": candidate_anonymize,
    "candidate.search": candidate_search,
    "application.create": application_create,
    "job.create": job_create,
    "opening.create": opening_create,
    "interviewSchedule.create": interview_schedule_create,
    "application.changeStage": application_change_stage,
    "application.change_stage": application_change_stage,  # older clients still call the snake_case aliases
    "application.changeSource": application_change_source,
    "application.change_source": application_change_source,
    "application.update": application_update,
    "application.transfer": application_transfer,
    "offer.setStatus": offer_set_status,
    "webhook.create": webhook_create,
    "webhook.update": webhook_update,
    "webhook.delete": webhook_delete,
    "webhook.info": webhook_info,
    "apiKey.info": api_key_info,
}
